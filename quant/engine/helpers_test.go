package engine

import (
	"github.com/ccq-project/ccq/quant"

	"context"
	"math"
	"slices"
	"testing"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/quant/internal/kernels"
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

// testModel quantizes a random float model (rtnModel).
func testModel(t testing.TB, arch string, in nn.Shape, bits, actBits int, gran quant.Granularity, seed uint64) (*quant.Model, *quant.FloatModel) {
	t.Helper()
	f := testFloatModel(t, arch, in, seed)
	x, y := testData(f.Graph, 64, seed+1)
	return rtnModel(t, f, bits, actBits, gran, x, y), f
}

// rtnModel is the rtn baseline (max |w| scales, levels rounded to nearest,
// activation quantizers calibrated on x), built from quant's own pieces
// as quant/ptq's Quantize builds it (package engine cannot import ptq).
func rtnModel(t testing.TB, f *quant.FloatModel, bits, actBits int, gran quant.Granularity, x []float32, y []uint8) *quant.Model {
	t.Helper()
	if actBits == 0 {
		actBits = quant.FloatActBits
	}
	if gran == "" {
		gran = quant.PerTensor
	}
	fl, err := quant.Fold(f)
	if err != nil {
		t.Fatal(err)
	}
	m := &quant.Model{Graph: f.Graph, Bits: bits, Method: "rtn", Granularity: gran, ActBits: actBits}
	for _, l := range fl {
		ql := quant.Layer{Name: l.Name, Node: l.Node, Shape: slices.Clone(l.Shape), Bias: slices.Clone(l.Bias),
			Levels: make([]int8, len(l.Weight)), Act: quant.ActQuant{Bits: quant.FloatActBits}}
		groups := 1
		if gran == quant.PerChannel {
			groups = l.Shape[0]
		}
		per := len(l.Weight) / groups
		ql.Scales = make([]float32, groups)
		for g := 0; g < groups; g++ {
			w := l.Weight[g*per : (g+1)*per]
			s := quant.MaxScale(w, bits)
			ql.Scales[g] = s
			for j, v := range w {
				ql.Levels[g*per+j] = quant.QuantizeWeight(v, s, bits)
			}
		}
		m.Layers = append(m.Layers, ql)
	}
	if actBits != quant.FloatActBits {
		acts, err := CalibrateActs(context.Background(), f.Graph, fl, ActCalibration{Bits: actBits, X: x, Labels: y})
		if err != nil {
			t.Fatal(err)
		}
		for i := range m.Layers {
			m.Layers[i].Act = acts[i]
		}
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	return m
}

// refForward is an independent, deliberately naive forward pass of a
// quantized model on one sample (NCHW, per-sample loops, float64
// accumulation); it returns the logits.
func refForward(m *quant.Model, x []float32) []float32 {
	g := m.Graph
	vals := make([][]float32, len(g.Nodes))
	vals[0] = x
	layerOf := map[int]*quant.Layer{}
	for i := range m.Layers {
		layerOf[m.Layers[i].Node] = &m.Layers[i]
	}
	for i := 1; i < len(g.Nodes); i++ {
		n := g.Nodes[i]
		in := vals[n.Inputs[0]]
		is := g.Nodes[n.Inputs[0]].OutShape
		os := n.OutShape
		out := make([]float32, os.Size())
		switch n.Op {
		case nn.OpConv, nn.OpLinear:
			l := layerOf[i]
			xq := in
			if m.ActBits != quant.FloatActBits {
				xq = make([]float32, len(in))
				l.Act.QuantizeSlice(xq, in)

			}
			k, s, p := 1, 1, 0
			if n.Op == nn.OpConv {
				k, s, p = n.Kernel, n.Stride, n.Padding
			}
			for o := 0; o < os.C; o++ {
				mult := l.Scale(o)
				if m.ActBits != quant.FloatActBits {
					mult *= l.Act.Scale
				}
				for oy := 0; oy < os.H; oy++ {
					for ox := 0; ox < os.W; ox++ {
						var acc float64
						for c := 0; c < is.C; c++ {
							for ky := 0; ky < k; ky++ {
								for kx := 0; kx < k; kx++ {
									iy, ix := oy*s+ky-p, ox*s+kx-p
									if iy < 0 || iy >= is.H || ix < 0 || ix >= is.W {
										continue
									}
									w := l.Levels[((o*is.C+c)*k+ky)*k+kx]
									acc += float64(w) * float64(xq[(c*is.H+iy)*is.W+ix])
								}
							}
						}
						out[(o*os.H+oy)*os.W+ox] = kernels.Post(float32(acc), mult, l.Bias[o])
					}
				}
			}
		case nn.OpBatchNorm, nn.OpFlatten:
			copy(out, in)
		case nn.OpReLU:
			for j, v := range in {
				out[j] = max(v, 0)
			}
		case nn.OpMaxPool:
			for c := 0; c < os.C; c++ {
				for oy := 0; oy < os.H; oy++ {
					for ox := 0; ox < os.W; ox++ {
						best := float32(math.Inf(-1))
						for ky := 0; ky < n.Kernel; ky++ {
							for kx := 0; kx < n.Kernel; kx++ {
								best = max(best, in[(c*is.H+oy*n.Stride+ky)*is.W+ox*n.Stride+kx])
							}
						}
						out[(c*os.H+oy)*os.W+ox] = best
					}
				}
			}
		case nn.OpGlobalAvgPool:
			for c := 0; c < is.C; c++ {
				var sum float64
				for j := 0; j < is.H*is.W; j++ {
					sum += float64(in[c*is.H*is.W+j])
				}
				out[c] = float32(sum / float64(is.H*is.W))
			}
		case nn.OpPad:
			for c := 0; c < is.C; c++ {
				for y := 0; y < is.H; y++ {
					for xx := 0; xx < is.W; xx++ {
						out[(c*os.H+y+n.Pad)*os.W+xx+n.Pad] = in[(c*is.H+y)*is.W+xx]
					}
				}
			}
		case nn.OpShortcutA:
			for c := 0; c < is.C; c++ {
				for oy := 0; oy < os.H; oy++ {
					for ox := 0; ox < os.W; ox++ {
						out[((c+n.PadChannels)*os.H+oy)*os.W+ox] = in[(c*is.H+oy*n.Stride)*is.W+ox*n.Stride]
					}
				}
			}
		case nn.OpAdd:
			b := vals[n.Inputs[1]]
			for j := range out {
				out[j] = in[j] + b[j]
			}
		}
		vals[i] = out
	}
	return vals[len(g.Nodes)-1]
}

// refScore is the mean cross-entropy and correct count of refForward.
func refScore(m *quant.Model, x []float32, labels []uint8) Score {
	d := m.Graph.Input.Size()
	var loss float64
	correct := 0
	for i, lab := range labels {
		z := refForward(m, x[i*d:(i+1)*d])
		best, arg := z[0], 0
		for k, v := range z {
			if v > best {
				best, arg = v, k
			}
		}
		var s float64
		for _, v := range z {
			s += math.Exp(float64(v - best))
		}
		loss += math.Log(s) - float64(z[lab]-best)
		if arg == int(lab) {
			correct++
		}
	}
	return Score{Loss: loss / float64(len(labels)), Correct: correct}
}

func relDiff(a, b float64) float64 { return quanttest.RelDiff(a, b) }

// testCase is one architecture exercised by the tests (small inputs keep
// them fast).
type testCase struct {
	arch string
	in   nn.Shape
}

var testCases = func() []testCase {
	var cs []testCase
	for _, c := range quanttest.Cases {
		cs = append(cs, testCase{c.Arch, c.In})
	}
	return cs
}()
