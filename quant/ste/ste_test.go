package ste

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/engine"
	"github.com/ccq-project/ccq/quant/internal/quanttest"
	"github.com/ccq-project/ccq/quant/ptq"
)

// separable returns n samples whose label is the argmax of a fixed random
// linear function of the input.
func separable(g nn.Graph, n int, seed uint64) ([]float32, []uint8) {
	rng := rand.New(rand.NewPCG(seed, 1))
	d := g.Input.Size()
	w := make([]float64, d*g.Classes)
	wr := rand.New(rand.NewPCG(99, 99))
	for i := range w {
		w[i] = wr.NormFloat64()
	}
	x := make([]float32, n*d)
	y := make([]uint8, n)
	for i := 0; i < n; i++ {
		best, arg := -1e300, 0
		for j := 0; j < d; j++ {
			x[i*d+j] = float32(rng.NormFloat64())
		}
		for k := 0; k < g.Classes; k++ {
			var s float64
			for j := 0; j < d; j++ {
				s += w[k*d+j] * float64(x[i*d+j])
			}
			if s > best {
				best, arg = s, k
			}
		}
		y[i] = uint8(arg)
	}
	return x, y
}

func TestSTEQATImprovesOnRTN(t *testing.T) {
	ctx := context.Background()
	f := steFloatModel(t, "mlp", nn.Shape{C: 1, H: 8, W: 8}, 4)
	x, y := separable(f.Graph, 512, 1)
	src := &nn.Slice{X: x, Y: y, Shape: f.Graph.Input}
	rtn, err := ptq.Quantize(ctx, f, ptq.Options{Method: "rtn", Bits: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, scheme := range []string{"dorefa", "mse"} {
		steCheck(t, f, src, x, y, rtn, scheme)
	}
	if _, err := QuantizeSTE(ctx, f, src, STEOptions{Bits: 2, Weights: "lsq"}); err == nil {
		t.Error("unknown weight quantizer accepted")
	}
}

func steCheck(t *testing.T, f *quant.FloatModel, src nn.Source, x []float32, y []uint8, rtn *quant.Model, scheme string) {
	ctx := context.Background()
	var losses []float64
	qat, err := QuantizeSTE(ctx, f, src, STEOptions{Bits: 2, Epochs: 3, BatchSize: 64, LR: 0.05, ActBits: 8, CalibX: x[:64*64], CalibLabels: y[:64],
		Weights: scheme, Progress: func(e int, l float64) { losses = append(losses, l) }})
	if err != nil {
		t.Fatal(err)
	}
	if !qat.UsedFPGradients || qat.Method != "ste-qat" || qat.ActBits != 8 {
		t.Errorf("metadata %+v", qat)
	}
	r0, _ := engine.EvaluateModel(ctx, rtn, x, y, 2)
	r1, _ := engine.EvaluateModel(ctx, qat, x, y, 2)
	t.Logf("%s: training loss per epoch %v; rtn %.3f (acc %.2f), ste-qat %.3f (acc %.2f)", scheme, losses, r0.Loss, r0.Accuracy, r1.Loss, r1.Accuracy)
	if !(r1.Loss < r0.Loss) || !(losses[len(losses)-1] < losses[0]) {
		t.Errorf("ste-qat did not learn: rtn loss %g, ste-qat %g, epochs %v", r0.Loss, r1.Loss, losses)
	}
}

func TestWithoutBatchNorm(t *testing.T) {
	g, _ := nn.BuildGraph("resnet20", nn.Shape{C: 3, H: 8, W: 8}, 10)
	g2, err := withoutBatchNorm(g)
	if err != nil {
		t.Fatal(err)
	}
	if len(g2.Nodes) != len(g.Nodes)-19 {
		t.Errorf("%d nodes left of %d (19 batch norms)", len(g2.Nodes), len(g.Nodes))
	}
}

// steFloatModel is a random float model with random batch-norm statistics.
func steFloatModel(t testing.TB, arch string, in nn.Shape, seed uint64) *quant.FloatModel {
	t.Helper()
	return quant.FromNN(quanttest.FloatNet(t, arch, in, seed))
}
