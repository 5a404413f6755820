// Package quanttest builds the random networks and batches that the tests
// of the quant packages share, so that every package tests on the same
// fixtures.
package quanttest

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ccq-project/ccq/nn"
)

// FloatNet builds a randomly initialised network of arch for inputs of shape
// in with 10 classes, whose batch-norm weights, biases and running
// statistics are random too (so that folding them matters).
func FloatNet(t testing.TB, arch string, in nn.Shape, seed uint64) *nn.Model {
	t.Helper()
	g, err := nn.BuildGraph(arch, in, 10)
	if err != nil {
		t.Fatal(err)
	}
	m, err := nn.NewModel(g, seed)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	for _, n := range g.Nodes {
		if n.Op != nn.OpBatchNorm {
			continue
		}
		mean, variance := m.BatchNormStats(n.Name)
		for _, s := range []string{".weight", ".bias", ".running_mean", ".running_var"} {
			var d []float32
			switch s {
			case ".running_mean":
				d = mean
			case ".running_var":
				d = variance
			default:
				p := m.Param(n.Name + s)
				if p == nil {
					t.Fatalf("%s: no parameter %s%s", arch, n.Name, s)
				}
				d = p.Data
			}
			for i := range d {
				switch s {
				case ".weight":
					d[i] = float32(0.5 + rng.Float64())
				case ".running_var":
					d[i] = float32(0.2 + rng.Float64())
				default:
					d[i] = float32(rng.NormFloat64() * 0.2)
				}
			}
		}
	}
	return m
}

// Data returns n random normalized samples (standard normal) for the graph's
// input and n random labels.
func Data(g nn.Graph, n int, seed uint64) ([]float32, []uint8) {
	rng := rand.New(rand.NewPCG(seed, 7))
	x := make([]float32, n*g.Input.Size())
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]uint8, n)
	for i := range y {
		y[i] = uint8(rng.IntN(g.Classes))
	}
	return x, y
}

// Case is one architecture the tests exercise, on a small input shape.
type Case struct {
	Arch string
	In   nn.Shape
}

// Cases are the architectures the tests exercise (small inputs keep them
// fast).
var Cases = []Case{
	{"mlp", nn.Shape{C: 1, H: 12, W: 12}},
	{"lenet5", nn.Shape{C: 1, H: 28, W: 28}},
	{"resnet20", nn.Shape{C: 3, H: 8, W: 8}},
}

// RelDiff is |a-b| relative to the larger magnitude of a and b.
func RelDiff(a, b float64) float64 {
	return math.Abs(a-b) / math.Max(math.Max(math.Abs(a), math.Abs(b)), 1e-12)
}
