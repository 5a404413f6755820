package integer

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/engine"
	"github.com/ccq-project/ccq/quant/internal/deltatest"
	"github.com/ccq-project/ccq/quant/internal/quanttest"
	"github.com/ccq-project/ccq/quant/ptq"
)

// testModel quantizes (rtn) a random float model with random batch-norm
// statistics.
func testModel(t testing.TB, arch string, in nn.Shape, bits, actBits int, gran quant.Granularity, seed uint64) (*quant.Model, *quant.FloatModel) {
	t.Helper()
	f := quant.FromNN(quanttest.FloatNet(t, arch, in, seed))
	x, y := quanttest.Data(f.Graph, 64, seed+1)
	m, err := ptq.Quantize(context.Background(), f, ptq.Options{Method: "rtn", Bits: bits, ActBits: actBits, Granularity: gran, CalibX: x, CalibLabels: y})
	if err != nil {
		t.Fatal(err)
	}
	return m, f
}

// testData returns n random normalized samples and labels.
func testData(g nn.Graph, n int, seed uint64) ([]float32, []uint8) {
	return quanttest.Data(g, n, seed)
}

// relDiff is quanttest.RelDiff.
func relDiff(a, b float64) float64 { return quanttest.RelDiff(a, b) }

// testCases are the shared test architectures.
var testCases = quanttest.Cases

// withDelta returns a copy of m with d applied.
func withDelta(t *testing.T, m *quant.Model, d engine.Delta) *quant.Model {
	t.Helper()
	return deltatest.Apply(t, m, d.Indices, d.Levels)
}

// randomDelta draws k distinct variables of the given layers (all when nil)
// and new levels for them.
func randomDelta(rng *rand.Rand, m *quant.Model, layers []int, k int) engine.Delta {
	idx, lv := deltatest.Random(rng, m, layers, k)
	return engine.Delta{Indices: idx, Levels: lv}
}

func cpuTime() time.Duration { return quanttest.CPUTime() }

func benchChunk() int { return quanttest.BenchChunk() }
