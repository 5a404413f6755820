package quant

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/quant/internal/kernels"
)

func TestFixedMul(t *testing.T) {
	for _, m := range []float64{1, 0.5, 0.3, 1e-5, 3.7, 1234.5, 0.999999} {
		f := kernels.NewFixedMul(m)
		for _, v := range []int64{0, 1, -1, 7, -7, 1000, -12345, 1 << 30, -(1 << 30)} {
			want := float64(v) * m
			got := f.Apply(v)
			if math.Abs(float64(got)-want) > 0.5+1e-9*math.Abs(want) {
				t.Errorf("round(%d * %g) = %d, want about %g", v, m, got, want)
			}
		}
	}
	if kernels.NewFixedMul(0.25).Apply(2) != 1 || kernels.NewFixedMul(0.25).Apply(-2) != -1 || kernels.NewFixedMul(0.25).Apply(1) != 0 {
		t.Error("halves must round away from zero")
	}
}

// TestIntegerMatchesFakeQuant checks that integer-only inference predicts
// what the float32 fake-quantized path predicts, up to rounding.
func TestIntegerMatchesFakeQuant(t *testing.T) {
	for _, tc := range testCases {
		for _, act := range []int{8, 4} {
			t.Run(fmt.Sprintf("%s/a%d", tc.arch, act), func(t *testing.T) {
				// nn's own initialisation (batch norm at identity) keeps the
				// activations of the random network in a sane range.
				g, err := nn.BuildGraph(tc.arch, tc.in, 10)
				if err != nil {
					t.Fatal(err)
				}
				fm, err := nn.NewModel(g, 31)
				if err != nil {
					t.Fatal(err)
				}
				x, y := testData(g, 200, 32)
				m, err := Quantize(context.Background(), FromNN(fm), Options{Method: "rtn", Bits: 4, ActBits: act, Granularity: PerChannel, CalibX: x[:64*g.Input.Size()], CalibLabels: y[:64]})
				if err != nil {
					t.Fatal(err)
				}
				im, err := NewIntegerModel(m)
				if err != nil {
					t.Fatal(err)
				}
				res, err := im.Evaluate(context.Background(), x, y, 2)
				if err != nil {
					t.Fatal(err)
				}
				// Predictions must agree wherever the fake-quantized top two
				// logits are not within rounding of each other.
				logits := engineLogits(t, m, x, y)
				agree, clear, clearAgree := 0, 0, 0
				for i := range y {
					z := logits[i*10 : (i+1)*10]
					best, second := 0, -1
					for k := range z {
						if z[k] > z[best] {
							best = k
						}
					}
					for k := range z {
						if k != best && (second < 0 || z[k] > z[second]) {
							second = k
						}
					}
					lo, hi := z[0], z[0]
					for _, v := range z {
						lo, hi = min(lo, v), max(hi, v)
					}
					ok := best == res.Predictions[i]
					if ok {
						agree++
					}
					if z[best]-z[second] > 0.05*(hi-lo) {
						clear++
						if ok {
							clearAgree++
						}
					}
				}
				fq, err := EvaluateModel(context.Background(), m, x, y, 2)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("agreement %d/%d (%d/%d with a clear margin), loss integer %.5f fake-quant %.5f", agree, len(y), clearAgree, clear, res.Loss, fq.Loss)
				if clearAgree < clear*99/100 || agree < len(y)*97/100 || clear < len(y)/4 {
					t.Errorf("integer and fake-quantized predictions agree on %d of %d samples, %d of %d with a clear margin", agree, len(y), clearAgree, clear)
				}
				if relDiff(res.Loss, fq.Loss) > 0.01 {
					t.Errorf("loss: integer %g, fake-quantized %g", res.Loss, fq.Loss)
				}
			})
		}
	}
	m, _ := testModel(t, "mlp", testCases[0].in, 4, 32, PerTensor, 1)
	if _, err := NewIntegerModel(m); err == nil {
		t.Error("integer model of a float-activation model accepted")
	}
}

// engineLogits returns the fake-quantized path's logits (samples x classes).
func engineLogits(t *testing.T, m *Model, x []float32, y []uint8) []float32 {
	t.Helper()
	ls, w := layersFromModel(m)
	r, err := newRunner(m.Graph, ls, w, 1)
	if err != nil {
		t.Fatal(err)
	}
	last := len(m.Layers) - 1
	k := m.Graph.Classes
	var out []float32
	_, _, err = r.run(context.Background(), x, y, nil, func(wid, li int, v []float32, bc int) {
		if li == last {
			for b := 0; b < bc; b++ {
				for c := 0; c < k; c++ {
					out = append(out, v[c*bc+b])
				}
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
