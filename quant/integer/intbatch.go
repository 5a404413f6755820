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

// Batched integer-only inference: the arithmetic of IntegerModel (see
// integer.go), value for value, on chunks of samples with the int8 kernels
// of the integer path. Activations a layer reads are bytes in the quad
// layout (internal/kernels/quad.go): the activation level plus an offset -lo (0 for the
// unsigned quantizers of every layer but the first; the offset's
// contribution, offset x the row's level sum, is subtracted from the
// accumulator, and padding is the offset, level 0). A layer is one
// implicit int8 GEMM (vnniOI: raw int32 accumulators) and an epilogue that
// writes either
//
//   - when every consumer takes the levels of one unsigned quantizer
//     through a folded batch norm, ReLU, max pooling and flattening (which
//     commute with it: the level is a monotone function of the layer's
//     output, and the quantizer clamps at 0): the consumers' levels at
//     once, counts of per-channel thresholds on the accumulator (the
//     composition of the layer's float32 output and the quantizer); max
//     pooling then runs on bytes;
//   - otherwise the layer's output on its grid (intLayer.y), an int64
//     tensor (feature-major, samples innermost), on which ReLU, max
//     pooling, padding, the option-A shortcut, residual sums and global
//     average pooling (float32's sums, rounded as float32 rounds) run, and
//     which the next layer requantizes by thresholds.
//
// Only the network input is quantized from float and only the logits are
// dequantized (the last layer's grid integers), so the logits, losses
// and predictions equal IntegerModel's bit for bit
// (TestIntegerBatchMatchesReference).

// NotRepresentableError says why a model cannot run on integer-only
// inference (activation levels beyond a byte, weights beyond int8, an
// accumulator that could leave int32, float activations).
type NotRepresentableError struct{ Reason string }

// Error says that the model is not representable, and why.
func (e *NotRepresentableError) Error() string {
	return "integer-only inference: not representable: " + e.Reason
}

// intChunk is the default number of samples per chunk of IntegerBatch
// (16 when the int64 tensors are large).
const intChunk = 64

// Value kinds of IntegerBatch's nodes.
const (
	kindInt   = iota // int64 values with per-channel scales
	kindByte         // activation levels of the consumers' quantizer, quad layout
	kindFloat        // the network input (before its first layer quantizes it)
)

// batchLayer is a compiled layer of IntegerBatch.
type batchLayer struct {
	il         *intLayer
	geo        kernels.QuadGeom // input geometry (a linear layer: a kernel as large as its input)
	kh, kw     int              // kernel size over geo
	stride     int
	oh, ow     int // output rows and columns (pixels)
	off        int32
	kpad, m4   int
	a          []int8                     // packed weights, m4 rows of kpad
	rowSum     []int32                    // level sum of each output channel
	inT        []kernels.ThresholdCounter // requantization of an int input: thresholds per channel of the input tensor
	inPer      int                        // input rows per inT entry
	outT       []kernels.ThresholdCounter // byte output: the consumers' levels as thresholds on the accumulator, per channel
	gatherRows bool                       // strided convolution: gather each output row's panel
}

// IntegerBatch is batched integer-only inference of a model with quantized
// activations (see above); it computes what IntegerModel computes.
type IntegerBatch struct {
	m      *quant.Model
	im     *IntegerModel
	kind   []int
	root   []int // the node whose buffer holds a node's value (itself unless an alias)
	geo    []kernels.QuadGeom
	scale  [][]float64 // scale of int nodes (per channel, or per feature once flattened)
	layers map[int]*batchLayer
	slot   []int // buffer slot of each root node
	slots  []slotInfo
	maxOff int    // entries of the offsets
	chunk  int    // samples per chunk
	relu   []bool // a layer or sum whose ReLU is fused into it
}

type slotInfo struct {
	kind int
	size int // elements per sample
}

// NewIntegerBatch compiles a model for batched integer-only inference. A
// model the integer path cannot represent gives a *NotRepresentableError.
func NewIntegerBatch(m *quant.Model) (*IntegerBatch, error) {
	if m.ActBits == quant.FloatActBits {
		return nil, &NotRepresentableError{Reason: "float activations (act_bits 32)"}
	}
	im, err := NewIntegerModel(m)
	if err != nil {
		return nil, &NotRepresentableError{Reason: err.Error()}
	}
	g := m.Graph
	nodes := g.Nodes
	b := &IntegerBatch{m: m, im: im, kind: make([]int, len(nodes)), root: make([]int, len(nodes)),
		geo: make([]kernels.QuadGeom, len(nodes)), scale: make([][]float64, len(nodes)), layers: map[int]*batchLayer{}, chunk: intChunk}
	consumers := make([][]int, len(nodes))
	for i, n := range nodes {
		for _, u := range n.Inputs {
			consumers[u] = append(consumers[u], i)
		}
	}
	// Float nodes: the input and its padding or flattening.
	isFloat := make([]bool, len(nodes))
	isFloat[0] = true
	for i, n := range nodes {
		if i > 0 && (n.Op == nn.OpPad || n.Op == nn.OpFlatten || n.Op == nn.OpBatchNorm) && isFloat[n.Inputs[0]] {
			isFloat[i] = true
		}
	}
	// Per-layer checks.
	for i := range m.Layers {
		l := &m.Layers[i]
		lo, hi := l.Act.Levels()
		if hi-lo > 255 {
			return nil, &NotRepresentableError{Reason: fmt.Sprintf("layer %s: %d-bit activation levels do not fit in a byte", l.Name, l.Act.Bits)}
		}
		maxAbs := max(math.Abs(float64(lo)), math.Abs(float64(hi)))
		per := len(l.Levels) / l.Out()
		for o := 0; o < l.Out(); o++ {
			s := 0
			for _, v := range l.Levels[o*per : (o+1)*per] {
				if v < -127 {
					return nil, &NotRepresentableError{Reason: fmt.Sprintf("layer %s: weight level %d does not fit in int8", l.Name, v)}
				}
				s += int(math.Abs(float64(v)))
			}
			if float64(s)*max(maxAbs, 255) >= math.MaxInt32 {
				return nil, &NotRepresentableError{Reason: fmt.Sprintf("layer %s: output channel %d's levels sum to %d in absolute value: its accumulator could leave int32", l.Name, o, s)}
			}
		}
	}
	// want[v]: every consumer of v takes byte levels of quantizer q[v] in a
	// quad tensor padded by pad[v].
	want := make([]bool, len(nodes))
	q := make([]quant.ActQuant, len(nodes))
	pad := make([]int, len(nodes))
	for v := len(nodes) - 1; v > 0; v-- {
		ok := len(consumers[v]) > 0 && !isFloat[v]
		var qv quant.ActQuant
		pv := 0
		for k, c := range consumers[v] {
			var qc quant.ActQuant
			pc := 0
			cn := nodes[c]
			switch {
			case cn.Op == nn.OpConv || cn.Op == nn.OpLinear:
				il := im.layers[c]
				if il.lo != 0 {
					ok = false
				}
				qc = il.l.Act
				if cn.Op == nn.OpConv {
					pc = cn.Padding
				}
			case want[c] && (cn.Op == nn.OpBatchNorm || cn.Op == nn.OpFlatten || cn.Op == nn.OpReLU):
				qc, pc = q[c], pad[c]
			case want[c] && cn.Op == nn.OpMaxPool:
				qc = q[c]
			default:
				ok = false
			}
			if !ok || (k > 0 && (qc != qv || pc != pv)) {
				ok = false
				break
			}
			qv, pv = qc, pc
		}
		want[v], q[v], pad[v] = ok, qv, pv
	}
	for i, n := range nodes {
		b.root[i] = i
		_, isLayer := im.layers[i]
		switch {
		case isFloat[i]:
			b.kind[i] = kindFloat
			if i > 0 && n.Op != nn.OpPad {
				b.root[i] = b.root[n.Inputs[0]]
			}
		case want[i] && isLayer:
			b.kind[i] = kindByte
			s := n.OutShape
			b.geo[i] = kernels.QuadGeom{C: s.C, H: s.H, W: s.W, P: pad[i]}
		case want[i] && n.Op == nn.OpMaxPool && b.kind[n.Inputs[0]] == kindByte:
			b.kind[i] = kindByte
			s := n.OutShape
			b.geo[i] = kernels.QuadGeom{C: s.C, H: s.H, W: s.W, P: pad[i]}
		case want[i] && b.kind[n.Inputs[0]] == kindByte && (n.Op == nn.OpBatchNorm || n.Op == nn.OpFlatten || n.Op == nn.OpReLU):
			b.kind[i] = kindByte
			b.root[i] = b.root[n.Inputs[0]]
			b.geo[i] = b.geo[n.Inputs[0]]
		default:
			b.kind[i] = kindInt
			if n.Op == nn.OpBatchNorm || n.Op == nn.OpFlatten {
				b.root[i] = b.root[n.Inputs[0]]
			}
		}
	}
	b.scale = im.scale
	for i, il := range im.layers {
		if err := b.compileLayer(i, il, q[i]); err != nil {
			return nil, err
		}
	}
	b.fuseReLUs(consumers)
	b.planSlots(consumers)
	// Chunks of 16 samples when the int64 tensors would outgrow the cache
	// (ResNet-20: 12% less CPU time than 64, measured).
	for _, si := range b.slots {
		if si.kind == kindInt && si.size*8*intChunk > 1<<21 {
			b.chunk = 16
		}
	}
	return b, nil
}

// fuseReLUs makes an int ReLU an alias of its input when that input is a
// layer or a residual sum (through a folded batch norm) that feeds nothing
// else: the layer's epilogue or the sum applies the ReLU.
func (b *IntegerBatch) fuseReLUs(consumers [][]int) {
	nodes := b.m.Graph.Nodes
	b.relu = make([]bool, len(nodes))
	for i, n := range nodes {
		if n.Op != nn.OpReLU || b.kind[i] != kindInt {
			continue
		}
		r := b.root[n.Inputs[0]]
		if _, isLayer := b.layers[r]; !isLayer && nodes[r].Op != nn.OpAdd {
			continue
		}
		ext := 0
		for v := range nodes {
			if b.root[v] != r {
				continue
			}
			for _, c := range consumers[v] {
				if b.root[c] != r {
					ext++
					if c != i {
						ext += len(nodes)
					}
				}
			}
		}
		if ext == 1 {
			b.relu[r] = true
			b.root[i] = r
		}
	}
}

// compileLayer packs layer node i's weights in the K order of its input
// geometry and prepares its requantization multipliers; outQ is its
// consumers' quantizer when its output is bytes.
func (b *IntegerBatch) compileLayer(i int, il *intLayer, outQ quant.ActQuant) error {
	n := b.m.Graph.Nodes[i]
	l := il.l
	src := n.Inputs[0]
	is := il.inS
	bl := &batchLayer{il: il, off: int32(-il.lo), stride: 1, oh: 1, ow: 1}
	switch {
	case n.Op == nn.OpConv:
		bl.geo = kernels.QuadGeom{C: is.C, H: is.H, W: is.W, P: n.Padding}
		bl.kh, bl.kw, bl.stride = n.Kernel, n.Kernel, n.Stride
		bl.oh, bl.ow = n.OutShape.H, n.OutShape.W
		bl.gatherRows = n.Stride != 1
	case b.kind[src] == kindByte:
		bl.geo = b.geo[src]
		bl.kh, bl.kw = bl.geo.H, bl.geo.W
	default:
		bl.geo = kernels.QuadGeom{C: is.Size(), H: 1, W: 1}
		bl.kh, bl.kw = 1, 1
	}
	if b.kind[src] == kindByte && b.geo[src] != bl.geo {
		return fmt.Errorf("integer-only inference: layer %s: input geometry %+v, expected %+v", l.Name, b.geo[src], bl.geo)
	}
	c, kk := bl.geo.C, bl.kh*bl.kw
	if c*kk != len(l.Levels)/l.Out() {
		return fmt.Errorf("integer-only inference: layer %s: %d inputs per output, expected %d", l.Name, len(l.Levels)/l.Out(), c*kk)
	}
	bl.kpad = bl.geo.C4() * kk * 4
	bl.m4 = kernels.RoundUp4(l.Out())
	bl.a = make([]int8, bl.m4*bl.kpad)
	bl.rowSum = make([]int32, l.Out())
	for o := 0; o < l.Out(); o++ {
		for ci := 0; ci < c; ci++ {
			for k := 0; k < kk; k++ {
				v := l.Levels[(o*c+ci)*kk+k]
				bl.a[o*bl.kpad+4*((ci/4)*kk+k)+ci%4] = v
				bl.rowSum[o] += int32(v)
			}
		}
	}
	if b.kind[src] == kindInt {
		in := b.scale[src]
		bl.inPer = is.Size() / len(in)
		if len(in) != is.C { // flattened: one grid per feature
			in = expandScale(&itensor{shape: b.m.Graph.Nodes[src].OutShape, scale: in}, is)
			bl.inPer = 1
		}
		for _, s := range in {
			bl.inT = append(bl.inT, kernels.NewThresholdCounter(b.im.thresholds(l.Act, math.Ilogb(s), b.im.post[src]), -gridLimit, gridLimit))
		}
	}
	if b.kind[i] == kindByte {
		// The consumers' level of output channel o is a monotone function
		// of the accumulator: its thresholds.
		lo, hi := outQ.Levels()
		for o := range il.scale {
			t := b.im.thresholds(outQ, il.out[o].Exp, 1)
			at := make([]int64, int(hi-lo))
			for k, v := range t {
				// The smallest accumulator whose output reaches t[k].
				ge := func(acc int64) int64 {
					if il.y(o, acc) >= v {
						return 1
					}
					return 0
				}
				at[k] = kernels.Thresholds(ge, 0, 1, -il.accMax, il.accMax)[0]
			}
			bl.outT = append(bl.outT, kernels.NewThresholdCounter(at, -il.accMax, il.accMax))
		}
	}
	kg := bl.kpad / 4
	b.maxOff = max(b.maxOff, kg)
	b.layers[i] = bl
	return nil
}

// planSlots assigns every root node a buffer slot, reused once its last
// consumer has run.
func (b *IntegerBatch) planSlots(consumers [][]int) {
	nodes := b.m.Graph.Nodes
	last := make([]int, len(nodes))
	for v := range nodes {
		r := b.root[v]
		last[r] = max(last[r], v)
		for _, c := range consumers[v] {
			last[r] = max(last[r], c)
		}
	}
	last[b.root[len(nodes)-1]] = len(nodes)
	b.slot = make([]int, len(nodes))
	var free []int
	for i := range nodes {
		b.slot[i] = -1
		if b.root[i] != i {
			continue
		}
		size := b.sizeOf(i)
		s := -1
		for k, f := range free {
			if b.slots[f].kind == b.kind[i] {
				s = f
				free = append(free[:k], free[k+1:]...)
				break
			}
		}
		if s < 0 {
			s = len(b.slots)
			b.slots = append(b.slots, slotInfo{kind: b.kind[i]})
		}
		b.slots[s].size = max(b.slots[s].size, size)
		b.slot[i] = s
		for v := range nodes[:i+1] {
			if b.root[v] == v && last[v] == i && b.slot[v] >= 0 {
				free = append(free, b.slot[v])
			}
		}
	}
}

// sizeOf returns the elements per sample of root node i's buffer.
func (b *IntegerBatch) sizeOf(i int) int {
	if b.kind[i] == kindByte {
		return b.geo[i].Size(1)
	}
	return b.m.Graph.Nodes[i].OutShape.Size()
}

// batchWorker holds one worker's buffers.
type batchWorker struct {
	i64    [][]int64
	u8     [][]byte
	f32    [][]float32
	xs     []byte // a layer's input as quad bytes
	tmp    []float32
	tile   []int32
	panel  []byte
	offs   []int
	zero64 []int64    // zeros: the rows of absent channels
	v64    [4][]int64 // a tile's four output rows as int64
}

func (b *IntegerBatch) newWorker() *batchWorker {
	w := &batchWorker{i64: make([][]int64, len(b.slots)), u8: make([][]byte, len(b.slots)), f32: make([][]float32, len(b.slots)),
		tile: make([]int32, 4*64), offs: make([]int, b.maxOff), zero64: make([]int64, max(b.chunk, 64))}
	for s, si := range b.slots {
		switch si.kind {
		case kindInt:
			w.i64[s] = make([]int64, si.size*b.chunk)
		case kindByte:
			w.u8[s] = make([]byte, si.size*b.chunk+256)
		default:
			w.f32[s] = make([]float32, si.size*b.chunk)
		}
	}
	xs, tmp, pan := 0, 0, 0
	for _, bl := range b.layers {
		xs = max(xs, bl.geo.Size(b.chunk))
		tmp = max(tmp, bl.il.inS.Size()*b.chunk)
		if bl.gatherRows {
			pan = max(pan, bl.kpad*kernels.RoundUp64(bl.ow*b.chunk))
		}
	}
	w.xs = make([]byte, xs+256)
	w.tmp = make([]float32, tmp)
	w.panel = make([]byte, pan+256)
	return w
}

// forward runs a chunk of bc samples (x: bc normalized samples, NCHW) and
// writes their logits (bc x classes).
func (b *IntegerBatch) forward(w *batchWorker, x []float32, bc int, logits []float64) {
	g := b.m.Graph
	nodes := g.Nodes
	d := g.Input.Size()
	in0 := w.f32[b.slot[0]][:d*bc]
	for s := 0; s < bc; s++ {
		for f := 0; f < d; f++ {
			in0[f*bc+s] = x[s*d+f]
		}
	}
	for i := 1; i < len(nodes); i++ {
		n := nodes[i]
		if bl := b.layers[i]; bl != nil {
			b.runLayer(w, i, bl, bc)
			continue
		}
		if b.root[i] != i {
			continue // an alias
		}
		src := n.Inputs[0]
		switch b.kind[i] {
		case kindFloat: // padding of the float input
			is := nodes[src].OutShape
			padRows(w.f32[b.slot[i]], w.f32[b.slot[b.root[src]]], is, n.OutShape, n.Pad, bc)
			continue
		case kindByte: // max pooling on bytes
			kernels.PoolQuad(w.u8[b.slot[i]], b.geo[i], w.u8[b.slot[b.root[src]]], b.geo[src], n.Kernel, n.Stride, bc)
			continue
		}
		b.intOp(w, i, bc)
	}
	last := len(nodes) - 1
	v := w.i64[b.slot[b.root[last]]]
	s := b.scale[last]
	for k := 0; k < g.Classes; k++ {
		for j := 0; j < bc; j++ {
			logits[j*g.Classes+k] = dequant(v[k*bc+j], s[k], b.im.post[last])
		}
	}
}

// padRows zero-pads rows of [C][H][W][bc] by p pixels on every side.
func padRows[T int64 | float32](dst, src []T, is, os nn.Shape, p, bc int) {
	clear(dst[:os.Size()*bc])
	for c := 0; c < is.C; c++ {
		for y := 0; y < is.H; y++ {
			copy(dst[((c*os.H+y+p)*os.W+p)*bc:], src[(c*is.H+y)*is.W*bc:(c*is.H+y+1)*is.W*bc])
		}
	}
}

// intOp runs a non-layer node on int64 values ([C][H][W][bc]).
func (b *IntegerBatch) intOp(w *batchWorker, i, bc int) {
	n := b.m.Graph.Nodes[i]
	os := n.OutShape
	is := b.m.Graph.Nodes[n.Inputs[0]].OutShape
	in := w.i64[b.slot[b.root[n.Inputs[0]]]]
	out := w.i64[b.slot[i]][:os.Size()*bc]
	switch n.Op {
	case nn.OpReLU:
		for j, v := range in[:len(out)] {
			out[j] = max(v, 0)
		}
	case nn.OpPad:
		padRows(out, in, is, os, n.Pad, bc)
	case nn.OpMaxPool:
		for c := 0; c < os.C; c++ {
			for oy := 0; oy < os.H; oy++ {
				for ox := 0; ox < os.W; ox++ {
					d := out[((c*os.H+oy)*os.W+ox)*bc:][:bc]
					for ky := 0; ky < n.Kernel; ky++ {
						for kx := 0; kx < n.Kernel; kx++ {
							sr := in[((c*is.H+oy*n.Stride+ky)*is.W+ox*n.Stride+kx)*bc:][:bc]
							if ky == 0 && kx == 0 {
								copy(d, sr)
								continue
							}
							for j, v := range sr {
								d[j] = max(d[j], v)
							}
						}
					}
				}
			}
		}
	case nn.OpGlobalAvgPool:
		// The float32 path's sum, in its order (the division is the
		// consumers' post multiplier).
		hw := is.H * is.W
		sc := b.scale[n.Inputs[0]]
		for c := 0; c < is.C; c++ {
			d := out[c*bc : (c+1)*bc]
			copy(d, in[c*hw*bc:][:bc])
			e := math.Ilogb(sc[c])
			for p := 1; p < hw; p++ {
				kernels.AddRound(d, d, in[(c*hw+p)*bc:][:bc], 0, 0, e, math.MinInt64)
			}
		}
	case nn.OpShortcutA:
		clear(out)
		for c := 0; c < is.C; c++ {
			for oy := 0; oy < os.H; oy++ {
				for ox := 0; ox < os.W; ox++ {
					copy(out[(((c+n.PadChannels)*os.H+oy)*os.W+ox)*bc:][:bc], in[((c*is.H+oy*n.Stride)*is.W+ox*n.Stride)*bc:][:bc])
				}
			}
		}
	case nn.OpAdd:
		// Both terms on the finer grid, the sum rounded as float32 does.
		other := w.i64[b.slot[b.root[n.Inputs[1]]]]
		sa, sb := b.scale[n.Inputs[0]], b.scale[n.Inputs[1]]
		per := os.H * os.W * bc
		floor := int64(math.MinInt64)
		if b.relu[i] {
			floor = 0
		}
		for c := 0; c < os.C; c++ {
			e := math.Ilogb(b.scale[i][c])
			ea, eb := uint(math.Ilogb(sa[c])-e), uint(math.Ilogb(sb[c])-e)
			kernels.AddRound(out[c*per:(c+1)*per], in[c*per:(c+1)*per], other[c*per:(c+1)*per], ea, eb, e, floor)
		}
	default:
		panic(fmt.Sprintf("quant: integer-only inference: operation %q", n.Op))
	}
}

// fillBorder sets the padding of a quad tensor of bc samples to v.
func fillBorder(t []byte, q kernels.QuadGeom, bc int, v byte) {
	if q.P == 0 {
		return
	}
	q.ClearBorder(t, bc)
	if v == 0 {
		return
	}
	hp, wp := q.H+2*q.P, q.W+2*q.P
	blk := bc * 4
	for c := 0; c < q.C4(); c++ {
		for y := 0; y < hp; y++ {
			for x := 0; x < wp; x++ {
				if y >= q.P && y < q.P+q.H && x >= q.P && x < q.P+q.W {
					continue
				}
				o := ((c*hp+y)*wp + x) * blk
				for k := o; k < o+blk; k++ {
					t[k] = v
				}
			}
		}
	}
}

// layerInput returns layer node i's input as quad bytes (levels + offset).
func (b *IntegerBatch) layerInput(w *batchWorker, i int, bl *batchLayer, bc int) []byte {
	src := b.m.Graph.Nodes[i].Inputs[0]
	if b.kind[src] == kindByte {
		return w.u8[b.slot[b.root[src]]]
	}
	q := bl.geo
	x := w.xs // whole: the micro-kernel reads up to 255 bytes past the tensor
	fillBorder(x[:q.Size(bc)], q, bc, byte(bl.off))
	// Row r of the input, [C][H][W][bc], is pixel r%(H*W) of channel
	// r/(H*W).
	hw := q.H * q.W
	rows := q.C * hw
	var f []float32
	var v []int64
	if b.kind[src] == kindFloat {
		f = w.f32[b.slot[b.root[src]]][:rows*bc]
		bl.il.l.Act.QuantizeSlice(w.tmp[:len(f)], f)
		f = w.tmp[:len(f)]
	} else {
		v = w.i64[b.slot[b.root[src]]][:rows*bc]
	}
	for r := 0; r < rows; r++ {
		c := r / hw
		d := x[q.Pixel(c/4, (r%hw)/q.W, r%q.W, bc)+c%4:][:4*bc]
		if f != nil {
			for j, l := range f[r*bc : (r+1)*bc] {
				d[4*j] = byte(int32(l) + bl.off)
			}
			continue
		}
		// The level is lo + the count of thresholds, the byte that plus
		// -lo.
		bl.inT[r/bl.inPer].CountValues(d, v[r*bc:(r+1)*bc])
	}
	return x
}

// runLayer computes layer node i for bc samples: the implicit int8 GEMM
// (raw int32 accumulators) and the fixed-point epilogue.
func (b *IntegerBatch) runLayer(w *batchWorker, i int, bl *batchLayer, bc int) {
	x := b.layerInput(w, i, bl, bc)
	il := bl.il
	kg := bl.kpad / 4
	offs := w.offs[:kg]
	gi := bl.geo
	cols := bl.ow * bc
	npad := kernels.RoundUp64(cols)
	hp, wp := gi.H+2*gi.P, gi.W+2*gi.P
	gidx := 0
	for c4 := 0; c4 < gi.C4(); c4++ {
		for ky := 0; ky < bl.kh; ky++ {
			for kx := 0; kx < bl.kw; kx++ {
				if bl.gatherRows {
					offs[gidx] = gidx * npad * 4
				} else {
					offs[gidx] = ((c4*hp+ky)*wp + kx) * bc * 4
				}
				gidx++
			}
		}
	}
	omax := offs[kg-1]
	out := il.l.Out()
	relu := b.relu[i]
	var ob []byte
	var oi []int64
	var og kernels.QuadGeom
	if b.kind[i] == kindByte {
		og = b.geo[i]
		ob = w.u8[b.slot[i]]
		og.ClearBorder(ob, bc)
	} else {
		oi = w.i64[b.slot[i]]
	}
	ldo := bl.oh * bl.ow * bc
	for oy := 0; oy < bl.oh; oy++ {
		var src []byte
		if bl.gatherRows {
			b.gatherRow(w, bl, x, oy, bc, npad)
			src = w.panel
		} else {
			src = x[oy*wp*bc*4:]
		}
		for j0 := 0; j0 < cols; j0 += 64 {
			nc := min(64, cols-j0)
			for i0 := 0; i0 < bl.m4; i0 += 4 {
				kernels.VNNIOI(kg, bl.a[i0*bl.kpad:], bl.kpad, src[j0*4:], offs, omax, w.tile, 64)
				for r := 0; r < 4 && i0+r < out; r++ {
					o := i0 + r
					corr := int64(bl.off * bl.rowSum[o])
					t := w.tile[r*64 : r*64+nc]
					if ob != nil {
						// The consumers' levels (thresholds on the
						// accumulator).
						bl.outT[o].CountAccs(ob[og.Pixel(o/4, oy, 0, bc)+j0*4+o%4:][:4*nc-3], t, corr)
						continue
					}
					aff := il.out[o]
					if relu {
						aff.Floor = 0
					}
					aff.Row(oi[o*ldo+oy*cols+j0:][:nc], t, corr)
				}
			}
		}
	}
}

// gatherRow fills w.panel with the K groups of output row oy of a strided
// convolution (see worker.gatherRow).
func (b *IntegerBatch) gatherRow(w *batchWorker, bl *batchLayer, x []byte, oy, bc, npad int) {
	gi := bl.geo
	hp, wp := gi.H+2*gi.P, gi.W+2*gi.P
	blk := bc * 4
	s := bl.stride
	g := 0
	for c4 := 0; c4 < gi.C4(); c4++ {
		for ky := 0; ky < bl.kh; ky++ {
			for kx := 0; kx < bl.kw; kx++ {
				dst := w.panel[g*npad*4:]
				row := ((c4*hp + oy*s + ky) * wp) * blk
				for ox := 0; ox < bl.ow; ox++ {
					src := row + (ox*s+kx)*blk
					copy(dst[ox*blk:(ox+1)*blk], x[src:src+blk])
				}
				g++
			}
		}
	}
}

// Logits returns the logits of samples (NCHW float32, normalized), sample
// by sample (len(x)/input size rows of Classes), on workers goroutines (0:
// GOMAXPROCS).
func (b *IntegerBatch) Logits(ctx context.Context, x []float32, workers int) ([]float64, error) {
	g := b.m.Graph
	d := g.Input.Size()
	if len(x)%d != 0 {
		return nil, fmt.Errorf("integer-only inference: %d values are not whole samples of %d", len(x), d)
	}
	n := len(x) / d
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	chunks := (n + b.chunk - 1) / b.chunk
	workers = max(1, min(workers, chunks))
	logits := make([]float64, n*g.Classes)
	var next atomic.Int64
	var wg sync.WaitGroup
	for k := 0; k < workers; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := b.newWorker()
			for {
				c := int(next.Add(1) - 1)
				if c >= chunks || ctx.Err() != nil {
					return
				}
				s0 := c * b.chunk
				bc := min(b.chunk, n-s0)
				b.forward(w, x[s0*d:(s0+bc)*d], bc, logits[s0*g.Classes:(s0+bc)*g.Classes])
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("integer-only inference: %w", err)
	}
	return logits, nil
}

// Evaluate runs integer-only inference on samples (NCHW float32,
// normalized): the same result as IntegerModel.Evaluate.
func (b *IntegerBatch) Evaluate(ctx context.Context, x []float32, labels []uint8, workers int) (*IntegerResult, error) {
	d := b.m.Graph.Input.Size()
	if len(x) != len(labels)*d {
		return nil, fmt.Errorf("integer evaluation: %d values for %d samples, expected %d per sample", len(x), len(labels), d)
	}
	z, err := b.Logits(ctx, x, workers)
	if err != nil {
		return nil, err
	}
	return integerResult(z, labels, b.m.Graph.Classes), nil
}

// integerResult scores logits (one row of classes per label) as
// IntegerModel.Evaluate does.
func integerResult(z []float64, labels []uint8, classes int) *IntegerResult {
	res := &IntegerResult{N: len(labels), Predictions: make([]int, len(labels))}
	for i := range labels {
		p, l := softmaxLoss(z[i*classes:(i+1)*classes], labels[i])
		res.Predictions[i] = p
		res.Loss += l
		if p == int(labels[i]) {
			res.Correct++
		}
	}
	if len(labels) > 0 {
		res.Loss /= float64(len(labels))
		res.Accuracy = float64(res.Correct) / float64(len(labels))
	}
	return res
}

// softmaxLoss returns the argmax of logits z and the cross-entropy of
// label.
func softmaxLoss(z []float64, label uint8) (int, float64) {
	best := 0
	for k := range z {
		if z[k] > z[best] {
			best = k
		}
	}
	var s float64
	for _, v := range z {
		s += math.Exp(v - z[best])
	}
	return best, math.Log(s) - (z[label] - z[best])
}

// IsNotRepresentable reports whether err says the model cannot run on
// integer-only inference, and why.
func IsNotRepresentable(err error) (string, bool) {
	var nr *NotRepresentableError
	if errors.As(err, &nr) {
		return nr.Reason, true
	}
	return "", false
}
