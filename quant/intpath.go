package quant

import (
	"fmt"
	"math"
	"strings"

	"github.com/ccq-project/ccq/nn"
)

// The integer evaluation path. With quantized activations, the evaluator
// recomputes every layer whose input quantizer is unsigned as an int8 GEMM
// whose epilogue rescales the int32 accumulators (float32(acc*mult) + bias,
// the float32 path's operations in the same order) and, when the output
// only feeds such layers through operations that commute with the
// quantizer (ReLU, max pooling, flattening, padding, shortcut slicing: all
// monotone or data movement, and quant(0) = 0), requantizes it at once to
// the consumer's activation levels, stored as bytes. Max pooling and the
// other commuting operations then run on bytes; residual sums and global
// average pooling stay float32 (their values are needed exactly, not only
// their levels), and the next layer quantizes their output straight to
// bytes. Every value an int8 layer sees is therefore the same activation
// level the float32 fake-quantized path computes, the accumulators are the
// same integers (below 2^24, checked per layer: see intBound), and the
// logits are bit-identical.

// accExactLimit bounds |accumulator| for the float32 path's sums of integer
// products to be exact (and equal to the int32 sums in any order).
const accExactLimit = 1 << 24

// forceIntegerKernels makes the integer path available without VNNI (the
// pure-Go twins run instead): tests set it to exercise the twins.
var forceIntegerKernels = false

// intKernels reports whether int8 layers may be used in this build.
func intKernels() bool { return useVNNI || forceIntegerKernels }

// int8Refusal returns why layer l, whose input quantizer is unsigned,
// cannot run as an int8 GEMM with weights of at most wmax in magnitude, or
// "" when it can.
func int8Refusal(l *qlayer, wmax int) string {
	if l.act.Bits > 8 {
		return fmt.Sprintf("%d-bit activation levels do not fit in a byte", l.act.Bits)
	}
	if wmax > 127 {
		return fmt.Sprintf("weight levels up to %d do not fit in int8", wmax)
	}
	_, hi := l.act.Levels()
	if float64(wmax)*float64(hi)*float64(l.ckk) >= accExactLimit {
		return fmt.Sprintf("a worst-case accumulator (%d x %d x %d weights) exceeds 2^24, where float32 sums stop being exact", wmax, int(hi), l.ckk)
	}
	if s := l.act.Scale; !(s > 0) || math.IsInf(float64(s), 0) {
		return fmt.Sprintf("activation scale %v", s)
	}
	return ""
}

// planInteger decides, for weights of at most wmax in magnitude, which
// layers run on the integer path and which node outputs are kept as bytes
// (see the comment at the top of this file). It returns one line naming
// the layers with quantized unsigned inputs that must stay on the float32
// path and why ("" when none).
func (n *net) planInteger(wmax int) string {
	var refused []string
	for li := range n.layers {
		l := &n.layers[li]
		l.intPath = false
		if !l.act.Enabled() || l.act.Signed {
			continue
		}
		if why := int8Refusal(l, wmax); why != "" {
			l.int8 = false
			refused = append(refused, l.name+": "+why)
			continue
		}
		if !l.int8 {
			continue
		}
		l.intPath = true
		n.intOn = true
		l.mult4 = make([]float32, l.m4)
		l.bias4 = make([]float32, l.m4)
		copy(l.mult4, l.mult)
		copy(l.bias4, l.bias)
	}
	g := n.g
	n.u8 = make([]bool, len(g.Nodes))
	n.nodeQ = make([]ActQuant, len(g.Nodes))
	n.u8Slot = make([]bool, len(n.slots))
	if n.intOn {
		consumers := make([][]int, len(g.Nodes))
		for i, node := range g.Nodes {
			for _, u := range node.Inputs {
				consumers[u] = append(consumers[u], i)
			}
		}
		want := make([]bool, len(g.Nodes))
		for v := len(g.Nodes) - 1; v >= 0; v-- {
			ok := len(consumers[v]) > 0
			var q ActQuant
			for k, c := range consumers[v] {
				var qc ActQuant
				if li := n.layerOf[c]; li >= 0 {
					if !n.layers[li].intPath {
						ok = false
						break
					}
					qc = n.layers[li].act
				} else if commutesWithQuant(g.Nodes[c].Op) && want[c] {
					qc = n.nodeQ[c]
				} else {
					ok = false
					break
				}
				if k > 0 && qc != q {
					ok = false
					break
				}
				q = qc
			}
			want[v], n.nodeQ[v] = ok, q
		}
		for v, node := range g.Nodes {
			switch {
			case !want[v] || v == 0:
			case n.layerOf[v] >= 0:
				n.u8[v] = true
			case commutesWithQuant(node.Op):
				n.u8[v] = n.u8[node.Inputs[0]]
			}
			if n.u8[v] {
				n.u8Slot[n.nodeSlot[v]] = true
			}
		}
	}
	if len(refused) == 0 {
		return ""
	}
	return strings.Join(refused, "; ")
}

// commutesWithQuant reports whether an operation gives the same activation
// levels whether it runs before or after an unsigned quantizer.
func commutesWithQuant(op nn.OpKind) bool {
	switch op {
	case nn.OpReLU, nn.OpMaxPool, nn.OpFlatten, nn.OpBatchNorm, nn.OpPad, nn.OpShortcutA:
		return true
	}
	return false
}

// layerInt computes integer-path layer li for a chunk of bc samples with
// the candidate's packed weights q: its input as bytes (the byte output of
// the node feeding it, the float32 input quantized at once, or, when the
// input is unchanged, the cached levels), then an int8 GEMM per block of
// output rows whose epilogue writes the layer's float32 output (ReLU
// fused) or, for a byte node, the consumer's activation levels.
func (w *worker) layerInt(li int, q []int8, bc int, inChanged bool) {
	n := w.n
	l := &n.layers[li]
	src := n.g.Nodes[l.node].Inputs[0]
	size := l.inS.Size() * bc
	var x []byte
	switch {
	case inChanged && n.u8[src]:
		x = w.ubufs[l.inSlot][:size]
	case inChanged:
		x = w.xu[:size]
		_, hi := l.act.Levels()
		quantU8(x, w.bufs[l.inSlot][:size], 1/l.act.Scale, hi)
	default:
		x = w.xu[:size]
		toU8(x, w.bufs[l.xqSlot][:size])
	}
	a := q[l.qoff : l.qoff+l.m4*l.kpad]
	toBytes := n.u8[l.node]
	var ydst []byte
	var inv, hi float32
	if toBytes {
		ydst = w.ubufs[l.ySlot]
		oq := n.nodeQ[l.node]
		inv = 1 / oq.Scale
		_, hi = oq.Levels()
	}
	yf := w.bufs[l.ySlot]
	gemm := func(b []byte, ncols, npad, off, ldc int) {
		if toBytes {
			gemmU8Q(l.out, ncols, l.kpad, a, b, npad, ydst[off:], ldc, l.mult4, l.bias4, inv, hi, w.tileB)
		} else {
			gemmU8P(l.out, ncols, l.kpad, a, b, npad, yf[off:], ldc, l.mult4, l.bias4, l.relu, w.tile)
		}
	}
	if !l.conv {
		npad := roundUp64(bc)
		packB(w.bp, x, bc, l.ckk, bc, l.kpad, npad, w.zero)
		gemm(w.bp, bc, npad, 0, bc)
		return
	}
	oh, ow := l.outS.H, l.outS.W
	ldc := oh * ow * bc
	for oy0 := 0; oy0 < oh; oy0 += l.rowsPer {
		oy1 := min(oh, oy0+l.rowsPer)
		ncols := (oy1 - oy0) * ow * bc
		c := w.colu[:l.ckk*ncols]
		im2colT(l, x, c, l.in, oy0, oy1, bc)
		npad := roundUp64(ncols)
		packB(w.bp, c, ncols, l.ckk, ncols, l.kpad, npad, w.zero)
		gemm(w.bp, ncols, npad, oy0*ow*bc, ldc)
	}
}

// toLevelsU8 stores the float32 output of node i (computed by the float32
// path) as the activation levels of its byte consumers.
func (w *worker) toLevelsU8(i, bc int) {
	n := w.n
	s := n.nodeSlot[i]
	size := n.slots[s].size * bc
	q := n.nodeQ[i]
	_, hi := q.Levels()
	quantU8(w.ubufs[s][:size], w.bufs[s][:size], 1/q.Scale, hi)
}

// execOpU8 runs a node whose output is kept as bytes (a commuting
// operation on byte levels).
func (w *worker) execOpU8(i, bc int) {
	n := w.n
	node := &n.g.Nodes[i]
	switch node.Op {
	case nn.OpBatchNorm, nn.OpFlatten:
		return // aliases of their input
	case nn.OpReLU:
		if n.fused[i] {
			return
		}
	}
	src := node.Inputs[0]
	in := w.ubufs[n.nodeSlot[src]]
	out := w.ubufs[n.nodeSlot[i]]
	is := n.g.Nodes[src].OutShape
	os := node.OutShape
	switch node.Op {
	case nn.OpReLU:
		// Levels of an unsigned quantizer are >= 0: ReLU keeps them.
		copy(out[:os.Size()*bc], in[:is.Size()*bc])
	case nn.OpMaxPool:
		for c := 0; c < os.C; c++ {
			poolU8(out, in, is, os, c, bc, node.Kernel, node.Stride)
		}
	case nn.OpPad:
		padT(out, in, is, os, node.Pad, bc)
	case nn.OpShortcutA:
		shortcutT(out, in, is, os, node.Stride, node.PadChannels, bc)
	default:
		panic(fmt.Sprintf("quant: op %q on byte levels", node.Op))
	}
}

// poolU8 is poolChannel on byte levels.
func poolU8(out, in []byte, is, os nn.Shape, c, bc, k, s int) {
	for oy := 0; oy < os.H; oy++ {
		for ox := 0; ox < os.W; ox++ {
			d := out[((c*os.H+oy)*os.W+ox)*bc : ((c*os.H+oy)*os.W+ox+1)*bc]
			for ky := 0; ky < k; ky++ {
				for kx := 0; kx < k; kx++ {
					off := ((c*is.H+oy*s+ky)*is.W + ox*s + kx) * bc
					src := in[off : off+bc]
					if ky == 0 && kx == 0 {
						copy(d, src)
						continue
					}
					for b, v := range src {
						d[b] = max(d[b], v)
					}
				}
			}
		}
	}
}

// padT zero-pads every channel by p pixels (execOp's OpPad).
func padT[T byte | float32](out, in []T, is, os nn.Shape, p, bc int) {
	clear(out[:os.Size()*bc])
	for c := 0; c < is.C; c++ {
		for y := 0; y < is.H; y++ {
			src := in[(c*is.H+y)*is.W*bc : ((c*is.H+y)*is.W+is.W)*bc]
			dst := ((c*os.H+y+p)*os.W + p) * bc
			copy(out[dst:dst+len(src)], src)
		}
	}
}

// shortcutT is execOp's OpShortcutA: every s-th pixel, channels shifted by
// pc, the rest zero.
func shortcutT[T byte | float32](out, in []T, is, os nn.Shape, s, pc, bc int) {
	clear(out[:os.Size()*bc])
	for c := 0; c < is.C; c++ {
		for oy := 0; oy < os.H; oy++ {
			for ox := 0; ox < os.W; ox++ {
				src := ((c*is.H+oy*s)*is.W + ox*s) * bc
				dst := (((c+pc)*os.H+oy)*os.W + ox) * bc
				copy(out[dst:dst+bc], in[src:src+bc])
			}
		}
	}
}
