package engine

import (
	"github.com/ccq-project/ccq/quant"

	"fmt"
	"math"
	"strings"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/quant/internal/kernels"
)

// The integer evaluation path. With quantized activations, the evaluator
// (and EvaluateModel) recomputes every layer whose input quantizer is
// unsigned as an int8 GEMM on byte activations in the quad layout (see
// quant/internal/kernels/quad.go) whose epilogue rescales the int32 accumulators
// (float32(acc*mult) + bias, the float32 path's operations in the same
// order) and, when the output only feeds such layers through operations
// that commute with the quantizer (a folded batch norm, a fused ReLU,
// flattening, max pooling: aliases, or monotone, and quant(0) = 0),
// requantizes it at once to the consumers' activation levels, stored as
// bytes; max pooling then runs on bytes. Otherwise the epilogue writes
// float32 (adding the shortcut of a residual sum it feeds); residual sums
// and global average pooling stay float32 (their values are needed
// exactly, not only their levels), and the next layer quantizes their
// output straight to bytes. Every value an int8 layer sees is therefore
// the activation level the float32 fake-quantized path computes, the
// accumulators are the same integers (below 2^24, checked per layer: see
// int8Refusal), and the logits are bit-identical.

// accExactLimit bounds |accumulator| for the float32 path's sums of integer
// products to be exact (and equal to the int32 sums in any order).
const accExactLimit = 1 << 24

// forceIntegerKernels makes the integer path available without VNNI (the
// pure-Go twins run instead): tests set it to exercise the twins.
var forceIntegerKernels = false

// intKernels reports whether int8 layers may be used in this build.
func intKernels() bool { return kernels.UseVNNI || forceIntegerKernels }

// int8Refusal returns why layer l, whose input quantizer is unsigned,
// cannot run as an int8 GEMM with weights of at most wmax in magnitude, or
// "" when it can (the accumulator bound is checked apart: see rowLimit).
func int8Refusal(l *qlayer, wmax int) string {
	if l.act.Bits > 8 {
		return fmt.Sprintf("%d-bit activation levels do not fit in a byte", l.act.Bits)
	}
	if wmax > 127 {
		return fmt.Sprintf("weight levels up to %d do not fit in int8", wmax)
	}
	if s := l.act.Scale; !(s > 0) || math.IsInf(float64(s), 0) {
		return fmt.Sprintf("activation scale %v", s)
	}
	return ""
}

// rowLimit returns the largest absolute sum of one output channel's weight
// levels for which int8 layer l's accumulators stay below 2^24 (where
// float32 sums of integer products stop being exact) whatever the input.
func (l *qlayer) rowLimit() int {
	_, hi := l.act.Levels()
	return (accExactLimit - 1) / int(hi)
}

// rowAbsMax returns the largest absolute row sum of layer l's levels in
// the flat vector levels.
func (l *qlayer) rowAbsMax(levels []float32) int {
	m := 0
	for o := 0; o < l.out; o++ {
		s := 0
		for _, v := range levels[l.off+o*l.ckk : l.off+(o+1)*l.ckk] {
			s += int(math.Abs(float64(v)))
		}
		m = max(m, s)
	}
	return m
}

// planInteger decides which layers run on the integer path and which node
// outputs are kept as bytes (see the comment at the top of this file), for
// weights of at most wmax in magnitude. With levels (a finished model),
// a layer whose largest absolute row sum exceeds rowLimit stays float32;
// without (the evaluator, whose candidates may set any level), a layer
// where any weights could exceed it is marked rowCheck: the evaluator then
// checks the base and every candidate. It returns one line naming the
// layers with quantized unsigned inputs that stay on the float32 path and
// why ("" when none).
func (n *net) planInteger(wmax int, levels []float32) string {
	var refused []string
	for li := range n.layers {
		l := &n.layers[li]
		l.intPath, l.rowCheck = false, false
		if !l.act.Enabled() || l.act.Signed {
			continue
		}
		why := int8Refusal(l, wmax)
		if why == "" && levels != nil {
			if r := l.rowAbsMax(levels); r > l.rowLimit() {
				_, hi := l.act.Levels()
				why = fmt.Sprintf("an output channel's levels sum to %d in absolute value: times level %d, accumulators could reach 2^24, where float32 sums stop being exact", r, int(hi))
			}
		}
		if why != "" {
			l.int8 = false
			refused = append(refused, l.name+": "+why)
			continue
		}
		l.rowCheck = levels == nil && wmax*l.ckk > l.rowLimit()
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
	n.nodeQ = make([]quant.ActQuant, len(g.Nodes))
	n.u8Slot = make([]bool, len(n.slots))
	n.slotGeo = make([]kernels.QuadGeom, len(n.slots))
	if n.intOn {
		consumers := nodeConsumers(g.Nodes)
		// want[v]: every consumer of v takes byte levels of the quantizer
		// nodeQ[v] in a quad tensor padded by pad[v].
		want := make([]bool, len(g.Nodes))
		pad := make([]int, len(g.Nodes))
		for v := len(g.Nodes) - 1; v >= 0; v-- {
			ok := len(consumers[v]) > 0
			var q quant.ActQuant
			p := 0
			for k, c := range consumers[v] {
				var qc quant.ActQuant
				pc := 0
				if li := n.layerOf[c]; li >= 0 {
					if !n.layers[li].intPath {
						ok = false
						break
					}
					qc, pc = n.layers[li].act, n.layers[li].inGeo.P
				} else if want[c] && byteOp(g.Nodes[c].Op, n.fused[c]) {
					qc = n.nodeQ[c]
					if aliasOp(g.Nodes[c].Op, n.fused[c]) {
						pc = pad[c]
					}
				} else {
					ok = false
					break
				}
				if k > 0 && (qc != q || pc != p) {
					ok = false
					break
				}
				q, p = qc, pc
			}
			want[v], n.nodeQ[v], pad[v] = ok, q, p
		}
		for v, node := range g.Nodes {
			switch {
			case !want[v] || v == 0:
			case n.layerOf[v] >= 0:
				n.u8[v] = true
			case byteOp(node.Op, n.fused[v]):
				n.u8[v] = n.u8[node.Inputs[0]]
			}
			if !n.u8[v] {
				continue
			}
			s := n.nodeSlot[v]
			if !n.u8Slot[s] {
				sh := node.OutShape
				n.u8Slot[s] = true
				n.slotGeo[s] = kernels.QuadGeom{C: sh.C, H: sh.H, W: sh.W, P: pad[v]}
				n.rowMax = max(n.rowMax, sh.W*n.chunk)
			}
		}
	}
	n.planAdds()
	n.planShadows()
	if len(refused) == 0 {
		return ""
	}
	return strings.Join(refused, "; ")
}

// planAdds finds the integer-path layers with a float32 output whose only
// consumer (through its folded batch norm) is a residual sum whose other
// input comes earlier in the graph: their epilogue computes the sum (and
// its ReLU), and the sum node is skipped when they do.
func (n *net) planAdds() {
	g := n.g
	n.addInto = make([]int, len(n.layers))
	n.addOther = make([]int, len(n.layers))
	n.addBy = make([]int, len(g.Nodes))
	for i := range n.addBy {
		n.addBy[i] = -1
	}
	consumers := nodeConsumers(g.Nodes)
	for li := range n.layers {
		l := &n.layers[li]
		n.addInto[li] = -1
		if !l.intPath || n.u8[l.node] || l.relu {
			continue
		}
		if a, other, ok := n.residualAdd(li, consumers); ok {
			n.addInto[li], n.addOther[li], n.addBy[a] = a, other, li
		}
	}
}

// planShadows finds the residual sums computed by a layer's epilogue
// (planAdds) that integer-path layers read (through the sum's fused ReLU):
// the epilogue then also writes the sum's levels for them (into the
// worker's xsh buffer for their input geometry), which saves quantizing
// the float32 sum again. Every such reader must take the same levels in
// the same geometry, and no other such epilogue may run between the layer
// and its last reader.
func (n *net) planShadows() {
	g := n.g
	n.shadowTo = make([]int, len(n.layers))
	n.shadowFrom = make([]int, len(n.layers))
	for li := range n.layers {
		n.shadowTo[li], n.shadowFrom[li] = -1, -1
	}
	consumers := nodeConsumers(g.Nodes)
	last := make([]int, len(n.layers)) // per producer, its last reader's node
	var producers []int
	for lb := range n.layers {
		a := n.addInto[lb]
		if a < 0 {
			continue
		}
		chain := []int{a}
		for v := a; len(consumers[v]) == 1; {
			c := consumers[v][0]
			if g.Nodes[c].Op != nn.OpReLU || !n.fused[c] {
				break
			}
			chain = append(chain, c)
			v = c
		}
		var readers []int
		for _, v := range chain {
			for _, c := range consumers[v] {
				if lc := n.layerOf[c]; lc >= 0 && n.layers[lc].intPath {
					readers = append(readers, lc)
				}
			}
		}
		if len(readers) == 0 {
			continue
		}
		l0 := &n.layers[readers[0]]
		sh := g.Nodes[a].OutShape
		ok := l0.inGeo.C == sh.C && l0.inGeo.H == sh.H && l0.inGeo.W == sh.W
		for _, lc := range readers[1:] {
			if lr := &n.layers[lc]; lr.act != l0.act || lr.inGeo != l0.inGeo {
				ok = false
			}
		}
		if !ok {
			continue
		}
		n.shadowTo[lb] = readers[0]
		for _, lc := range readers {
			last[lb] = max(last[lb], n.layers[lc].node)
		}
		producers = append(producers, lb)
	}
	for _, lb := range producers {
		for _, other := range producers {
			if o := n.layers[other].node; o > n.layers[lb].node && o < last[lb] {
				n.shadowTo[lb] = -1
			}
		}
	}
	for lc := range n.layers {
		src := g.Nodes[n.layers[lc].node].Inputs[0]
		for g.Nodes[src].Op == nn.OpReLU && n.fused[src] {
			src = g.Nodes[src].Inputs[0]
		}
		if lb := n.addBy[src]; lb >= 0 && n.shadowTo[lb] >= 0 && n.layers[lc].intPath {
			n.shadowFrom[lc] = lb
		}
	}
}

// shadowFresh reports whether integer-path layer lb ran this chunk with
// its epilogue, so that the levels it wrote to xsh are current: always on
// a plain worker (forwardInt runs every layer), and on an evaluator's
// worker when the candidate recomputes lb in full on the integer path
// (exactly when the sum node it computes is skipped).
func (w *worker) shadowFresh(lb int) bool {
	if w.changed == nil {
		return true
	}
	return w.changed[w.n.layers[lb].node] && w.mode[lb] == modeFull && !w.floatAt(lb)
}

// residualAdd finds the residual sum a layer's epilogue can compute: the
// layer's output (or its batch norm's, when that is its only reader) has
// one reader, an add whose other input comes earlier in the graph and lives
// in another slot. It returns the add node and that other input.
func (n *net) residualAdd(li int, consumers [][]int) (add, other int, ok bool) {
	g := n.g
	l := &n.layers[li]
	out := l.node
	if c := consumers[out]; len(c) == 1 && g.Nodes[c[0]].Op == nn.OpBatchNorm {
		out = c[0]
	}
	c := consumers[out]
	if len(c) != 1 || g.Nodes[c[0]].Op != nn.OpAdd {
		return 0, 0, false
	}
	add = c[0]
	in := g.Nodes[add].Inputs
	other = in[0]
	if other == out {
		other = in[1]
	}
	if other == out || other >= l.node || n.nodeSlot[add] == n.nodeSlot[other] {
		return 0, 0, false
	}
	return add, other, true
}

// byteOp reports whether an operation runs on byte levels: batch norm
// (folded), flattening and a fused ReLU (aliases of their input: an
// unsigned quantizer clamps at 0 anyway) and max pooling (the quantizer is
// monotone). Padding, the shortcut and unfused ReLUs stay float32.
func byteOp(op nn.OpKind, fused bool) bool {
	return aliasOp(op, fused) || op == nn.OpMaxPool
}

// aliasOp reports whether an operation's output is its input's slot.
func aliasOp(op nn.OpKind, fused bool) bool {
	return op == nn.OpBatchNorm || op == nn.OpFlatten || (op == nn.OpReLU && fused)
}

// layerInt computes integer-path layer li for a chunk of bc samples with
// the candidate's packed weights q: its input as a quad tensor (the byte
// output of the node feeding it, the float32 input quantized at once, or,
// when the input is unchanged, the cached levels), then the implicit int8
// GEMM whose epilogue writes the layer's float32 output (ReLU fused) or,
// for a byte node, the consumers' activation levels.
func (w *worker) layerInt(li int, q []int8, bc int, inChanged bool) {
	n := w.n
	l := &n.layers[li]
	src := n.g.Nodes[l.node].Inputs[0]
	var x []byte
	_, hi := l.act.Levels()
	switch {
	case inChanged && n.u8[src]:
		x = w.ubufs[l.inSlot]
	case inChanged && n.shadowFrom[li] >= 0 && w.shadowFresh(n.shadowFrom[li]):
		x = w.xsh.get(l.inGeo, n.chunk)
	case inChanged:
		x = w.xs
		kernels.ToQuad(x, w.bufs[l.inSlot], l.inGeo, bc, 1/l.act.Scale, hi, w.zeroF)
	default:
		x = w.xs
		kernels.ToQuad(x, w.bufs[l.xqSlot], l.inGeo, bc, 1, hi, w.zeroF)
	}
	out := quadOut{f: w.bufs[l.ySlot], mult: l.mult4, bias: l.bias4, relu: l.relu}
	if a := n.addInto[li]; a >= 0 {
		out.f = w.bufs[n.nodeSlot[a]]
		out.add = w.bufs[n.nodeSlot[n.addOther[li]]]
		out.relu = n.addRelu[a]
		if lc := n.shadowTo[li]; lc >= 0 {
			r := &n.layers[lc]
			_, rhi := r.act.Levels()
			out.sh, out.shGeo, out.shInv, out.shHi = w.xsh.get(r.inGeo, n.chunk), r.inGeo, 1/r.act.Scale, rhi
		}
	}
	if n.u8[l.node] {
		s := n.nodeSlot[l.node]
		oq := n.nodeQ[l.node]
		out.bytes, out.geo, out.inv = w.ubufs[s], n.slotGeo[s], 1/oq.Scale
		_, out.hi = oq.Levels()
	}
	w.quadGemm(l, q[l.qoff:l.qoff+l.m4*l.kpad], x, bc, &out)
}

// denseU8 computes the accumulator acc = W * xq of int8 layer l (xq its
// activation levels as float32) with the int8 GEMM.
func (w *worker) denseU8(l *qlayer, q []int8, xq, acc []float32, bc int) {
	_, hi := l.act.Levels()
	kernels.ToQuad(w.xs, xq, l.inGeo, bc, 1, hi, w.zeroF)
	w.quadGemm(l, q[l.qoff:l.qoff+l.m4*l.kpad], w.xs, bc, &quadOut{f: acc, mult: l.ones4, bias: l.zeros4})
}

// quadOut is where an int8 GEMM writes: byte levels (inv = 1/scale, 0..hi)
// in a quad tensor of geometry geo when bytes is set, else float32 rows
// (row o at o*OH*OW*bc) rescaled by mult and bias, after a ReLU when relu.
type quadOut struct {
	bytes      []byte
	geo        kernels.QuadGeom
	inv, hi    float32
	f          []float32
	mult, bias []float32
	relu       bool
	add        []float32 // added to the float32 rows before the ReLU (a residual sum)
	// sh, when not nil, also receives the float32 rows as byte levels
	// (inverse scale shInv, 0..shHi) in a quad tensor of geometry shGeo.
	sh          []byte
	shGeo       kernels.QuadGeom
	shInv, shHi float32
}

// addPartial adds add to the rescaled rows dst of a partial tile, then
// applies the ReLU when withRelu (vnniOPGo's order).
func addPartial(dst, add []float32, withRelu bool) {
	for j := range dst {
		y := dst[j] + add[j]
		if withRelu && !(y > 0) {
			y = 0
		}
		dst[j] = y
	}
}

// quadGemm runs int8 layer l (packed weights a) on the quad tensor x for
// bc samples, output row by output row in tiles of 4 channels x 64
// columns; a strided convolution first gathers each output row's panel.
func (w *worker) quadGemm(l *qlayer, a []int8, x []byte, bc int, out *quadOut) {
	kg := l.kpad / 4
	offs := w.offs[:kg]
	gi := l.inGeo
	oh, ow, kh, kw := l.outS.H, l.outS.W, l.k, l.k
	if !l.conv {
		oh, ow, kh, kw = 1, 1, gi.H, gi.W
	}
	cols := ow * bc
	npad := kernels.RoundUp64(cols)
	hp, wp := gi.H+2*gi.P, gi.W+2*gi.P
	gather := l.conv && l.stride != 1
	// A strided convolution with byte output and whole 16-sample blocks
	// reads its input in place, each 16-column block of a tile where its
	// pixel is (see VNNIOQZ); others gather each output row's panel.
	inPlace := gather && out.bytes != nil && bc%16 == 0
	if inPlace {
		gather = false
	}
	g := 0
	for c4 := 0; c4 < gi.C4(); c4++ {
		for ky := 0; ky < kh; ky++ {
			for kx := 0; kx < kw; kx++ {
				if gather {
					offs[g] = g * npad * 4
				} else {
					offs[g] = ((c4*hp+ky)*wp + kx) * bc * 4
				}
				g++
			}
		}
	}
	omax := offs[kg-1]
	if out.bytes != nil {
		w.borders.clear(out.bytes, out.geo, bc)
	}
	if out.sh != nil {
		w.borders.clear(out.sh, out.shGeo, bc)
	}
	ldc := oh * ow * bc
	for oy := 0; oy < oh; oy++ {
		var b []byte
		if gather {
			w.gatherRow(l, x, oy, bc, npad)
			b = w.panel
		} else {
			b = x[oy*l.stride*wp*bc*4:]
		}
		for j0 := 0; j0 < cols; j0 += 64 {
			bt := b[j0*4:]
			nc := min(64, cols-j0)
			i0 := 0
			if nc == 64 && !inPlace {
				i0 = quadBlocks(l, a, bt, offs, omax, oy*cols+j0, ldc, oy, j0, bc, out)
			}
			for ; i0 < l.m4; i0 += 4 {
				ai := a[i0*l.kpad:]
				if inPlace {
					off := out.geo.Pixel(i0/4, oy, 0, bc) + j0*4
					zoff, zmax := stridedBlocks(j0, cols, bc, l.stride, ow)
					if nc == 64 {
						kernels.VNNIOQZ(kg, ai, l.kpad, b, offs, omax, &zoff, zmax, out.bytes[off:], out.mult[i0:], out.bias[i0:], out.inv, out.hi)
						continue
					}
					kernels.VNNIOQZ(kg, ai, l.kpad, b, offs, omax, &zoff, zmax, w.tileB, out.mult[i0:], out.bias[i0:], out.inv, out.hi)
					copy(out.bytes[off:off+4*nc], w.tileB)
					continue
				}
				// What quadBlocks left: partial tiles, and a float32
				// output's partial last row block.
				if out.bytes != nil {
					off := out.geo.Pixel(i0/4, oy, 0, bc) + j0*4
					kernels.VNNIOQ(kg, ai, l.kpad, bt, offs, omax, w.tileB, out.mult[i0:], out.bias[i0:], out.inv, out.hi)
					copy(out.bytes[off:off+4*nc], w.tileB)
					continue
				}
				c := i0*ldc + oy*cols + j0
				kernels.VNNIOP(kg, ai, l.kpad, bt, offs, omax, w.tile, 64, out.mult[i0:], out.bias[i0:], out.relu && out.add == nil, nil)
				var rows [4][]float32
				for i := i0; i < min(i0+4, l.out); i++ {
					dst := out.f[c+(i-i0)*ldc : c+(i-i0)*ldc+nc]
					copy(dst, w.tile[(i-i0)*64:])
					if out.add != nil {
						addPartial(dst, out.add[c+(i-i0)*ldc:], out.relu)
					}
					rows[i-i0] = dst
				}
				if out.sh != nil {
					off := out.shGeo.Pixel(i0/4, oy, 0, bc) + j0*4
					kernels.QuadRows(out.sh[off:], &rows, nc, out.shInv, out.shHi, w.zeroF)
				}
			}
		}
	}
}

// quadBlocks runs the whole row blocks of a full 64-column tile (output
// row oy, columns j0.., float32 offset c) of quadGemm's layer l in one
// kernel call, and returns the first output row it left to the per-tile
// code: l.m4 (none left) for byte output, l.out rounded down to 4 for
// float32 rows (a partial last block needs the per-tile path).
func quadBlocks(l *qlayer, a []int8, bt []byte, offs []int, omax, c, ldc, oy, j0, bc int, out *quadOut) int {
	kg := l.kpad / 4
	if out.bytes != nil {
		off := out.geo.Pixel(0, oy, 0, bc) + j0*4
		kernels.VNNIOQBlocks(l.m4/4, kg, a, l.kpad, bt, offs, omax, out.bytes[off:], out.geo.Plane(bc), out.mult, out.bias, out.inv, out.hi)
		return l.m4
	}
	n := l.out / 4
	if n == 0 {
		return 0
	}
	var add []float32
	if out.add != nil {
		add = out.add[c:]
	}
	if out.sh != nil {
		off := out.shGeo.Pixel(0, oy, 0, bc) + j0*4
		kernels.VNNIOPQBlocks(n, kg, a, l.kpad, bt, offs, omax, out.f[c:], ldc, out.mult, out.bias, out.relu, add, out.sh[off:], out.shGeo.Plane(bc), out.shInv, out.shHi)
	} else {
		kernels.VNNIOPBlocks(n, kg, a, l.kpad, bt, offs, omax, out.f[c:], ldc, out.mult, out.bias, out.relu, add)
	}
	return 4 * n
}

// shadowBufs are a worker's buffers for residual sums' levels (see
// planShadows), one per quad geometry, made on first use.
type shadowBufs struct {
	geo []kernels.QuadGeom
	buf [][]byte
}

// get returns the buffer for quad tensors of geometry q and up to chunk
// samples (with 256 bytes of slack: a tile may read past the tensor).
func (s *shadowBufs) get(q kernels.QuadGeom, chunk int) []byte {
	for i, g := range s.geo {
		if g == q {
			return s.buf[i]
		}
	}
	s.geo = append(s.geo, q)
	s.buf = append(s.buf, make([]byte, q.Size(chunk)+256))
	return s.buf[len(s.buf)-1]
}

// quadBorders remembers, per byte buffer an int8 GEMM writes (the worker's
// ubufs and xsh), the geometry and chunk size for which its padding is
// known to be zero. The GEMM writes only the interior. Every other writer
// of these buffers (ToQuad, PostQuad, PoolQuad) zeroes the border of the
// geometry and chunk size it writes and must say so with wrote: its
// interior at another chunk size can cover another chunk size's border
// (a race-scored candidate's short last chunk, then a full one). A buffer
// of xsh holds several sums of one geometry.
type quadBorders struct {
	buf [][]byte
	geo []kernels.QuadGeom
	bc  []int
}

// clear zeroes the padding of the quad tensor t (geometry q, bc samples)
// unless it is known to be zero.
func (b *quadBorders) clear(t []byte, q kernels.QuadGeom, bc int) {
	for i := range b.buf {
		if &b.buf[i][0] == &t[0] {
			if b.geo[i] == q && b.bc[i] == bc {
				return
			}
			q.ClearBorder(t, bc)
			b.geo[i], b.bc[i] = q, bc
			return
		}
	}
	q.ClearBorder(t, bc)
	b.buf = append(b.buf, t)
	b.geo = append(b.geo, q)
	b.bc = append(b.bc, bc)
}

// wrote records that t now holds a quad tensor of geometry q and bc
// samples written with its border (ToQuad, PostQuad, PoolQuad), so that
// border is zero and no other is known to be.
func (b *quadBorders) wrote(t []byte, q kernels.QuadGeom, bc int) {
	for i := range b.buf {
		if &b.buf[i][0] == &t[0] {
			b.geo[i], b.bc[i] = q, bc
			return
		}
	}
	b.buf = append(b.buf, t)
	b.geo = append(b.geo, q)
	b.bc = append(b.bc, bc)
}

// stridedBlocks returns the byte offsets, from the first input row of an
// output row of a stride-s convolution, of the four 16-column blocks of
// the tile at column j0 (columns (ox, b), bc samples a multiple of 16, ow
// output pixels, cols = ow*bc columns; blocks past the last column repeat
// the first), and the largest offset any tile's block has.
func stridedBlocks(j0, cols, bc, s, ow int) (zoff [4]int, zmax int) {
	for t := range zoff {
		j := j0 + 16*t
		if j >= cols {
			j = j0
		}
		zoff[t] = ((j/bc)*s*bc + j%bc) * 4
	}
	return zoff, ((ow-1)*s*bc + bc - 16) * 4
}

// gatherRow fills w.panel with the K groups of output row oy of strided
// convolution l: group g = (c4, ky, kx) at g*npad*4, its columns (ox, b)
// the 4-byte words of input pixel (oy*s+ky, ox*s+kx) (padded
// coordinates).
func (w *worker) gatherRow(l *qlayer, x []byte, oy, bc, npad int) {
	gi := l.inGeo
	hp, wp := gi.H+2*gi.P, gi.W+2*gi.P
	blk := bc * 4
	s := l.stride
	g := 0
	for c4 := 0; c4 < gi.C4(); c4++ {
		for ky := 0; ky < l.k; ky++ {
			for kx := 0; kx < l.k; kx++ {
				dst := w.panel[g*npad*4:]
				row := ((c4*hp + oy*s + ky) * wp) * blk
				for ox := 0; ox < l.outS.W; ox++ {
					src := row + (ox*s+kx)*blk
					copy(dst[ox*blk:(ox+1)*blk], x[src:src+blk])
				}
				g++
			}
		}
	}
}

// toLevelsU8 stores the float32 output of node i (computed by the float32
// path) as the activation levels of its byte consumers.
func (w *worker) toLevelsU8(i, bc int) {
	n := w.n
	s := n.nodeSlot[i]
	q := n.nodeQ[i]
	_, hi := q.Levels()
	kernels.ToQuad(w.ubufs[s], w.bufs[s], n.slotGeo[s], bc, 1/q.Scale, hi, w.zeroF)
	w.borders.wrote(w.ubufs[s], n.slotGeo[s], bc)
}

// execOpU8 runs a node whose output is kept as byte levels (max pooling;
// the others are aliases).
func (w *worker) execOpU8(i, bc int) {
	n := w.n
	node := &n.g.Nodes[i]
	if aliasOp(node.Op, n.fused[i]) {
		return
	}
	if node.Op != nn.OpMaxPool {
		panic(fmt.Sprintf("quant: op %q on byte levels", node.Op))
	}
	si, so := n.nodeSlot[node.Inputs[0]], n.nodeSlot[i]
	kernels.PoolQuad(w.ubufs[so], n.slotGeo[so], w.ubufs[si], n.slotGeo[si], node.Kernel, node.Stride, bc)
	w.borders.wrote(w.ubufs[so], n.slotGeo[so], bc)
}

// layerFullU8 is layerFull for a float32-path layer whose output is kept
// as byte levels: the accumulator goes straight to the quad tensor
// (rescaled and quantized in one pass; the float32 output is not needed).
func (w *worker) layerFullU8(li int, weights []float32, bc int, quantize bool) {
	n := w.n
	l := &n.layers[li]
	xq := w.bufs[l.xqSlot]
	if quantize && l.act.Enabled() {
		in := w.bufs[l.inSlot][:l.inS.Size()*bc]
		l.act.QuantizeSlice(xq[:len(in)], in)
	}
	acc := w.bufs[l.accSlot]
	l.dense(weights[l.off:l.off+l.out*l.ckk], xq, acc, w.col, bc)
	per := l.outS.H * l.outS.W * bc
	w.accToLevels(li, func(o int) []float32 { return acc[o*per : (o+1)*per] }, bc)
}

// accToLevels writes the output of layer li, whose output channel o has
// the accumulator rows(o), as the byte levels of its consumers.
func (w *worker) accToLevels(li int, rows func(o int) []float32, bc int) {
	n := w.n
	l := &n.layers[li]
	s := n.nodeSlot[l.node]
	q := n.nodeQ[l.node]
	_, hi := q.Levels()
	kernels.PostQuad(w.ubufs[s], n.slotGeo[s], bc, rows, l.mult, l.bias, 1/q.Scale, hi, w.zeroF)
	w.borders.wrote(w.ubufs[s], n.slotGeo[s], bc)
}

// layerSparseU8 is layerSparse for a layer whose output is kept as byte
// levels: the touched channels' accumulators are updated weight by weight,
// and every channel goes from its accumulator (updated or cached) to the
// byte levels in one pass.
func (e *Evaluator) layerSparseU8(w *worker, li, c, bc int) {
	acc, base, per, mask := e.sparseAccumulate(w, li, c, bc)
	w.accToLevels(li, func(o int) []float32 {
		if mask[o] {
			return acc[o*per : (o+1)*per]
		}
		return base[o*per : (o+1)*per]
	}, bc)
}

// forwardInt is forwardAll on the integer path (every node recomputed):
// integer-path layers as int8 GEMMs, byte nodes on bytes, the rest as the
// float32 path computes them. The logits are the float32 path's, bit for
// bit.
func (w *worker) forwardInt(weights []float32, q []int8, bc int) {
	n := w.n
	for i := 1; i < len(n.g.Nodes); i++ {
		if li := n.layerOf[i]; li >= 0 {
			switch {
			case n.layers[li].intPath:
				w.layerInt(li, q, bc, true)
			case n.u8[i]:
				w.layerFullU8(li, weights, bc, true)
			default:
				w.layerFull(li, weights, nil, bc, true)
			}
			continue
		}
		switch {
		case n.addBy[i] >= 0:
			// computed by the layer feeding it
		case n.u8[i]:
			w.execOpU8(i, bc)
		default:
			n.execOp(i, w.bufs, bc)
		}
	}
}

// nodeConsumers lists, for each node, the nodes that read it.
func nodeConsumers(nodes []nn.Node) [][]int {
	consumers := make([][]int, len(nodes))
	for i, node := range nodes {
		for _, u := range node.Inputs {
			consumers[u] = append(consumers[u], i)
		}
	}
	return consumers
}
