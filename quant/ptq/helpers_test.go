package ptq

import (
	"context"
	"testing"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/internal/quanttest"
)

// testFloatModel builds a randomly initialised float model with random
// batch-norm statistics (so that folding matters).
func testFloatModel(t testing.TB, arch string, in nn.Shape, seed uint64) *quant.FloatModel {
	t.Helper()
	return quant.FromNN(quanttest.FloatNet(t, arch, in, seed))
}

// testData returns n random normalized samples and labels.
func testData(g nn.Graph, n int, seed uint64) ([]float32, []uint8) {
	return quanttest.Data(g, n, seed)
}

// testModel quantizes a random float model with rtn.
func testModel(t testing.TB, arch string, in nn.Shape, bits, actBits int, gran quant.Granularity, seed uint64) (*quant.Model, *quant.FloatModel) {
	t.Helper()
	f := testFloatModel(t, arch, in, seed)
	x, y := testData(f.Graph, 64, seed+1)
	m, err := Quantize(context.Background(), f, Options{Method: "rtn", Bits: bits, ActBits: actBits, Granularity: gran, CalibX: x, CalibLabels: y})
	if err != nil {
		t.Fatal(err)
	}
	return m, f
}

// relDiff is quanttest.RelDiff.
func relDiff(a, b float64) float64 { return quanttest.RelDiff(a, b) }
