// Package integer runs k-bit models integer-only (int8 weights, byte
// activations, int32 accumulators, every other value an integer on a
// power-of-two grid; no float arithmetic between the input quantizer and
// the logits, which are exactly the float32 fake-quantized path's):
// IntegerBatch, the fast batched path on the
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

// Integer-only inference: k-bit weight levels times activation levels
// accumulated in int32, and every other value an integer on a grid: an
// int64 v per element with a power of two 2^e per channel (value = v *
// 2^e), known at compile time. The values are exactly those of the float32
// fake-quantized path (the definition), computed with integer operations:
// every float32 is an integer times a power of two, and each float32
// addition or multiplication of the fake-quantized path is an exact
// integer sum or product followed by rounding to 24 significant bits,
// halves to even (kernels.RoundF32). So:
//
//   - a layer's output is float32(float32(float32(acc) * mult) + bias) with
//     mult = float32(weight scale * activation scale), on the grid of the
//     finer of mult's and the bias's last mantissa bits (per channel);
//   - ReLU, max pooling, zero padding, flattening and the option-A shortcut
//     act on the integers and keep the grids;
//   - a residual sum aligns both terms to the finer grid (a left shift) and
//     rounds the sum as float32 does;
//   - global average pooling sums in the float32 path's order, rounding
//     after each addition; its division (the float32 multiplication by
//     float32(1/(H*W))) is left to the consumers (post);
//   - a layer's input quantizer is a monotone function of the integer
//     input, so it is a list of thresholds per grid (kernels.Thresholds),
//     computed at compile time from the float32 quantizer, and a level is a
//     count of thresholds.
//
// Only the network input (float, normalized) is quantized with the float32
// quantizer, and only the logits are turned back into floats (their values
// are float32 numbers, exactly the fake-quantized path's), so the
// predictions equal the fake-quantized path's. NewIntegerModel refuses a
// model whose grids would need more than 62 bits (a bias far finer than
// its layer's products, say).

// itensor is an integer tensor of one sample with per-channel grids.
type itensor struct {
	v     []int64
	shape nn.Shape
	scale []float64 // per channel (C entries): 2^e
}

// intLayer is a compiled quantized layer.
type intLayer struct {
	l    *quant.Layer
	node nn.Node
	inS  nn.Shape
	// out is each output channel's epilogue: the accumulator times
	// float32(weight scale * activation scale), plus the float32 bias, on
	// the output grid 2^out[o].Exp (no clamp).
	out    []kernels.GridAffine
	scale  []float64 // 2^out[o].Exp
	accMax int64     // largest |accumulator|
	bound  []float64 // bound of |output| on its grid, per channel
	lo, hi int64     // activation range
}

// y returns output channel o's value for accumulator acc, on its grid.
func (il *intLayer) y(o int, acc int64) int64 { return il.out[o].At(acc) }

// gridLimit bounds the magnitude of every grid integer (|v| <= gridLimit
// keeps sums of two inside int64).
const gridLimit = 1 << 61

// roundUp covers the float32 roundings (each at most 2^-24 relative, up to
// three in a row) and float64's in the bounds' own arithmetic.
const roundUp = 1 + 1.0/(1<<20)

// IntegerModel runs a quantized model with integer arithmetic only (see
// above). It needs quantized activations (ActBits 1..8).
type IntegerModel struct {
	m      *quant.Model
	layers map[int]*intLayer
	// Per node: the grid (2^e per channel, per feature once flattened),
	// the bound of |v| per channel, and post, the float32 multiplier a
	// global average pooling leaves to its consumers (1: none).
	scale [][]float64
	bound [][]float64
	post  []float32
	// thr caches the input thresholds of each layer by grid exponent.
	thrMu sync.Mutex
	thr   map[thrKey][]int64
}

type thrKey struct {
	q    quant.ActQuant
	exp  int
	post float32
}

// NewIntegerModel compiles a model for integer-only inference.
func NewIntegerModel(m *quant.Model) (*IntegerModel, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("integer model: %w", err)
	}
	if m.ActBits == quant.FloatActBits {
		return nil, errors.New("integer model: the model has float activations (act_bits 32): integer-only inference needs quantized activations")
	}
	im := &IntegerModel{m: m, layers: map[int]*intLayer{}, thr: map[thrKey][]int64{}}
	for i := range m.Layers {
		l := &m.Layers[i]
		node := m.Graph.Nodes[l.Node]
		il := &intLayer{l: l, node: node, inS: m.Graph.Nodes[node.Inputs[0]].OutShape}
		lo, hi := l.Act.Levels()
		il.lo, il.hi = int64(lo), int64(hi)
		per := len(l.Levels) / l.Out()
		for o := 0; o < l.Out(); o++ {
			var s int64
			for _, v := range l.Levels[o*per : (o+1)*per] {
				s += int64(math.Abs(float64(v)))
			}
			il.accMax = max(il.accMax, s*max(-il.lo, il.hi))
		}
		for o := 0; o < l.Out(); o++ {
			g := kernels.NewF32Grid(l.Scale(o) * l.Act.Scale)
			b, eb := kernels.F32Parts(l.Bias[o])
			if g.M == 0 { // a zero multiplier: the output is the bias
				g.E = eb
			}
			e := g.E
			if b != 0 {
				e = min(e, eb)
			}
			bound := roundUp * (float64(il.accMax)*float64(g.M)*math.Ldexp(1, g.E-e) + math.Abs(float64(b))*math.Ldexp(1, eb-e))
			if !(bound < gridLimit) || g.M < 0 {
				return nil, fmt.Errorf("integer model: layer %q: output channel %d (multiplier %g, bias %g) needs more than 62 bits on its grid 2^%d", l.Name, o, l.Scale(o)*l.Act.Scale, l.Bias[o], e)
			}
			il.bound = append(il.bound, bound)
			il.scale = append(il.scale, math.Ldexp(1, e))
			if b != 0 {
				b <<= eb - e
			}
			il.out = append(il.out, kernels.GridAffine{Mul: g, Shift: uint(g.E - e), Bias: b, Exp: e, Floor: math.MinInt64})
		}
		im.layers[l.Node] = il
	}
	if err := im.compileGrids(); err != nil {
		return nil, err
	}
	return im, nil
}

// compileGrids computes every node's grid, bound and post multiplier.
func (im *IntegerModel) compileGrids() error {
	nodes := im.m.Graph.Nodes
	im.scale = make([][]float64, len(nodes))
	im.bound = make([][]float64, len(nodes))
	im.post = make([]float32, len(nodes))
	im.post[0] = 1
	for i := 1; i < len(nodes); i++ {
		n := nodes[i]
		src := n.Inputs[0]
		in, inB := im.scale[src], im.bound[src]
		im.post[i] = 1
		if n.Op != nn.OpConv && n.Op != nn.OpLinear {
			im.post[i] = im.post[src]
		}
		switch n.Op {
		case nn.OpConv, nn.OpLinear:
			il := im.layers[i]
			im.scale[i], im.bound[i] = il.scale, il.bound
		case nn.OpBatchNorm, nn.OpPad, nn.OpReLU, nn.OpMaxPool:
			im.scale[i], im.bound[i] = in, inB
		case nn.OpFlatten:
			if in == nil {
				continue
			}
			is := nodes[src].OutShape
			im.scale[i] = expandScale(&itensor{shape: is, scale: in}, n.OutShape)
			im.bound[i] = expandScale(&itensor{shape: is, scale: inB}, n.OutShape)
		case nn.OpGlobalAvgPool:
			if im.post[src] != 1 {
				return fmt.Errorf("integer model: node %q: global average pooling of a global average pooling", n.Name)
			}
			hw := nodes[src].OutShape.H * nodes[src].OutShape.W
			im.scale[i] = in
			im.bound[i] = make([]float64, len(inB))
			for c := range inB {
				im.bound[i][c] = inB[c] * float64(hw) * (1 + float64(hw)/(1<<22)) // hw roundings
				if !(im.bound[i][c] < gridLimit) {
					return fmt.Errorf("integer model: node %q: channel %d's sum needs more than 62 bits on its grid %g", n.Name, c, in[c])
				}
			}
			im.post[i] = 1 / float32(hw)
		case nn.OpShortcutA:
			s := make([]float64, n.OutShape.C)
			b := make([]float64, n.OutShape.C)
			for c := range s {
				s[c] = 1
			}
			copy(s[n.PadChannels:], in[:nodes[src].OutShape.C])
			copy(b[n.PadChannels:], inB[:nodes[src].OutShape.C])
			im.scale[i], im.bound[i] = s, b
		case nn.OpAdd:
			o := n.Inputs[1]
			if im.post[src] != 1 || im.post[o] != 1 {
				return fmt.Errorf("integer model: node %q: a sum of a global average pooling", n.Name)
			}
			s := make([]float64, n.OutShape.C)
			b := make([]float64, n.OutShape.C)
			for c := range s {
				s[c] = min(in[c], im.scale[o][c])
				b[c] = roundUp * (inB[c]*in[c] + im.bound[o][c]*im.scale[o][c]) / s[c]
				if !(b[c] < gridLimit) {
					return fmt.Errorf("integer model: node %q: channel %d needs more than 62 bits on its grid %g", n.Name, c, s[c])
				}
			}
			im.scale[i], im.bound[i] = s, b
		default:
			return fmt.Errorf("integer model: node %q: unsupported operation %q", n.Name, n.Op)
		}
	}
	return nil
}

// thresholds returns the thresholds of activation quantizer a on the grid
// 2^exp with post multiplier post: a value v on the grid has level lo +
// kernels.CountLE(thresholds, v), exactly the float32 quantizer's level of
// its float32 value.
func (im *IntegerModel) thresholds(a quant.ActQuant, exp int, post float32) []int64 {
	k := thrKey{q: a, exp: exp, post: post}
	im.thrMu.Lock()
	defer im.thrMu.Unlock()
	if t, ok := im.thr[k]; ok {
		return t
	}
	lo, hi := a.Levels()
	inv := 1 / a.Scale
	level := func(v int64) int64 {
		x := float32(math.Ldexp(float64(v), exp))
		if post != 1 {
			x *= post
		}
		if a.Signed && a.Bits <= 1 { // as QuantizeSlice
			if x >= 0 {
				return 1
			}
			return -1
		}
		return int64(kernels.QuantLevelF32(x, inv, lo, hi))
	}
	t := kernels.Thresholds(level, int64(lo), int64(hi), -gridLimit, gridLimit)
	im.thr[k] = t
	return t
}

// requant writes the levels of layer node i's input quantizer of t (its
// grids t.scale, post multiplier post) to dst.
func (im *IntegerModel) requant(i int, t *itensor, post float32, dst []int64) {
	il := im.layers[i]
	per := t.shape.H * t.shape.W
	for c := 0; c < t.shape.C; c++ {
		th := im.thresholds(il.l.Act, math.Ilogb(t.scale[c]), post)
		for j := c * per; j < (c+1)*per; j++ {
			dst[j] = il.lo + kernels.CountLE(th, t.v[j])
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
				flat.scale = im.scale[n.Inputs[0]]
				im.requant(i, &flat, im.post[n.Inputs[0]], q)
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
						out.v[(o*os.H+oy)*os.W+ox] = il.y(o, int64(acc))
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
			// The float32 path's sum, in its order; the division is post.
			is := in.shape
			hw := is.H * is.W
			out.scale = im.scale[i]
			for c := 0; c < is.C; c++ {
				e := math.Ilogb(in.scale[c])
				s := in.v[c*hw]
				for _, v := range in.v[c*hw+1 : (c+1)*hw] {
					s = kernels.RoundF32(s+v, e)
				}
				out.v[c] = s
			}
		case nn.OpShortcutA:
			is := in.shape
			out.scale = im.scale[i]
			for c := 0; c < is.C; c++ {
				for oy := 0; oy < os.H; oy++ {
					for ox := 0; ox < os.W; ox++ {
						out.v[((c+n.PadChannels)*os.H+oy)*os.W+ox] = in.v[(c*is.H+oy*n.Stride)*is.W+ox*n.Stride]
					}
				}
			}
		case nn.OpAdd:
			// Both terms on the finer grid (exact shifts), the sum rounded
			// as float32 rounds it.
			b := vals[n.Inputs[1]]
			per := os.H * os.W
			out.scale = im.scale[i]
			for c := 0; c < os.C; c++ {
				e := math.Ilogb(out.scale[c])
				sa, sb := uint(math.Ilogb(in.scale[c])-e), uint(math.Ilogb(b.scale[c])-e)
				for j := c * per; j < (c+1)*per; j++ {
					out.v[j] = kernels.RoundF32(in.v[j]<<sa+b.v[j]<<sb, e)
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
	last := len(g.Nodes) - 1
	logits := make([]float64, g.Classes)
	for k := range logits {
		logits[k] = dequant(vals[last].v[k], vals[last].scale[k], im.post[last])
	}
	return logits
}

// dequant returns the float32 value of v on grid scale with post
// multiplier post (1: none), as a float64.
func dequant(v int64, scale float64, post float32) float64 {
	x := float64(v) * scale // a float32 value: exact
	if post != 1 {
		return float64(float32(x) * post)
	}
	return x
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
