package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// This file holds a naive float64 reference of every operation, written
// independently of ops.go, and the finite-difference helpers the gradient
// tests use.

func refConv(x []float64, n int, in Shape, w, b []float64, oc, k, s, p int) ([]float64, Shape) {
	out := Shape{oc, (in.H+2*p-k)/s + 1, (in.W+2*p-k)/s + 1}
	y := make([]float64, n*out.Size())
	for i := 0; i < n; i++ {
		for o := 0; o < oc; o++ {
			for oy := 0; oy < out.H; oy++ {
				for ox := 0; ox < out.W; ox++ {
					var acc float64
					if b != nil {
						acc = b[o]
					}
					for c := 0; c < in.C; c++ {
						for ky := 0; ky < k; ky++ {
							for kx := 0; kx < k; kx++ {
								iy, ix := oy*s-p+ky, ox*s-p+kx
								if iy < 0 || iy >= in.H || ix < 0 || ix >= in.W {
									continue
								}
								acc += w[((o*in.C+c)*k+ky)*k+kx] * x[((i*in.C+c)*in.H+iy)*in.W+ix]
							}
						}
					}
					y[((i*oc+o)*out.H+oy)*out.W+ox] = acc
				}
			}
		}
	}
	return y, out
}

func refLinear(x []float64, n, in int, w, b []float64, out int) []float64 {
	y := make([]float64, n*out)
	for i := 0; i < n; i++ {
		for o := 0; o < out; o++ {
			var acc float64
			if b != nil {
				acc = b[o]
			}
			for k := 0; k < in; k++ {
				acc += w[o*in+k] * x[i*in+k]
			}
			y[i*out+o] = acc
		}
	}
	return y
}

// refBN normalises with batch statistics (train) or the given running ones.
func refBN(x []float64, n int, sh Shape, g, b, rm, rv []float64, train bool) []float64 {
	y := make([]float64, len(x))
	hw := sh.H * sh.W
	for c := 0; c < sh.C; c++ {
		mu, v := 0.0, 0.0
		if train {
			for i := 0; i < n; i++ {
				for j := 0; j < hw; j++ {
					mu += x[(i*sh.C+c)*hw+j]
				}
			}
			mu /= float64(n * hw)
			for i := 0; i < n; i++ {
				for j := 0; j < hw; j++ {
					d := x[(i*sh.C+c)*hw+j] - mu
					v += d * d
				}
			}
			v /= float64(n * hw)
		} else {
			mu, v = rm[c], rv[c]
		}
		for i := 0; i < n; i++ {
			for j := 0; j < hw; j++ {
				k := (i*sh.C+c)*hw + j
				y[k] = (x[k]-mu)/math.Sqrt(v+bnEps)*g[c] + b[c]
			}
		}
	}
	return y
}

func refReLU(x []float64) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = math.Max(v, 0)
	}
	return y
}

func refMaxPool(x []float64, n int, in Shape, k, s int) ([]float64, Shape) {
	out := Shape{in.C, (in.H-k)/s + 1, (in.W-k)/s + 1}
	y := make([]float64, n*out.Size())
	for i := 0; i < n; i++ {
		for c := 0; c < in.C; c++ {
			for oy := 0; oy < out.H; oy++ {
				for ox := 0; ox < out.W; ox++ {
					m := math.Inf(-1)
					for ky := 0; ky < k; ky++ {
						for kx := 0; kx < k; kx++ {
							m = math.Max(m, x[((i*in.C+c)*in.H+oy*s+ky)*in.W+ox*s+kx])
						}
					}
					y[((i*in.C+c)*out.H+oy)*out.W+ox] = m
				}
			}
		}
	}
	return y, out
}

func refAvgPool(x []float64, n int, in Shape) []float64 {
	y := make([]float64, n*in.C)
	hw := in.H * in.W
	for i := 0; i < n*in.C; i++ {
		for j := 0; j < hw; j++ {
			y[i] += x[i*hw+j] / float64(hw)
		}
	}
	return y
}

func refPad(x []float64, n int, in Shape, p int) ([]float64, Shape) {
	out := Shape{in.C, in.H + 2*p, in.W + 2*p}
	y := make([]float64, n*out.Size())
	for i := 0; i < n*in.C; i++ {
		for r := 0; r < in.H; r++ {
			for c := 0; c < in.W; c++ {
				y[(i*out.H+r+p)*out.W+c+p] = x[(i*in.H+r)*in.W+c]
			}
		}
	}
	return y, out
}

func refShortcutA(x []float64, n int, in Shape, s, pc int) ([]float64, Shape) {
	out := Shape{in.C + 2*pc, (in.H + s - 1) / s, (in.W + s - 1) / s}
	y := make([]float64, n*out.Size())
	for i := 0; i < n; i++ {
		for c := 0; c < in.C; c++ {
			for oy := 0; oy < out.H; oy++ {
				for ox := 0; ox < out.W; ox++ {
					y[((i*out.C+c+pc)*out.H+oy)*out.W+ox] = x[((i*in.C+c)*in.H+oy*s)*in.W+ox*s]
				}
			}
		}
	}
	return y, out
}

func refCE(logits []float64, labels []uint8, n, classes int) float64 {
	var total float64
	for r := 0; r < n; r++ {
		row := logits[r*classes : (r+1)*classes]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, v)
		}
		var s float64
		for _, v := range row {
			s += math.Exp(v - mx)
		}
		total += mx + math.Log(s) - row[labels[r]]
	}
	return total / float64(n)
}

// refGraph runs graph g in float64 with the model's parameters (pars maps
// state_dict names to float64 copies) and batch norm in train or eval mode.
func refGraph(g *Graph, pars map[string][]float64, x []float64, n int, train bool) []float64 {
	acts := make([][]float64, len(g.Nodes))
	acts[0] = x
	for i := 1; i < len(g.Nodes); i++ {
		nd := &g.Nodes[i]
		xin := acts[nd.Inputs[0]]
		in := g.Nodes[nd.Inputs[0]].OutShape
		switch nd.Op {
		case OpConv:
			acts[i], _ = refConv(xin, n, in, pars[nd.Name+".weight"], pars[nd.Name+".bias"], nd.Out, nd.Kernel, nd.Stride, nd.Padding)
		case OpLinear:
			acts[i] = refLinear(xin, n, nd.In, pars[nd.Name+".weight"], pars[nd.Name+".bias"], nd.Out)
		case OpBatchNorm:
			acts[i] = refBN(xin, n, in, pars[nd.Name+".weight"], pars[nd.Name+".bias"], pars[nd.Name+".running_mean"], pars[nd.Name+".running_var"], train)
		case OpReLU:
			acts[i] = refReLU(xin)
		case OpMaxPool:
			acts[i], _ = refMaxPool(xin, n, in, nd.Kernel, nd.Stride)
		case OpGlobalAvgPool:
			acts[i] = refAvgPool(xin, n, in)
		case OpFlatten:
			acts[i] = xin
		case OpPad:
			acts[i], _ = refPad(xin, n, in, nd.Pad)
		case OpShortcutA:
			acts[i], _ = refShortcutA(xin, n, in, nd.Stride, nd.PadChannels)
		case OpAdd:
			b := acts[nd.Inputs[1]]
			y := make([]float64, len(xin))
			for k := range y {
				y[k] = xin[k] + b[k]
			}
			acts[i] = y
		case OpFakeQuant:
			acts[i] = refSTE.apply(i, nd.Quant, xin)
		default:
			panic("refGraph: unknown op " + string(nd.Op))
		}
	}
	return acts[len(acts)-1]
}

// numGrad returns the central finite-difference gradient of f with respect
// to every element of v (which f reads), with step h.
func numGrad(f func() float64, v []float64, h float64) []float64 {
	g := make([]float64, len(v))
	for i := range v {
		old := v[i]
		v[i] = old + h
		fp := f()
		v[i] = old - h
		fm := f()
		v[i] = old
		g[i] = (fp - fm) / (2 * h)
	}
	return g
}

func dot64(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func randVec(rng *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64() * scale
	}
	return v
}

func to32(v []float64) []float32 {
	r := make([]float32, len(v))
	for i, x := range v {
		r[i] = float32(x)
	}
	return r
}

func to64(v []float32) []float64 {
	r := make([]float64, len(v))
	for i, x := range v {
		r[i] = float64(x)
	}
	return r
}

// round32 rounds every value to float32 precision so the reference and the
// engine see identical inputs.
func round32(v []float64) []float64 { return to64(to32(v)) }

// assertClose fails when got and want differ by more than atol + rtol*|want|
// anywhere, reporting the first few offenders.
func assertClose(t *testing.T, what string, got []float32, want []float64, rtol, atol float64) {
	t.Helper()
	if len(got) < len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	bad := 0
	for i, w := range want {
		g := float64(got[i])
		if math.Abs(g-w) > atol+rtol*math.Abs(w) || math.IsNaN(g) {
			if bad < 5 {
				t.Errorf("%s[%d] = %.7g, want %.7g", what, i, g, w)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values differ", what, bad, len(want))
	}
}
