// Package integer runs k-bit models integer-only (int8 weights, byte
// activations, int32 accumulators, fixed-point rescaling; no float32 between
// the input and the logits): IntegerBatch, the fast batched path on the
// int8 kernels; IntegerModel, the per-sample reference it is tested
// against; and CheckInteger, which compares their predictions with the
// float32 fake-quantized path's. See quant/README.md, "Integer-only
// inference".
package integer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/internal/kernels"
)

// Integer-only inference (Jacob et al. 2018, as in TFLite and gemmlowp):
// k-bit weight levels times activation levels accumulated in int32, int32
// biases, and every change of scale done by a fixed-point multiplier
// (an int32 mantissa and a shift, rounding to nearest). Every tensor is an
// integer array with a real scale per channel (real value = scale *
// integer), known at compile time:
//
//   - a layer's output is its int32 accumulator shifted left by f fraction
//     bits plus the int32 bias round(bias * 2^f / (weight scale * input
//     scale)), with scale weight scale * input scale / 2^f per output
//     channel; f (0..16) is the largest that keeps the worst-case
//     accumulator times 2^f inside int32;
//   - ReLU, max pooling, zero padding, flattening and the option-A shortcut
//     act on the integers and keep the scales (ReLU and max commute with a
//     positive scale);
//   - global average pooling sums (the scale is divided by H*W);
//   - a sum of two tensors rescales both to the finer of their scales;
//   - a layer's input quantizer rescales its input to the activation scale
//     and clamps to the activation range.
//
// Only the network input (float, normalized) is quantized with a float
// multiply, and only the logits are turned back into floats (scale *
// integer) for the loss; predictions are their argmax. This differs from
// the float32 fake-quantized path only by rounding: bias rounding (to
// 2^-frac of a weight-times-activation scale), the multipliers' 31-bit
// mantissas and their rounding (half away from zero instead of half to
// even), and the residual sums' rescaling to the finer scale, against
// float32's rounding of every product and sum. (The shortcut carries the
// block input's int64 value, not its activation levels, as the
// fake-quantized path carries the float one.) The fixed-point products
// are exact: 128 bits wide where int64 would wrap (a global average
// pooling's sums reach 2^33 and more; see kernels.FixedMul).

// itensor is an integer tensor of one sample with per-channel scales.
type itensor struct {
	v     []int64
	shape nn.Shape
	scale []float64 // per channel (C entries)
}

// intLayer is a compiled quantized layer.
type intLayer struct {
	l      *quant.Layer
	node   nn.Node
	inS    nn.Shape
	bias   []int64   // int32 biases in units of the output scale
	scale  []float64 // output scale per channel: weight scale * activation scale / 2^frac
	frac   int       // fraction bits: output = acc << frac + bias (still within int32)
	lo, hi int64     // activation range
}

// IntegerModel runs a quantized model with integer arithmetic only (see
// above). It needs quantized activations (ActBits 1..8).
type IntegerModel struct {
	m      *quant.Model
	layers map[int]*intLayer
}

// NewIntegerModel compiles a model for integer-only inference.
func NewIntegerModel(m *quant.Model) (*IntegerModel, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("integer model: %w", err)
	}
	if m.ActBits == quant.FloatActBits {
		return nil, errors.New("integer model: the model has float activations (act_bits 32): integer-only inference needs quantized activations")
	}
	im := &IntegerModel{m: m, layers: map[int]*intLayer{}}
	for i := range m.Layers {
		l := &m.Layers[i]
		node := m.Graph.Nodes[l.Node]
		il := &intLayer{l: l, node: node, inS: m.Graph.Nodes[node.Inputs[0]].OutShape}
		lo, hi := l.Act.Levels()
		il.lo, il.hi = int64(lo), int64(hi)
		// The largest accumulator magnitude bounds the fraction bits that
		// keep acc << frac inside int32.
		per := len(l.Levels) / l.Out()
		maxL, _ := quant.LevelRange(m.Bits)
		maxAcc := float64(per) * math.Abs(float64(maxL)) * math.Max(math.Abs(float64(lo)), math.Abs(float64(hi)))
		for il.frac < 16 && maxAcc*math.Ldexp(1, il.frac+1) < (1<<31)/2 {
			il.frac++
		}
		for o := 0; o < l.Out(); o++ {
			s := float64(l.Scale(o)) * float64(l.Act.Scale) / math.Ldexp(1, il.frac)
			il.scale = append(il.scale, s)
			b := math.Round(float64(l.Bias[o]) / s)
			if math.Abs(b) > math.MaxInt32 {
				return nil, fmt.Errorf("integer model: layer %q: bias %d does not fit in int32 at scale %g", l.Name, o, s)
			}
			il.bias = append(il.bias, int64(b))
		}
		im.layers[l.Node] = il
	}
	return im, nil
}

// requant rescales t to scale s per channel and clamps to [lo, hi].
func requant(t *itensor, s float64, lo, hi int64, dst []int64) {
	per := t.shape.H * t.shape.W
	for c := 0; c < t.shape.C; c++ {
		f := kernels.NewFixedMul(t.scale[c] / s)
		for j := c * per; j < (c+1)*per; j++ {
			dst[j] = min(max(f.Apply(t.v[j]), lo), hi)
		}
	}
}

// forward runs one sample (normalized, CHW) and returns the logits.
func (im *IntegerModel) forward(x []float32) []float64 { return im.forwardTrace(x, nil) }

// forwardTrace is forward calling seen, when not nil, with every node's
// integer value (nil for the float input's padding and flattening).
func (im *IntegerModel) forwardTrace(x []float32, seen func(node int, t *itensor)) []float64 {
	g := im.m.Graph
	vals := make([]*itensor, len(g.Nodes))
	// The network input stays float until its first consumer quantizes it.
	var input []float32 = x
	for i := 1; i < len(g.Nodes); i++ {
		n := g.Nodes[i]
		os := n.OutShape
		out := &itensor{shape: os, v: make([]int64, os.Size())}
		var in *itensor
		if n.Inputs[0] != 0 {
			in = vals[n.Inputs[0]]
		}
		if in == nil && n.Op != nn.OpConv && n.Op != nn.OpLinear && n.Op != nn.OpPad && n.Op != nn.OpFlatten {
			panic(fmt.Sprintf("quant: integer path: node %q on the float input", n.Name))
		}
		switch n.Op {
		case nn.OpConv, nn.OpLinear:
			il := im.layers[i]
			l := il.l
			is := il.inS
			q := make([]int64, is.Size())
			if in == nil {
				xq := make([]float32, len(input))
				l.Act.QuantizeSlice(xq, input)
				for j, v := range xq {
					q[j] = int64(v)
				}
			} else {
				flat := *in
				flat.shape = is
				if len(in.scale) != is.C { // flattened input: one scale per feature
					flat.scale = expandScale(in, is)
				}
				requant(&flat, float64(l.Act.Scale), il.lo, il.hi, q)
			}

			k, s, p := 1, 1, 0
			if n.Op == nn.OpConv {
				k, s, p = n.Kernel, n.Stride, n.Padding
			}
			for o := 0; o < os.C; o++ {
				for oy := 0; oy < os.H; oy++ {
					for ox := 0; ox < os.W; ox++ {
						var acc int32
						for c := 0; c < is.C; c++ {
							for ky := 0; ky < k; ky++ {
								iy := oy*s + ky - p
								if iy < 0 || iy >= is.H {
									continue
								}
								for kx := 0; kx < k; kx++ {
									ix := ox*s + kx - p
									if ix < 0 || ix >= is.W {
										continue
									}
									acc += int32(l.Levels[((o*is.C+c)*k+ky)*k+kx]) * int32(q[(c*is.H+iy)*is.W+ix])
								}
							}
						}
						out.v[(o*os.H+oy)*os.W+ox] = int64(acc<<il.frac) + il.bias[o]
					}
				}
			}
			out.scale = il.scale
		case nn.OpBatchNorm:
			out = in
		case nn.OpFlatten:
			if in == nil {
				vals[i] = nil
				continue
			}
			out = &itensor{v: in.v, shape: os, scale: expandScale(in, os)}
		case nn.OpPad:
			if in == nil {
				is := g.Nodes[n.Inputs[0]].OutShape
				padded := make([]float32, os.Size())
				for c := 0; c < is.C; c++ {
					for y := 0; y < is.H; y++ {
						copy(padded[(c*os.H+y+n.Pad)*os.W+n.Pad:], input[(c*is.H+y)*is.W:(c*is.H+y+1)*is.W])
					}
				}
				input = padded
				vals[i] = nil
				continue
			}
			is := in.shape
			for c := 0; c < is.C; c++ {
				for y := 0; y < is.H; y++ {
					copy(out.v[(c*os.H+y+n.Pad)*os.W+n.Pad:], in.v[(c*is.H+y)*is.W:(c*is.H+y+1)*is.W])
				}
			}
			out.scale = in.scale
		case nn.OpReLU:
			for j, v := range in.v {
				out.v[j] = max(v, 0)
			}
			out.scale = in.scale
		case nn.OpMaxPool:
			is := in.shape
			for c := 0; c < os.C; c++ {
				for oy := 0; oy < os.H; oy++ {
					for ox := 0; ox < os.W; ox++ {
						best := int64(math.MinInt64)
						for ky := 0; ky < n.Kernel; ky++ {
							for kx := 0; kx < n.Kernel; kx++ {
								best = max(best, in.v[(c*is.H+oy*n.Stride+ky)*is.W+ox*n.Stride+kx])
							}
						}
						out.v[(c*os.H+oy)*os.W+ox] = best
					}
				}
			}
			out.scale = in.scale
		case nn.OpGlobalAvgPool:
			is := in.shape
			hw := is.H * is.W
			out.scale = make([]float64, is.C)
			for c := 0; c < is.C; c++ {
				var s int64
				for _, v := range in.v[c*hw : (c+1)*hw] {
					s += v
				}
				out.v[c] = s
				out.scale[c] = in.scale[c] / float64(hw)
			}
		case nn.OpShortcutA:
			is := in.shape
			out.scale = make([]float64, os.C)
			for c := range out.scale {
				out.scale[c] = 1
			}
			for c := 0; c < is.C; c++ {
				out.scale[c+n.PadChannels] = in.scale[c]
				for oy := 0; oy < os.H; oy++ {
					for ox := 0; ox < os.W; ox++ {
						out.v[((c+n.PadChannels)*os.H+oy)*os.W+ox] = in.v[(c*is.H+oy*n.Stride)*is.W+ox*n.Stride]
					}
				}
			}
		case nn.OpAdd:
			// Both terms are rescaled to the finer of their two scales.
			b := vals[n.Inputs[1]]
			per := os.H * os.W
			out.scale = make([]float64, os.C)
			for c := 0; c < os.C; c++ {
				s := min(in.scale[c], b.scale[c])
				out.scale[c] = s
				fa, fb := kernels.NewFixedMul(in.scale[c]/s), kernels.NewFixedMul(b.scale[c]/s)
				for j := c * per; j < (c+1)*per; j++ {
					out.v[j] = fa.Apply(in.v[j]) + fb.Apply(b.v[j])
				}
			}
		default:
			panic(fmt.Sprintf("quant: integer path: unsupported op %q", n.Op))
		}
		vals[i] = out
		if seen != nil {
			seen(i, out)
		}
	}
	last := vals[len(g.Nodes)-1]
	logits := make([]float64, g.Classes)
	for k := range logits {
		logits[k] = float64(last.v[k]) * last.scale[k]
	}
	return logits
}

// expandScale gives every element of a flattened tensor its channel's
// scale.
func expandScale(t *itensor, flat nn.Shape) []float64 {
	if len(t.scale) == flat.C {
		return t.scale
	}
	per := t.shape.H * t.shape.W
	s := make([]float64, flat.C)
	for j := range s {
		s[j] = t.scale[j/per]
	}
	return s
}

// IntegerResult is the integer-only evaluation of a set of samples.
type IntegerResult struct {
	N        int     `json:"n"`
	Correct  int     `json:"correct"`
	Accuracy float64 `json:"accuracy"`
	Loss     float64 `json:"loss"`
	// Predictions[i] is the predicted class of sample i.
	Predictions []int `json:"-"`
}

// Evaluate runs the integer-only path on samples (NCHW float32, normalized)
// on workers goroutines (0: GOMAXPROCS).
func (im *IntegerModel) Evaluate(ctx context.Context, x []float32, labels []uint8, workers int) (*IntegerResult, error) {
	g := im.m.Graph
	d := g.Input.Size()
	if len(x) != len(labels)*d {
		return nil, fmt.Errorf("integer evaluation: %d values for %d samples, expected %d per sample", len(x), len(labels), d)
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	res := &IntegerResult{N: len(labels), Predictions: make([]int, len(labels))}
	losses := make([]float64, len(labels))
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(labels) || ctx.Err() != nil {
					return
				}
				res.Predictions[i], losses[i] = softmaxLoss(im.forward(x[i*d:(i+1)*d]), labels[i])
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("integer evaluation: %w", err)
	}
	for i, l := range losses {
		res.Loss += l
		if res.Predictions[i] == int(labels[i]) {
			res.Correct++
		}
	}
	res.Loss /= float64(len(labels))
	res.Accuracy = float64(res.Correct) / float64(len(labels))
	return res, nil
}
