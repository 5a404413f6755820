package engine

import (
	"github.com/ccq-project/ccq/quant"

	"fmt"
	"math"
	"slices"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/nn/gemm"
	"github.com/ccq-project/ccq/quant/internal/kernels"
)

// The forward engine shared by the evaluator, model evaluation and the
// baselines' calibration passes.
//
// Samples are processed in chunks of at most net.chunk samples. Inside a
// chunk every value (a node output, a quantized layer's quantized input or
// its accumulator) is stored feature-major with the samples innermost:
// element (c, y, x) of sample b lives at ((c*H+y)*W+x)*bc + b, bc being the
// chunk's sample count. A convolution is then im2col + one GEMM per block of
// output rows, a linear layer one GEMM, and the contribution of one changed
// weight to a layer's accumulator is a few long AXPYs (one per output row of
// a convolution, one for a linear layer).
//
// A quantized layer computes acc = W_levels * xq, with W_levels the integer
// levels as float32 and xq either the float input (weights-only) or the
// input's activation levels; then y = acc*mult[o] + bias[o] with mult[o] =
// weight scale * activation scale. With quantized activations acc is a sum
// of integer products, exact in float32 below 2^24, so an incremental update
// of acc gives bit-for-bit the same value as recomputing it.

// colBudget is the im2col block size in floats (fits the L2 cache).
const colBudget = 1 << 16

// slot is one stored value per sample.
type slot struct {
	size   int  // floats per sample
	cached bool // kept for the whole batch by the evaluator
}

// qlayer is a compiled conv or linear layer.
type qlayer struct {
	name                    string
	node                    int
	conv                    bool
	out, in, k, stride, pad int // linear: k = 1, in = features
	inS, outS               nn.Shape
	ckk                     int // weights per output channel
	off                     int // offset of the weights in the flat vector
	mult, bias              []float32
	act                     quant.ActQuant
	inSlot, xqSlot          int
	accSlot, ySlot          int
	sparseMax               int  // candidate deltas of at most this many weights are applied as AXPYs
	rowsPer                 int  // im2col output rows per block (set per chunk size)
	relu                    bool // the ReLU after this layer is fused into its output
	// chainTo is the layer that consumes this layer's output through
	// channel-wise operations only (batch norm, fused ReLU, max pooling,
	// flattening), each the sole consumer of the previous one, or -1;
	// chain lists those operations' nodes in order.
	chainTo int
	chain   []int
	// int8 is set when the layer's input is an unsigned quantizer: its
	// dense products may run as int8 GEMMs on its input in the quad
	// layout of geometry inGeo (see quant/internal/kernels/quad.go), the weights packed at qoff
	// in the packed weight vector in the same K order (m4 rows of kpad
	// bytes; kk = K*K for a convolution, H*W of the flattened input for a
	// linear layer); ones4 and zeros4 (m4 values) make the GEMM's
	// epilogue return the accumulator itself.
	int8          bool
	qoff, kpad    int
	m4, kk        int
	inGeo         kernels.QuadGeom
	ones4, zeros4 []float32
	// intPath is set when candidates recompute the layer on the integer
	// path (see intpath.go); mult4 and bias4 are mult and bias padded
	// with zeros to m4 rows.
	intPath      bool
	mult4, bias4 []float32
	// rowCheck is set when some weights could take the layer's
	// accumulators to 2^24 (see rowLimit): the evaluator then checks the
	// base and each candidate, and runs the layer on the float32 path
	// for those that could.
	rowCheck bool
	// The fused float32 path (denseEp) computes a convolution as an
	// implicit GEMM: the input, copied with its
	// zero padding around each channel and, for a stride s > 1, split
	// into s*s phase planes (padLen floats per sample, see padInput), is
	// read in place through taps, the offset in pixels of each weight's
	// input (channel c, kernel row ky, column kx) from the input pixel of
	// output pixel (0, 0) in that layout; output row oy starts padRow*oy
	// pixels further.
	padLen, padRow int
	taps           []int
}

// net is a compiled network for chunks of up to chunk samples.
type net struct {
	g        nn.Graph
	layers   []qlayer
	layerOf  []int // node -> layer index, or -1
	nodeSlot []int // node -> slot of its output
	slots    []slot
	chunk    int
	nvars    int
	colSize  int    // floats of the im2col buffer
	nq       int    // bytes of the packed int8 weights
	quadMax  int    // bytes of the largest int8 layer input (quad layout, one chunk)
	panelMax int    // bytes of the largest gathered panel (strided int8 convolutions)
	kgMax    int    // largest K/4 of an int8 layer
	rowMax   int    // floats of the longest row quantized into a quad tensor
	fused    []bool // ReLU nodes computed by the layer or sum before them
	addRelu  []bool // sums whose ReLU is fused into them
	// The integer path (see planInteger): intOn when some layer uses it;
	// per node, u8 when its output is kept as byte activation levels of
	// the quantizer nodeQ; per slot, u8Slot when it holds such bytes.
	intOn   bool
	u8      []bool
	nodeQ   []quant.ActQuant
	u8Slot  []bool
	slotGeo []kernels.QuadGeom // per byte slot, its quad geometry
	// Residual sums computed by the epilogue of the layer feeding them
	// (see planAdds): per layer, the sum node (or -1) and its other
	// input; per node, the layer computing it (or -1).
	addInto, addOther []int
	addBy             []int
	// Byte copies of those sums (see planShadows): per layer, the
	// integer-path consumer whose input levels its epilogue also writes
	// (or -1); per layer, the layer whose epilogue wrote its input levels
	// (or -1).
	shadowTo, shadowFrom []int
	// The same for the float32 path (see planFloatAdds): per layer, the
	// sum node its fused epilogue computes (or -1); per node, the layer
	// computing it (or -1); per layer, whether its output y needs to be
	// stored at all (it is cached, or the sum is not fused).
	fAddInto []int
	fAddBy   []int
	fKeepY   []bool
	// scratchOf maps each slot to the slot whose worker scratch buffer it
	// uses in the evaluator (see planScratch).
	scratchOf []int
	// padTo is, per layer, the next layer when that one is a float32-path
	// convolution with a padded input (padLen > 0) reading this layer's
	// output as it is: this layer's fused epilogue then also writes that
	// output in the padded layout, so that the next layer needs no
	// padInput pass (see layerFused); else -1. padMax is the floats of
	// the largest padded input of a chunk. padOnly marks the layers with a padTo
	// whose output nothing else reads (but the residual sum of a padRes
	// layer, which reads it padded): a candidate's output then goes to
	// the padded layout only. padRes marks the layers with a padTo and a
	// fused residual sum whose other input is the padded input of the
	// layer before, in the layout of the next one's (a ResNet basic
	// block's conv2): a candidate's sum is computed in place in that
	// padded buffer, which becomes the next layer's padded input.
	padTo   []int
	padOnly []bool
	padRes  []bool
	padMax  int
}

// newNet compiles graph g with the given layers (one per conv/linear node,
// in graph order; weights are passed at run time), activation quantizers
// and multipliers. chunk 0 picks a chunk size from the memory footprint.
//
// With fuse set, a ReLU that is the only consumer of a layer's output
// (directly or through its batch norm) is computed by the layer itself.
func newNet(g nn.Graph, layers []qlayer, chunk int, fuse bool) (*net, error) {
	n := &net{g: g, layers: layers, layerOf: make([]int, len(g.Nodes)), nodeSlot: make([]int, len(g.Nodes)),
		fused: make([]bool, len(g.Nodes)), addRelu: make([]bool, len(g.Nodes))}
	for i := range n.layerOf {
		n.layerOf[i] = -1
	}
	for li := range layers {
		n.layerOf[layers[li].node] = li
	}
	if fuse {
		consumers := nodeConsumers(g.Nodes)
		for li := range layers {
			out := layers[li].node
			if c := consumers[out]; len(c) == 1 && g.Nodes[c[0]].Op == nn.OpBatchNorm {
				out = c[0]
			}
			if c := consumers[out]; len(c) == 1 && g.Nodes[c[0]].Op == nn.OpReLU {
				n.fused[c[0]] = true
				layers[li].relu = true
			}
		}
		for i, node := range g.Nodes {
			if c := consumers[i]; node.Op == nn.OpAdd && len(c) == 1 && g.Nodes[c[0]].Op == nn.OpReLU {
				n.fused[c[0]] = true
				n.addRelu[i] = true
			}
		}
	}
	newSlot := func(size int) int {
		n.slots = append(n.slots, slot{size: size})
		return len(n.slots) - 1
	}
	off := 0
	for i, node := range g.Nodes {
		switch node.Op {
		case nn.OpBatchNorm, nn.OpFlatten:
			n.nodeSlot[i] = n.nodeSlot[node.Inputs[0]]
		case nn.OpReLU:
			if n.fused[i] {
				n.nodeSlot[i] = n.nodeSlot[node.Inputs[0]]
			} else {
				n.nodeSlot[i] = newSlot(node.OutShape.Size())
			}
		case nn.OpConv, nn.OpLinear:
			li := n.layerOf[i]
			if li < 0 {
				return nil, fmt.Errorf("node %q has no quantized layer", node.Name)
			}
			l := &n.layers[li]
			l.inSlot = n.nodeSlot[node.Inputs[0]]
			l.inS = g.Nodes[node.Inputs[0]].OutShape
			l.outS = node.OutShape
			if l.act.Enabled() {
				l.xqSlot = newSlot(l.inS.Size())
			} else {
				l.xqSlot = l.inSlot
			}
			l.accSlot = newSlot(node.OutShape.Size())
			l.ySlot = newSlot(node.OutShape.Size())
			n.nodeSlot[i] = l.ySlot
			l.conv = node.Op == nn.OpConv
			l.out, l.in = node.Out, node.In
			l.k, l.stride, l.pad = 1, 1, 0
			if l.conv {
				l.k, l.stride, l.pad = node.Kernel, node.Stride, node.Padding
			}
			l.ckk = l.in * l.k * l.k
			l.off = off
			off += l.out * l.ckk
			if l.sparseMax == 0 {
				l.sparseMax = l.out * l.ckk / 4
			}
		default:
			n.nodeSlot[i] = newSlot(node.OutShape.Size())
		}
	}
	n.nvars = off
	n.findChains()
	// The evaluator caches a value when a candidate may need it unchanged
	// while recomputing a consumer: the quantized input and accumulator of
	// every layer, and any input u of a node v such that some layer
	// reaches v but not u.
	reach := reachability(g)
	for li := range n.layers {
		l := &n.layers[li]
		n.slots[l.xqSlot].cached = true
		n.slots[l.accSlot].cached = true
	}
	for v, node := range g.Nodes {
		if n.layerOf[v] >= 0 {
			continue
		}
		for _, u := range node.Inputs {
			for _, l := range n.layers {
				if reach[l.node][v] && !reach[l.node][u] {
					n.slots[n.nodeSlot[u]].cached = true
				}
			}
		}
	}
	if chunk <= 0 {
		foot := 0
		for _, s := range n.slots {
			foot += s.size
		}
		// Chunks of 8 MB of activations, but at least 16 samples: below
		// that the per-chunk overhead of im2col and GEMM calls dominates
		// (ResNet-20 runs 33% faster at 16 than at 2).
		chunk = 256
		for chunk > 16 && chunk*foot*4 > 8<<20 {
			chunk /= 2
		}
	}
	n.chunk = chunk
	for li := range n.layers {
		l := &n.layers[li]
		if l.conv {
			row := l.ckk * l.outS.W * chunk
			l.rowsPer = max(1, colBudget/row)
			l.rowsPer = min(l.rowsPer, l.outS.H)
			n.colSize = max(n.colSize, l.rowsPer*row)
		}
		if l.conv {
			l.planImplicit()
			n.colSize = max(n.colSize, gemm.PlanRows(l.out, l.ckk).PackedLen())
			n.padMax = max(n.padMax, l.padLen*chunk)
		}
		if !l.act.Enabled() || l.act.Signed || l.act.Bits > 8 || !intKernels() {
			continue
		}
		l.int8 = true
		l.kk = l.k * l.k
		l.inGeo = kernels.QuadGeom{C: l.in, H: l.inS.H, W: l.inS.W, P: l.pad}
		if !l.conv {
			src := g.Nodes[l.node].Inputs[0]
			if g.Nodes[src].Op == nn.OpFlatten {
				src = g.Nodes[src].Inputs[0]
			}
			s := g.Nodes[src].OutShape
			l.inGeo = kernels.QuadGeom{C: s.C, H: s.H, W: s.W}
			l.kk = s.H * s.W
		}
		l.kpad = l.inGeo.C4() * l.kk * 4
		l.m4 = kernels.RoundUp4(l.out)
		l.qoff = n.nq
		n.nq += l.m4 * l.kpad
		l.ones4, l.zeros4 = make([]float32, l.m4), make([]float32, l.m4)
		for i := range l.ones4 {
			l.ones4[i] = 1
		}
		n.quadMax = max(n.quadMax, l.inGeo.Size(chunk))
		n.kgMax = max(n.kgMax, l.kpad/4)
		n.rowMax = max(n.rowMax, l.inGeo.W*chunk)
		if l.conv && l.stride != 1 {
			n.panelMax = max(n.panelMax, l.kpad*kernels.RoundUp64(l.outS.W*chunk))
		}
	}
	return n, nil
}

// findChains sets every layer's chainTo and chain (see qlayer).
func (n *net) findChains() {
	g := n.g
	consumers := nodeConsumers(g.Nodes)
	for li := range n.layers {
		l := &n.layers[li]
		l.chainTo, l.chain = -1, nil
		cur := l.node
		var chain []int
		for {
			c := consumers[cur]
			if len(c) != 1 {
				break
			}
			v := c[0]
			if q := n.layerOf[v]; q >= 0 {
				l.chainTo, l.chain = q, chain
				break
			}
			op := g.Nodes[v].Op
			if op == nn.OpBatchNorm || op == nn.OpMaxPool || op == nn.OpFlatten || (op == nn.OpReLU && n.fused[v]) {
				chain = append(chain, v)
				cur = v
				continue
			}
			break
		}
	}
}

// reachability returns r with r[a][b] true when node b is a or depends on a.
func reachability(g nn.Graph) [][]bool {
	r := make([][]bool, len(g.Nodes))
	for a := range g.Nodes {
		r[a] = make([]bool, len(g.Nodes))
		r[a][a] = true
		for b := a + 1; b < len(g.Nodes); b++ {
			for _, u := range g.Nodes[b].Inputs {
				if r[a][u] {
					r[a][b] = true
				}
			}
		}
	}
	return r
}

// layersFromModel compiles a quantized model's layers and returns them with
// the flat float32 weight vector (the levels).
func layersFromModel(m *quant.Model) ([]qlayer, []float32) {
	return modelLayers(m), modelWeights(m)
}

// modelLayers compiles a quantized model's layers without their weights
// (see layersFromModel).
func modelLayers(m *quant.Model) []qlayer {
	ls := make([]qlayer, len(m.Layers))
	for i := range m.Layers {
		src := &m.Layers[i]
		l := qlayer{name: src.Name, node: src.Node, bias: src.Bias, act: src.Act}
		if m.ActBits == quant.FloatActBits {
			l.act = quant.ActQuant{Bits: quant.FloatActBits}
		}
		l.mult = make([]float32, src.Out())
		for o := range l.mult {
			l.mult[o] = src.Scale(o)
			if l.act.Enabled() {
				l.mult[o] = src.Scale(o) * l.act.Scale
			}
		}
		ls[i] = l
	}
	return ls
}

// modelWeights returns a quantized model's weight levels as float32, the
// layers' in order (see layersFromModel).
func modelWeights(m *quant.Model) []float32 {
	w := make([]float32, 0, m.NumVars())
	for i := range m.Layers {
		for _, v := range m.Layers[i].Levels {
			w = append(w, float32(v))
		}
	}
	return w
}

// layersFromFloat compiles float layers (weights as they are, multiplier
// 1); acts, when not nil, quantizes each layer's input.
func layersFromFloat(fl []quant.FloatLayer, acts []quant.ActQuant) ([]qlayer, []float32) {
	ls := make([]qlayer, len(fl))
	var w []float32
	for i := range fl {
		src := &fl[i]
		l := qlayer{name: src.Name, node: src.Node, bias: src.Bias, act: quant.ActQuant{Bits: quant.FloatActBits}}
		if acts != nil {
			l.act = acts[i]
		}
		l.mult = make([]float32, src.Shape[0])
		for o := range l.mult {
			l.mult[o] = 1
			if l.act.Enabled() {
				l.mult[o] = l.act.Scale
			}
		}
		w = append(w, src.Weight...)
		ls[i] = l
	}
	return ls, w
}

// postLayer writes y = acc*mult[o] + bias[o] for every output channel.
func (l *qlayer) postLayer(acc, y []float32, bc int) {
	per := l.outS.H * l.outS.W * bc
	for o := 0; o < l.out; o++ {
		kernels.PostVec(y[o*per:(o+1)*per], acc[o*per:(o+1)*per], l.mult[o], l.bias[o], l.relu)
	}
}

// dense computes acc = W * xq for a chunk of bc samples; w holds the
// layer's out x ckk weights.
func (l *qlayer) dense(w, xq, acc, col []float32, bc int) {
	if !l.conv {
		gemm.Sgemm(false, false, l.out, bc, l.ckk, 1, w, l.ckk, xq, bc, 0, acc, bc)
		return
	}
	oh, ow := l.outS.H, l.outS.W
	ldc := oh * ow * bc
	for oy0 := 0; oy0 < oh; oy0 += l.rowsPer {
		oy1 := min(oh, oy0+l.rowsPer)
		ncols := (oy1 - oy0) * ow * bc
		c := col[:l.ckk*ncols]
		l.im2col(xq, c, l.in, oy0, oy1, bc)
		gemm.Sgemm(false, false, l.out, ncols, l.ckk, 1, w, l.ckk, c, ncols, 0, acc[oy0*ow*bc:], ldc)
	}
}

// packWeights writes the int8-packed weights of every int8 layer (from the
// flat float32 levels w) into q.
func (n *net) packWeights(w []float32, q []int8) {
	for li := range n.layers {
		l := &n.layers[li]
		if !l.int8 {
			continue
		}
		dst := q[l.qoff : l.qoff+l.m4*l.kpad]
		clear(dst)
		for o := 0; o < l.out; o++ {
			for r, v := range w[l.off+o*l.ckk : l.off+(o+1)*l.ckk] {
				dst[o*l.kpad+l.kpos(r)] = int8(v)
			}
		}
	}
}

// kpos returns the position in a packed weight row of int8 layer l of
// the weight with index r inside its PyTorch row (input channel c, then
// kernel position or pixel): quad K order, ((c/4)*kk + r%kk)*4 + c%4.
func (l *qlayer) kpos(r int) int {
	c := r / l.kk
	return ((c>>2)*l.kk+r%l.kk)<<2 | c&3
}

// qpos returns the position in the packed int8 weights of weight j of
// int8 layer l.
func (l *qlayer) qpos(j int) int { return l.qoff + j/l.ckk*l.kpad + l.kpos(j%l.ckk) }

// im2col fills col (nch*K*K rows of (oy1-oy0)*OW*bc columns) with the
// input patches of output rows oy0..oy1 of an input x of nch channels (the
// layer's geometry otherwise).
func (l *qlayer) im2col(x, col []float32, nch, oy0, oy1, bc int) {
	im2colT(l, x, col, nch, oy0, oy1, bc)
}

// im2colT is im2col for float32 or byte values.
func im2colT[T float32 | byte](l *qlayer, x, col []T, nch, oy0, oy1, bc int) {
	h, w := l.inS.H, l.inS.W
	ow := l.outS.W
	k, s, p := l.k, l.stride, l.pad
	ncols := (oy1 - oy0) * ow * bc
	rowLen := ow * bc
	for c := 0; c < nch; c++ {
		for ky := 0; ky < k; ky++ {
			for kx := 0; kx < k; kx++ {
				r := (c*k+ky)*k + kx
				dst := col[r*ncols : (r+1)*ncols]
				ox0, ox1 := validRange(ow, w, s, p, kx)
				for oy := oy0; oy < oy1; oy++ {
					d := dst[(oy-oy0)*rowLen : (oy-oy0+1)*rowLen]
					iy := oy*s + ky - p
					if iy < 0 || iy >= h || ox1 <= ox0 {
						clear(d)
						continue
					}
					base := (c*h + iy) * w * bc
					if s == 1 {
						clear(d[:ox0*bc])
						ix0 := ox0 + kx - p
						copy(d[ox0*bc:ox1*bc], x[base+ix0*bc:base+(ix0+ox1-ox0)*bc])
						clear(d[ox1*bc:])
						continue
					}
					clear(d[:ox0*bc])
					for ox := ox0; ox < ox1; ox++ {
						ix := ox*s + kx - p
						copy(d[ox*bc:(ox+1)*bc], x[base+ix*bc:base+(ix+1)*bc])
					}
					clear(d[ox1*bc:])
				}
			}
		}
	}
}

// denseAdd adds W * x to acc for an input x of nch channels (compact:
// channel t of x holds the layer's input channel chans[t]) and the weights
// w (out x nch*K*K, or out x nch*blk for a linear layer whose input
// features come in nch blocks of blk).
func (l *qlayer) denseAdd(w, x, acc, col []float32, nch, bc int) {
	k := len(w) / l.out
	if !l.conv {
		gemm.Sgemm(false, false, l.out, bc, k, 1, w, k, x, bc, 1, acc, bc)
		return
	}
	oh, ow := l.outS.H, l.outS.W
	ldc := oh * ow * bc
	for oy0 := 0; oy0 < oh; oy0 += l.rowsPer {
		oy1 := min(oh, oy0+l.rowsPer)
		ncols := (oy1 - oy0) * ow * bc
		c := col[:k*ncols]
		l.im2col(x, c, nch, oy0, oy1, bc)
		gemm.Sgemm(false, false, l.out, ncols, k, 1, w, k, c, ncols, 1, acc[oy0*ow*bc:], ldc)
	}
}

// validRange returns the output positions [o0, o1) whose input position
// o*s + kx - p lies inside [0, n) for kernel offset kx.
func validRange(outN, n, s, p, kx int) (o0, o1 int) {
	// o*s >= p-kx  and  o*s <= n-1+p-kx
	lo := p - kx
	if lo <= 0 {
		o0 = 0
	} else {
		o0 = (lo + s - 1) / s
	}
	hi := n - 1 + p - kx
	if hi < 0 {
		return 0, 0
	}
	o1 = min(outN, hi/s+1)
	if o1 < o0 {
		o1 = o0
	}
	return o0, o1
}

// sparse adds the contribution dl * x of weight j (index inside the layer)
// to the accumulator.
func (l *qlayer) sparse(j int, dl float32, xq, acc []float32, bc int) {
	if !l.conv {
		o, i := j/l.ckk, j%l.ckk
		kernels.Axpy(dl, xq[i*bc:(i+1)*bc], acc[o*bc:(o+1)*bc])
		return
	}
	k, s, p := l.k, l.stride, l.pad
	o, r := j/l.ckk, j%l.ckk
	c, ky, kx := r/(k*k), (r/k)%k, r%k
	h, w := l.inS.H, l.inS.W
	oh, ow := l.outS.H, l.outS.W
	ox0, ox1 := validRange(ow, w, s, p, kx)
	oy0, oy1 := validRange(oh, h, s, p, ky)
	if ox1 <= ox0 {
		return
	}
	for oy := oy0; oy < oy1; oy++ {
		iy := oy*s + ky - p
		src := (c*h + iy) * w * bc
		dst := ((o*oh+oy)*ow + ox0) * bc
		if s == 1 {
			n := (ox1 - ox0) * bc
			ix0 := ox0 + kx - p
			kernels.Axpy(dl, x(xq, src+ix0*bc, n), acc[dst:dst+n])
			continue
		}
		for ox := ox0; ox < ox1; ox++ {
			ix := ox*s + kx - p
			kernels.Axpy(dl, x(xq, src+ix*bc, bc), acc[dst+(ox-ox0)*bc:dst+(ox-ox0+1)*bc])
		}
	}
}

func x(s []float32, off, n int) []float32 { return s[off : off+n] }

// execOp runs a node that is not a conv/linear layer, batch norm (folded)
// or flatten (a no-op in this layout).
func (n *net) execOp(i int, bufs [][]float32, bc int) {
	node := &n.g.Nodes[i]
	out := bufs[n.nodeSlot[i]]
	switch node.Op {
	case nn.OpReLU:
		if !n.fused[i] {
			kernels.Relu(out, bufs[n.nodeSlot[node.Inputs[0]]])
		}
	case nn.OpAdd:
		a := bufs[n.nodeSlot[node.Inputs[0]]]
		b := bufs[n.nodeSlot[node.Inputs[1]]]
		kernels.AddVec(out[:len(a)], a, b[:len(a)], n.addRelu[i])
	case nn.OpMaxPool:
		in := bufs[n.nodeSlot[node.Inputs[0]]]
		is := n.g.Nodes[node.Inputs[0]].OutShape
		os := node.OutShape
		for c := 0; c < os.C; c++ {
			poolChannel(out, in, is, os, c, bc, node.Kernel, node.Stride)
		}
	case nn.OpGlobalAvgPool:
		in := bufs[n.nodeSlot[node.Inputs[0]]]
		is := n.g.Nodes[node.Inputs[0]].OutShape
		hw := is.H * is.W
		inv := 1 / float32(hw)
		for c := 0; c < is.C; c++ {
			d := out[c*bc : (c+1)*bc]
			kernels.SumRows(d, in[c*hw*bc:(c+1)*hw*bc], hw)
			for b := range d {
				d[b] *= inv
			}
		}
	case nn.OpPad:
		in := bufs[n.nodeSlot[node.Inputs[0]]]
		is := n.g.Nodes[node.Inputs[0]].OutShape
		os := node.OutShape
		p := node.Pad
		clear(out[:os.Size()*bc])
		for c := 0; c < is.C; c++ {
			for y := 0; y < is.H; y++ {
				src := in[(c*is.H+y)*is.W*bc : ((c*is.H+y)*is.W+is.W)*bc]
				dst := ((c*os.H+y+p)*os.W + p) * bc
				copy(out[dst:dst+len(src)], src)
			}
		}
	case nn.OpShortcutA:
		in := bufs[n.nodeSlot[node.Inputs[0]]]
		is := n.g.Nodes[node.Inputs[0]].OutShape
		os := node.OutShape
		s, pc := node.Stride, node.PadChannels
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
	case nn.OpBatchNorm, nn.OpFlatten, nn.OpInput:
		// Aliases of their input (batch norm is folded into the conv).
	default:
		panic(fmt.Sprintf("quant: unsupported op %q", node.Op))
	}
}

// poolChannel computes channel c of a k x k, stride-s max pooling.
func poolChannel(out, in []float32, is, os nn.Shape, c, bc, k, s int) {
	if k == 2 && s == 2 {
		pool2x2(out, in, is, os, c, bc)
		return
	}
	for oy := 0; oy < os.H; oy++ {
		for ox := 0; ox < os.W; ox++ {
			d := out[((c*os.H+oy)*os.W+ox)*bc : ((c*os.H+oy)*os.W+ox+1)*bc]
			for ky := 0; ky < k; ky++ {
				for kx := 0; kx < k; kx++ {
					off := ((c*is.H+oy*s+ky)*is.W + ox*s + kx) * bc
					if ky == 0 && kx == 0 {
						copy(d, in[off:off+bc])
					} else {
						kernels.Vmax(d, in[off:off+bc])
					}
				}
			}
		}
	}
}

// pool2x2 computes channel c of a 2x2, stride-2 max pooling.
func pool2x2(out, in []float32, is, os nn.Shape, c, bc int) {
	for oy := 0; oy < os.H; oy++ {
		r0 := (c*is.H + 2*oy) * is.W * bc
		r1 := r0 + is.W*bc
		for ox := 0; ox < os.W; ox++ {
			o := ((c*os.H+oy)*os.W + ox) * bc
			x0, x1 := r0+2*ox*bc, r1+2*ox*bc
			kernels.Max4(out[o:o+bc], in[x0:x0+bc], in[x0+bc:x0+2*bc], in[x1:x1+bc], in[x1+bc:x1+2*bc])
		}
	}
}

// execOpMasked runs a channel-wise node (max pooling; batch norm, flatten
// and fused ReLUs are aliases) on the channels set in mask only.
func (n *net) execOpMasked(i int, bufs [][]float32, bc int, mask []bool) {
	node := &n.g.Nodes[i]
	out := bufs[n.nodeSlot[i]]
	in := bufs[n.nodeSlot[node.Inputs[0]]]
	is := n.g.Nodes[node.Inputs[0]].OutShape
	os := node.OutShape
	switch node.Op {
	case nn.OpMaxPool:
		for c := 0; c < os.C; c++ {
			if mask[c] {
				poolChannel(out, in, is, os, c, bc, node.Kernel, node.Stride)
			}
		}
	}
}

// chunkLoss adds the cross-entropy of every sample of a chunk to *loss and
// the number of correct predictions to *correct; logits are classes x bc.
// conf, when not nil, is a classes x classes confusion matrix (row: label,
// column: prediction) it counts into.
func chunkLoss(logits []float32, labels []uint8, classes, bc int, loss *float64, correct *int, conf []int) {
	for b := 0; b < bc; b++ {
		best, arg := logits[b], 0
		for k := 1; k < classes; k++ {
			if v := logits[k*bc+b]; v > best {
				best, arg = v, k
			}
		}
		var sum float64
		for k := 0; k < classes; k++ {
			sum += math.Exp(float64(logits[k*bc+b] - best))
		}
		lab := int(labels[b])
		*loss += math.Log(sum) - float64(logits[lab*bc+b]-best)
		if arg == lab {
			*correct++
		}
		if conf != nil {
			conf[lab*classes+arg]++
		}
	}
}

// floatFused reports whether layer li runs on the float32 path with its
// epilogue fused into the dense product (see layerFused): not an int8 or
// integer-path layer, not a layer whose output is kept as byte levels.
func (n *net) floatFused(li int) bool {
	l := &n.layers[li]
	return !l.int8 && !l.intPath && (n.u8 == nil || !n.u8[l.node])
}

// planFloatAdds finds the float32-path layers (floatFused) whose only
// consumer (through its folded batch norm) is a residual sum whose other
// input comes earlier in the graph, as planAdds does for the integer path:
// their fused epilogue computes the sum (and its ReLU) on each block of the
// accumulator while it is in cache, and the sum node is skipped when they
// do. It must run after planInteger.
func (n *net) planFloatAdds() {
	g := n.g
	n.fAddInto = make([]int, len(n.layers))
	n.fKeepY = make([]bool, len(n.layers))
	n.fAddBy = make([]int, len(g.Nodes))
	for i := range n.fAddBy {
		n.fAddBy[i] = -1
	}
	consumers := nodeConsumers(g.Nodes)
	for li := range n.layers {
		l := &n.layers[li]
		n.fAddInto[li] = -1
		n.fKeepY[li] = true
		if !n.floatFused(li) || l.relu {
			continue
		}
		a, _, ok := n.residualAdd(li, consumers)
		if !ok || n.nodeSlot[a] == l.ySlot {
			continue
		}
		n.fAddInto[li], n.fAddBy[a] = a, li
		n.fKeepY[li] = n.slots[l.ySlot].cached
	}
	n.padTo, n.padOnly = make([]int, len(n.layers)), make([]bool, len(n.layers))
	for li := range n.layers {
		n.padTo[li] = -1
		l := &n.layers[li]
		if li+1 == len(n.layers) || !l.conv || !n.floatFused(li) {
			continue
		}
		q := &n.layers[li+1]
		out := l.ySlot
		if a := n.fAddInto[li]; a >= 0 {
			out = n.nodeSlot[a]
		}
		if q.conv && q.padLen > 0 && n.floatFused(li+1) && !q.act.Enabled() && q.inSlot == out && q.inS == l.outS {
			n.padTo[li] = li + 1
		}
	}
	n.padRes = make([]bool, len(n.layers))
	for li := 1; li < len(n.layers); li++ {
		a := n.fAddInto[li]
		if a < 0 || n.padTo[li] < 0 {
			continue
		}
		p, q := &n.layers[li-1], &n.layers[li+1]
		in := n.g.Nodes[a].Inputs
		other := n.nodeSlot[in[0]]
		if other == n.layers[li].ySlot {
			other = n.nodeSlot[in[1]]
		}
		n.padRes[li] = p.conv && n.floatFused(li-1) && p.padLen > 0 && !p.act.Enabled() && other == p.inSlot &&
			q.stride == 1 && p.stride == 1 && p.inS == q.inS && p.pad == q.pad && p.k == q.k &&
			n.onlyReaders(other, p.node, a)
	}
	for li, q := range n.padTo {
		if q < 0 {
			continue
		}
		out, res := n.layers[q].inSlot, -1
		if q+1 < len(n.layers) && n.padRes[q+1] {
			res = n.fAddInto[q+1]
		}
		n.padOnly[li] = n.onlyReaders(out, n.layers[q].node, res)
	}
}

// onlyReaders reports whether nodes v and w (-1: none) are the only nodes
// reading slot s (nodes aliasing s do not count) and s is not the
// network's output.
func (n *net) onlyReaders(s, v, w int) bool {
	if n.nodeSlot[len(n.g.Nodes)-1] == s {
		return false
	}
	for i, node := range n.g.Nodes {
		if i == v || i == w || n.nodeSlot[i] == s {
			continue
		}
		for _, u := range node.Inputs {
			if n.nodeSlot[u] == s {
				return false
			}
		}
	}
	return true
}

// forwardFused is forwardAll with the float32-path layers run by
// layerFused (their residual sums computed by their epilogues); it gives
// the same values bit for bit.
func (w *worker) forwardFused(weights []float32, q []int8, bc int) {
	n := w.n
	w.padIn = [2]int{-1, -1}
	for i := 1; i < len(n.g.Nodes); i++ {
		if li := n.layerOf[i]; li >= 0 {
			if n.floatFused(li) {
				w.layerFused(li, weights, bc, true, true)
			} else {
				w.layerFull(li, weights, q, bc, true)
			}
			continue
		}
		if n.fAddBy[i] >= 0 {
			continue // computed by the layer feeding it
		}
		n.execOp(i, w.bufs, bc)
	}
}

// layerFused is layerFull for a floatFused layer, with the epilogue applied
// to each block of output rows right after its GEMM (while the block is in
// cache) instead of in separate passes over the whole tensors: y =
// acc*mult[o] + bias[o] (ReLU fused), and, when planFloatAdds fused the
// residual sum after the layer, that sum (and its ReLU). Every element
// goes through the same operations in the same order as layerFull followed
// by execOp of the sum, so the values are the same bit for bit. With
// keepAcc the accumulator is stored as before (the evaluator caches the
// base's); otherwise each block's goes through the start of its buffer
// (a candidate's is not read again). y is not stored when nothing reads
// it.
func (w *worker) layerFused(li int, weights []float32, bc int, quantize, keepAcc bool) {
	n := w.n
	l := &n.layers[li]
	xq := w.bufs[l.xqSlot]
	if quantize && l.act.Enabled() {
		in := w.bufs[l.inSlot][:l.inS.Size()*bc]
		l.act.QuantizeSlice(xq[:len(in)], in)
	}
	ep := epilogue{l: l, acc: w.bufs[l.accSlot], y: w.bufs[l.ySlot], per: l.outS.H * l.outS.W * bc, keepY: n.fKeepY[li], keepAcc: keepAcc}
	if a := n.fAddInto[li]; a >= 0 {
		in := n.g.Nodes[a].Inputs
		ep.sum = w.bufs[n.nodeSlot[a]]
		ep.in0, ep.in1 = w.bufs[n.nodeSlot[in[0]]], w.bufs[n.nodeSlot[in[1]]]
		ep.yFirst = n.nodeSlot[in[0]] == l.ySlot
		ep.sumRelu = n.addRelu[a]
	}
	// The padded input is in w.pads[li%2]: written by the previous
	// layer's epilogue (padIn says so), else by padInput. The next
	// layer's goes to the other buffer.
	var pad []float32
	ready := false
	if l.padLen > 0 {
		pad, ready = w.pads[li%2][:l.padLen*bc], w.padIn[li%2] == li
		w.padIn[li%2] = li
		if !ready {
			w.padZero[li%2] = l.padKey(bc) // padInput writes every pixel
		}
	}
	q := n.padTo[li]
	if q >= 0 {
		ep.next, ep.pad = &n.layers[q], w.pads[q%2][:n.layers[q].padLen*bc]
		// A candidate's output read by the next layer only (which runs
		// in full next: its input changed) and the residual sum after
		// it (computed from the padded copy) is not stored.
		ep.padOnly = n.padOnly[li] && !keepAcc
		ep.keepY = ep.keepY && !ep.padOnly
		// The previous layer's padded input, that of the next (in
		// buffer q%2), is the sum's other input: the sum is computed
		// in place there.
		// When the previous layer did not run, its input (the sum's
		// other input) is unchanged and read where it is stored: the
		// layer producing it did not run either.
		ep.resPad = n.padRes[li] && !keepAcc && w.padIn[q%2] == li-1
		w.padIn[q%2] = -1
		// The buffer's padding is zero when its last layout was next's:
		// every write leaves zeros in the padding of its layout.
		ep.clean = w.padZero[q%2] == ep.next.padKey(bc)
		w.padZero[q%2] = ep.next.padKey(bc)
	}
	l.denseEp(weights[l.off:l.off+l.out*l.ckk], xq, w.col, pad, ready, bc, &ep)
	if q >= 0 {
		w.padIn[q%2] = q
	}
}

// epilogue is the element-wise work after a layer's dense product (see
// layerFused), applied block by block.
type epilogue struct {
	l        *qlayer
	acc, y   []float32
	per      int       // values per output channel
	keepY    bool      // store y (else each block's y goes through the start of y's buffer)
	keepAcc  bool      // store acc in place (else each block's goes through the start of acc)
	sum      []float32 // the fused residual sum's output, or nil
	in0, in1 []float32 // the sum's inputs (one of them is y)
	yFirst   bool      // y is the sum's first input
	sumRelu  bool
	// next, when not nil, is the convolution reading the output (y or the
	// sum) as its input: apply also writes each output row into pad in
	// next's padded layout (see padInput), borders included.
	// With padOnly, the output is written there only.
	// With resPad, the sum's other input is read from pad (in next's
	// layout) and the sum written in place.
	// With clean, pad's padding pixels (in next's layout) are zero
	// already: the output's rows are written, not the padding around them.
	next    *qlayer
	pad     []float32
	padOnly bool
	resPad  bool
	clean   bool
}

// block returns where the accumulators of the values [c0, c1) of every
// output channel go: c, with channel o's at c[o*ldc:] (acc itself with
// keepAcc, else the start of acc's buffer).
func (ep *epilogue) block(c0, c1 int) (c []float32, ldc int) {
	if ep.keepAcc {
		return ep.acc[c0:], ep.per
	}
	return ep.acc[:ep.l.out*(c1-c0)], c1 - c0
}

// apply runs the epilogue on the values [c0, c1) of every output channel,
// their accumulators in a with channel o's at a[o*lda:] (see block).
func (ep *epilogue) apply(c0, c1 int, a []float32, lda int) {
	l := ep.l
	nv := c1 - c0
	for o := 0; o < l.out; o++ {
		lo, hi := o*ep.per+c0, o*ep.per+c1
		y := ep.y[:nv]
		if ep.keepY {
			y = ep.y[lo:hi]
		}
		var dst []float32 // where a padOnly output goes in place
		if ep.padOnly && ep.next.stride == 1 {
			dst = ep.next.padRowInterior(ep.pad, o, c0/nv, nv/l.outS.W, ep.clean)
		}
		if dst != nil && ep.sum == nil {
			kernels.PostVec(dst, a[o*lda:o*lda+nv], l.mult[o], l.bias[o], l.relu)
			continue
		}
		kernels.PostVec(y, a[o*lda:o*lda+nv], l.mult[o], l.bias[o], l.relu)
		if dst != nil && !ep.resPad {
			if ep.yFirst {
				kernels.AddVec(dst, y, ep.in1[lo:hi], ep.sumRelu)
			} else {
				kernels.AddVec(dst, ep.in0[lo:hi], y, ep.sumRelu)
			}
			continue
		}
		if ep.resPad {
			x := ep.next.padRowInterior(ep.pad, o, c0/nv, nv/l.outS.W, true)
			if ep.yFirst {
				kernels.AddVec(x, y, x, ep.sumRelu)
			} else {
				kernels.AddVec(x, x, y, ep.sumRelu)
			}
			if !ep.padOnly {
				copy(ep.sum[lo:hi], x)
			}
			continue
		}
		out := y
		if ep.sum != nil {
			out = ep.sum[lo:hi]
			if ep.yFirst {
				kernels.AddVec(out, y, ep.in1[lo:hi], ep.sumRelu)
			} else {
				kernels.AddVec(out, ep.in0[lo:hi], y, ep.sumRelu)
			}
		}
		if ep.next != nil {
			ep.next.padCopyRow(ep.pad, out, o, c0/nv, nv/l.outS.W)
		}
	}
	if ep.next != nil && !ep.clean {
		ep.padBorders(c0, c1)
	}
}

// padBorders clears next's padded rows above the first output row (when
// [c0, c1) is the first row) and below the last (when it is the last).
func (ep *epilogue) padBorders(c0, c1 int) {
	l, q := ep.l, ep.next
	if c1-c0 != l.outS.W*(ep.per/(l.outS.H*l.outS.W)) {
		panic(fmt.Sprintf("engine: a padded epilogue needs whole output rows, got values [%d, %d)", c0, c1))
	}
	bc := (c1 - c0) / l.outS.W
	oy := c0 / (c1 - c0)
	for c := 0; c < q.in; c++ {
		if oy == 0 {
			q.padClear(ep.pad, c, 0, q.pad, bc)
		}
		if oy == l.outS.H-1 {
			q.padClear(ep.pad, c, q.pad+l.outS.H, -1, bc)
		}
	}
}

// denseEp is dense followed by the epilogue ep, applied to each block of
// output rows as soon as its GEMM is done. A convolution is an implicit
// GEMM per output row (gemm.RowsPlan: the weights packed once, the
// zero-padded input, split into phase planes for a stride above 1, read in
// place) instead of im2col + Sgemm; its values are the same bit for bit
// (see gemm.RowsPlan).
//
// A convolution with padding or a stride reads its padded input from pad
// (padLen*bc floats), which padInput fills first unless ready says it
// holds the layer's input already (see epilogue.next).
func (l *qlayer) denseEp(w, xq, col, pad []float32, ready bool, bc int, ep *epilogue) {
	acc := ep.acc
	if !l.conv {
		gemm.Sgemm(false, false, l.out, bc, l.ckk, 1, w, l.ckk, xq, bc, 0, acc, bc)
		ep.apply(0, bc, acc, bc)
		return
	}
	plan := gemm.PlanRows(l.out, l.ckk)
	ap := col[:plan.PackedLen()]
	plan.PackA(ap, w, l.ckk)
	src := xq[:l.inS.Size()*bc]
	if l.padLen > 0 {
		src = pad[:l.padLen*bc]
		if !ready {
			l.padInput(xq, src, bc)
		}
	}
	n := l.outS.W * bc
	for oy := 0; oy < l.outS.H; oy++ {
		c, ldc := ep.block(oy*n, (oy+1)*n)
		plan.MulRows(ap, n, src[oy*l.padRow*bc:], l.taps, bc, 0, c, ldc)
		ep.apply(oy*n, (oy+1)*n, c, ldc)
	}
}

// planImplicit sets the implicit-GEMM fields of a convolution (see
// qlayer).
func (l *qlayer) planImplicit() {
	k, st := l.k, l.stride
	hq, wq := l.planeDims()
	l.padLen = 0
	if l.pad > 0 || st > 1 {
		l.padLen = st * st * l.in * hq * wq
	}
	l.padRow = wq
	l.taps = make([]int, l.ckk)
	for c := 0; c < l.in; c++ {
		for ky := 0; ky < k; ky++ {
			for kx := 0; kx < k; kx++ {
				plane := (ky%st)*st + kx%st
				l.taps[(c*k+ky)*k+kx] = l.padRowStart(plane, c, ky/st) + kx/st
			}
		}
	}
}

// planeDims returns the height and width of the layer's padded input, or
// of each of its phase planes for a stride s > 1: ceil((H+2p)/s) and
// ceil((W+2p)/s).
func (l *qlayer) planeDims() (hq, wq int) {
	st := l.stride
	return (l.inS.H + 2*l.pad + st - 1) / st, (l.inS.W + 2*l.pad + st - 1) / st
}

// padRowStart returns the offset, in pixels of bc samples, of row yq of
// channel c of phase plane plane in the padded input layout of padInput
// (plane 0 and yq the padded row for a stride of 1).
func (l *qlayer) padRowStart(plane, c, yq int) int {
	hq, wq := l.planeDims()
	return ((plane*l.in+c)*hq + yq) * wq
}

// padInput copies x (the layer's input, l.in channels) into xp with a
// border of l.pad zero pixels around every channel. For a stride s > 1 the
// padded input is split into s*s phase planes: padded pixel (Y, X) of
// channel c goes to plane (Y%s)*s + X%s, channel c, pixel (Y/s, X/s), so
// that an output row reads every tap as one contiguous run (see taps).
// Every pixel of every plane is written once: the image's pixels copied,
// the padding and the planes' rounding cleared (padCopyRow, padClear).
func (l *qlayer) padInput(x, xp []float32, bc int) {
	h, w := l.inS.H, l.inS.W
	row := w * bc
	for c := 0; c < l.in; c++ {
		l.padClear(xp, c, 0, l.pad, bc)
		for y := 0; y < h; y++ {
			l.padCopyRow(xp, x[(c*h+y)*row:(c*h+y+1)*row], c, y, bc)
		}
		l.padClear(xp, c, l.pad+h, -1, bc)
	}
}

// padCopyRow writes row y of input channel c (src, W*bc values) into the
// padded, phase-split layout xp of padInput, with the row's left and right
// padding and rounding.
func (l *qlayer) padCopyRow(xp, src []float32, c, y, bc int) {
	w, p, st := l.inS.W, l.pad, l.stride
	_, wq := l.planeDims()
	yy := y + p
	if st == 1 {
		copy(l.padRowInterior(xp, c, y, bc, false), src[:w*bc])
		return
	}
	for px := 0; px < st; px++ {
		plane := (yy%st)*st + px
		d := xp[l.padRowStart(plane, c, yy/st)*bc:][:wq*bc]
		for xx := px; xx < wq*st; xx += st {
			dd := d[(xx/st)*bc : (xx/st+1)*bc]
			if ix := xx - p; ix >= 0 && ix < w {
				copy(dd, src[ix*bc:(ix+1)*bc])
			} else {
				clear(dd)
			}
		}
	}
}

// padRowInterior returns where row y of input channel c goes in the padded
// layout xp of a stride-1 layer (W*bc values), its left and right padding
// cleared unless clean says they are zero already.
func (l *qlayer) padRowInterior(xp []float32, c, y, bc int, clean bool) []float32 {
	w, p := l.inS.W, l.pad
	_, wq := l.planeDims()
	o := l.padRowStart(0, c, y+p) * bc
	d := xp[o : o+wq*bc]
	if !clean {
		clear(d[:p*bc])
		clear(d[(p+w)*bc:])
	}
	return d[p*bc : (p+w)*bc]
}

// padKey identifies the padded layout of a layer's input for chunks of bc
// samples (see padInput): two layers with the same key have their zero
// padding at the same places.
type padKey struct{ c, h, w, pad, stride, bc int }

// padKey returns the key of the layer's padded input layout.
func (l *qlayer) padKey(bc int) padKey {
	return padKey{l.in, l.inS.H, l.inS.W, l.pad, l.stride, bc}
}

// padClear clears the padded rows [y0, y1) of channel c in the layout of
// padInput (y1 < 0: to the last row, rounding included).
func (l *qlayer) padClear(xp []float32, c, y0, y1, bc int) {
	st := l.stride
	hq, wq := l.planeDims()
	if y1 < 0 {
		y1 = hq * st
	}
	for yy := y0; yy < y1; yy++ {
		for px := 0; px < st; px++ {
			plane := (yy%st)*st + px
			clear(xp[l.padRowStart(plane, c, yy/st)*bc:][:wq*bc])
		}
	}
}

// planScratch lets slots whose values are never needed at the same time
// share one worker scratch buffer in the evaluator (setChunk), so that a
// candidate's forward pass cycles through a few buffers that stay in
// cache instead of one buffer per value of the network. A slot is live
// from the first to the last node that reads or writes it (a layer also
// touches its input, quantized input, accumulator and output, and the
// residual sum its epilogue computes with that sum's inputs; the last
// node's slot lives to the end: the loss reads it); two slots share a
// buffer only when one's life ends before the other's begins, and a
// buffer holds slot s only if it is at least s's size. With the integer
// path on (byte slots and more epilogues), every slot keeps its own
// buffer. It must run after planFloatAdds.
func (n *net) planScratch() {
	ns := len(n.slots)
	n.scratchOf = make([]int, ns)
	for s := range n.scratchOf {
		n.scratchOf[s] = s
	}
	if n.intOn {
		return
	}
	g := n.g
	lo, hi := make([]int, ns), make([]int, ns)
	for s := range lo {
		lo[s], hi[s] = len(g.Nodes)+1, -1
	}
	touch := func(s, i int) {
		lo[s], hi[s] = min(lo[s], i), max(hi[s], i)
	}
	for i, node := range g.Nodes {
		touch(n.nodeSlot[i], i)
		for _, u := range node.Inputs {
			touch(n.nodeSlot[u], i)
		}
		li := n.layerOf[i]
		if li < 0 {
			continue
		}
		l := &n.layers[li]
		touch(l.inSlot, i)
		touch(l.xqSlot, i)
		touch(l.accSlot, i)
		touch(l.ySlot, i)
		if a := n.fAddInto[li]; a >= 0 {
			touch(n.nodeSlot[a], i)
			for _, u := range g.Nodes[a].Inputs {
				touch(n.nodeSlot[u], i)
			}
		}
	}
	touch(n.nodeSlot[len(g.Nodes)-1], len(g.Nodes))
	order := make([]int, 0, ns)
	for s := range n.slots {
		if hi[s] >= 0 {
			order = append(order, s)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return lo[a] - lo[b] })
	// Buffers so far: the slot owning each and the last node using it.
	var owners, busy []int
	for _, s := range order {
		best := -1
		for k, o := range owners {
			if busy[k] < lo[s] && n.slots[o].size >= n.slots[s].size && (best < 0 || n.slots[o].size < n.slots[owners[best]].size) {
				best = k
			}
		}
		if best < 0 {
			owners, busy = append(owners, s), append(busy, hi[s])
			continue
		}
		n.scratchOf[s] = owners[best]
		busy[best] = hi[s]
	}
}
