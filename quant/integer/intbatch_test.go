package integer

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/engine"
)

// TestIntegerBatchMatchesReference checks that batched integer-only
// inference gives, bit for bit, the logits of the per-sample reference
// (IntegerModel), hence the same predictions and loss, for mlp, lenet5 and
// resnet20 (16x16 inputs) at 8 and 4 activation bits, with random levels
// and inputs, over several chunks (the last one partial; the default chunk
// size and a small one) and two workers.
// Under purego the micro-kernel's twin runs.
func TestIntegerBatchMatchesReference(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		arch  string
		in    nn.Shape
		n     int
		chunk int
	}{
		{"mlp", nn.Shape{C: 1, H: 12, W: 12}, 2*intChunk + 7, intChunk},
		{"lenet5", nn.Shape{C: 1, H: 28, W: 28}, 2*intChunk + 7, intChunk},
		{"resnet20", nn.Shape{C: 3, H: 16, W: 16}, 21, 8},
	}
	for _, tc := range cases {
		for _, act := range []int{8, 4} {
			t.Run(fmt.Sprintf("%s/a%d", tc.arch, act), func(t *testing.T) {
				m, _ := testModel(t, tc.arch, tc.in, 4, act, quant.PerChannel, 31)
				rng := rand.New(rand.NewPCG(9, uint64(act)))
				m = withDelta(t, m, randomDelta(rng, m, nil, m.NumVars()/3))
				x, y := testData(m.Graph, tc.n, 33)
				im, err := NewIntegerModel(m)
				if err != nil {
					t.Fatal(err)
				}
				b, err := NewIntegerBatch(m)
				if err != nil {
					t.Fatal(err)
				}
				b.chunk = tc.chunk
				bytesNodes := 0
				for _, k := range b.kind {
					if k == kindByte {
						bytesNodes++
					}
				}
				if bytesNodes == 0 && tc.arch != "mlp" {
					t.Error("no layer output is kept as bytes")
				}
				fused := 0
				for _, r := range b.relu {
					if r {
						fused++
					}
				}
				if tc.arch == "resnet20" && fused < 10 { // 9 sums and the first layer
					t.Errorf("%d ReLUs fused into a layer or a sum, want at least 10", fused)
				}
				z, err := b.Logits(ctx, x, 2)
				if err != nil {
					t.Fatal(err)
				}
				d, k := m.Graph.Input.Size(), m.Graph.Classes
				for i := range y {
					ref := im.forward(x[i*d : (i+1)*d])
					for c := range ref {
						if math.Float64bits(ref[c]) != math.Float64bits(z[i*k+c]) {
							t.Fatalf("sample %d logit %d: %v, reference %v", i, c, z[i*k+c], ref[c])
						}
					}
				}
				got, err := b.Evaluate(ctx, x, y, 2)
				if err != nil {
					t.Fatal(err)
				}
				want, err := im.Evaluate(ctx, x, y, 2)
				if err != nil {
					t.Fatal(err)
				}
				if got.Correct != want.Correct || got.Loss != want.Loss {
					t.Errorf("correct %d loss %v, reference %d %v", got.Correct, got.Loss, want.Correct, want.Loss)
				}
				for i := range y {
					if got.Predictions[i] != want.Predictions[i] {
						t.Fatalf("sample %d: prediction %d, reference %d", i, got.Predictions[i], want.Predictions[i])
					}
				}
			})
		}
	}
}

// TestIntegerBatchNotRepresentable checks that models integer-only
// inference cannot represent are refused with a reason, not run (the
// model format itself stops activation levels beyond a byte: at most 8
// bits, and weights beyond int8).
func TestIntegerBatchNotRepresentable(t *testing.T) {
	in := nn.Shape{C: 1, H: 12, W: 12}
	m, _ := testModel(t, "mlp", in, 4, 32, quant.PerTensor, 1)
	_, err := NewIntegerBatch(m)
	if why, ok := IsNotRepresentable(err); !ok || why == "" {
		t.Errorf("float activations: error %v, want not representable", err)
	}
	m, _ = testModel(t, "mlp", in, 4, 8, quant.PerTensor, 1)
	m.ActBits = 9
	for i := range m.Layers {
		m.Layers[i].Act.Bits = 9
	}
	_, err = NewIntegerBatch(m)
	if why, ok := IsNotRepresentable(err); !ok || !strings.Contains(why, "activation bits 9") {
		t.Errorf("9-bit activations: error %v, want not representable, naming the bits", err)
	}
}

// TestCheckInteger checks the evaluate stage's comparison: the
// fake-quantized predictions score what EvaluateModel scores, the integer
// figures are IntegerModel's, predictions all agree, and a model with
// float activations is reported as not representable.
func TestCheckInteger(t *testing.T) {
	ctx := context.Background()
	m, _ := testModel(t, "lenet5", nn.Shape{C: 1, H: 28, W: 28}, 4, 8, quant.PerChannel, 5)
	x, y := testData(m.Graph, 150, 3)
	c, err := CheckInteger(ctx, m, x, y, 2)
	if err != nil {
		t.Fatal(err)
	}
	fq, err := engine.FakeQuantPredictions(ctx, m, x, y, 2)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := engine.EvaluateModel(ctx, m, x, y, 2)
	if err != nil {
		t.Fatal(err)
	}
	correct := 0
	for i, p := range fq {
		if p == int(y[i]) {
			correct++
		}
	}
	if correct != rep.Correct {
		t.Errorf("fake-quantized predictions: %d correct, EvaluateModel %d", correct, rep.Correct)
	}
	im, err := NewIntegerModel(m)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := im.Evaluate(ctx, x, y, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Representable || c.N != 150 || c.Correct != ref.Correct || c.Loss != ref.Loss || c.Agree != c.N {
		t.Errorf("check %+v, reference correct %d loss %v", c, ref.Correct, ref.Loss)
	}
	mf, _ := testModel(t, "lenet5", nn.Shape{C: 1, H: 28, W: 28}, 4, 32, quant.PerChannel, 5)
	c, err = CheckInteger(ctx, mf, x, y, 2)
	if err != nil || c.Representable || !strings.Contains(c.String(), "not representable") {
		t.Errorf("float activations: check %v, error %v", c, err)
	}
}
