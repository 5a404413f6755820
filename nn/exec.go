package nn

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// Execution plan. The executor runs the graph node by node, except that a
// ReLU whose input is a convolution, linear layer, batch norm or residual
// add used by nothing else is fused into that producer: the producer writes
// the rectified output straight into the ReLU's buffer (its own output is
// never stored), and in the backward pass the producer reads the ReLU's
// output gradient, masked by the ReLU's output. A ReLU's output, not its
// input, is all its backward pass needs, so nothing is lost.

//
// In inference a batch norm that is the only consumer of a convolution is
// also folded into it: the convolution runs with weights scaled by the
// batch norm's per-channel factor and the batch norm's shift as its bias,
// recomputed from the current parameters at each inference call.

// planFusion sets the fusion links of the model's nodes (see above).
func (m *Model) planFusion() {
	g := &m.g
	consumers := make([]int, len(g.Nodes))
	for i := range g.Nodes {
		m.rt[i].reluOut, m.rt[i].fusedInto = -1, -1
		m.rt[i].bnFold, m.rt[i].foldedInto = -1, -1
		for _, j := range g.Nodes[i].Inputs {
			consumers[j]++
		}
	}
	for b := range g.Nodes {
		if g.Nodes[b].Op != OpBatchNorm {
			continue
		}
		i := g.Nodes[b].Inputs[0]
		if g.Nodes[i].Op == OpConv && consumers[i] == 1 {
			m.rt[i].bnFold, m.rt[b].foldedInto = b, i
			m.rt[i].foldW = make([]float32, len(m.rt[i].w.Data))
			m.rt[i].foldB = make([]float32, g.Nodes[i].Out)
		}
	}
	for j := range g.Nodes {
		if g.Nodes[j].Op != OpReLU {
			continue
		}
		i := g.Nodes[j].Inputs[0]
		switch g.Nodes[i].Op {
		case OpConv, OpLinear, OpBatchNorm, OpAdd:
			if consumers[i] == 1 {
				m.rt[i].reluOut, m.rt[j].fusedInto = j, i
			}
		}
	}
}

// refreshFold recomputes the folded weights and biases of every
// convolution with a batch norm folded into it, from the current
// parameters and running statistics.
func (m *Model) refreshFold() {
	for i := range m.rt {
		rt := &m.rt[i]
		if rt.bnFold < 0 {
			continue
		}
		bn := &m.rt[rt.bnFold]
		per := len(rt.w.Data) / len(rt.foldB)
		for o := range rt.foldB {
			scale := float32(1/math.Sqrt(float64(bn.runVar[o])+bnEps)) * bn.w.Data[o]
			var bias float32
			if rt.b != nil {
				bias = rt.b.Data[o]
			}
			rt.foldB[o] = (bias-bn.runMean[o])*scale + bn.b.Data[o]
			src, dst := rt.w.Data[o*per:(o+1)*per], rt.foldW[o*per:(o+1)*per]
			for k, v := range src {
				dst[k] = v * scale
			}
		}
	}
}

// inferTarget returns the node whose buffer node i writes in inference
// (through a folded batch norm and fused ReLUs), and whether node i runs at
// all in inference.
func (m *Model) inferTarget(i int) (int, bool) {
	rt := &m.rt[i]
	if rt.fusedInto >= 0 || rt.foldedInto >= 0 {
		return -1, false
	}
	if rt.bnFold >= 0 {
		return m.out(rt.bnFold), true
	}
	return m.out(i), true
}

// out returns the node whose buffer holds node i's output: its fused ReLU,
// or itself.
func (m *Model) out(i int) int {
	if j := m.rt[i].reluOut; j >= 0 {
		return j
	}
	return i
}

// workspace holds the buffers to run a graph on up to cap samples.
type workspace struct {
	cap    int
	act    [][]float32 // per node output (act[0] is set to the input per call; nil for fused producers)
	grad   [][]float32 // per node output gradient (training only; nil where not needed)
	idx    [][]int32   // max-pool argmax (training only)
	mean   [][]float32 // batch-norm batch mean (training only)
	invstd [][]float32 // batch-norm batch 1/std (training only)
	col    [][]float32 // per thread im2col scratch
	wt     [][]float32 // per convolution node: flipped weights for convBackwardData (training only)
	dw     [][]float32 // per chunk weight-gradient accumulators, at the parameters' flat offsets
	// dwIsGrad: the only accumulator is the model's gradient storage (no
	// reduction needed).
	dwIsGrad bool
}

// newWorkspace allocates buffers for batches of up to capN samples. A
// training workspace keeps every activation Backward needs and plans the
// gradients to share memory; an inference workspace (threads must be 1)
// shares activation memory between nodes that are not alive at once.
func (m *Model) newWorkspace(capN int, train bool, threads int) *workspace {
	g := &m.g
	nn := len(g.Nodes)
	ws := &workspace{cap: capN, act: make([][]float32, nn)}
	last := nn - 1
	maxCol := 0
	for i := range g.Nodes {
		if g.Nodes[i].Op == OpConv {
			ge := &m.rt[i].geom
			if !ge.direct() {
				maxCol = max(maxCol, ge.ckk*ge.ohw)
			}
			if gt, ok := ge.transposedGeom(); ok && train {
				maxCol = max(maxCol, gt.ckk*gt.ohw)
			}
		}
	}
	ws.col = make([][]float32, threads)
	for t := range ws.col {
		ws.col[t] = make([]float32, maxCol)
	}
	size := func(i int) int { return capN * g.Nodes[i].OutShape.Size() }
	// stored reports whether node i's output has a buffer of its own.
	stored := func(i int) bool { return m.rt[i].reluOut < 0 }
	// producer is the node that writes node i's buffer.
	producer := func(i int) int {
		if p := m.rt[i].fusedInto; p >= 0 {
			return p
		}
		return i
	}
	if !train {
		// Activations: alive from the time they are written to their last
		// use; the output stays to the end (it is replaced by the caller's
		// buffer per call).
		lastUse := make([]int, nn)
		for i := range g.Nodes {
			lastUse[i] = i
			for _, j := range g.Nodes[i].Inputs {
				lastUse[j] = max(lastUse[j], i)
			}
		}
		var sizes, first, end, ids []int
		for i := 1; i < nn; i++ {
			k, runs := m.inferTarget(i)
			if !runs || k == last {
				continue
			}
			sizes = append(sizes, size(k))
			first = append(first, i)
			end = append(end, lastUse[k])
			ids = append(ids, k)
		}
		for k, v := range planBuffers(sizes, first, end) {
			ws.act[ids[k]] = v
		}
		return ws
	}
	for i := range g.Nodes {
		if stored(i) {
			ws.act[i] = make([]float32, size(i))
		}
	}
	ws.grad = make([][]float32, nn)
	ws.idx = make([][]int32, nn)
	ws.mean = make([][]float32, nn)
	ws.invstd = make([][]float32, nn)
	ws.wt = make([][]float32, nn)
	ws.dw = make([][]float32, m.trainChunks(capN))
	for c := range ws.dw {
		ws.dw[c] = make([]float32, len(m.data))
	}
	// Gradients live from the backward segment of their first writer (a
	// consumer) to the backward segment of their reader (the node itself,
	// or the producer a ReLU is fused into). Time is counted in segments,
	// not nodes: within a segment each goroutine runs ahead on its own
	// samples, and two tensors of different row sizes in one buffer would
	// overlap across goroutines.
	segOf := make([]int, nn)
	for k, seg := range m.plan.bwd {
		if seg.bn >= 0 {
			segOf[seg.bn] = k
		}
		for _, i := range seg.nodes {
			segOf[i] = k
		}
	}
	firstWrite := make([]int, nn)
	for i := range firstWrite {
		firstWrite[i] = len(m.plan.bwd)
	}
	firstWrite[last] = 0
	for i := range g.Nodes {
		switch g.Nodes[i].Op {
		case OpMaxPool:
			ws.idx[i] = make([]int32, size(i))
		case OpBatchNorm:
			ws.mean[i] = make([]float32, g.Nodes[i].OutShape.C)
			ws.invstd[i] = make([]float32, g.Nodes[i].OutShape.C)
		case OpConv:
			if m.rt[g.Nodes[i].Inputs[0]].needGrad {
				if _, ok := m.rt[i].geom.transposedGeom(); ok {
					ws.wt[i] = make([]float32, len(m.rt[i].w.Data))
				}
			}
		}
		if !m.rt[i].needGrad || m.rt[i].fusedInto >= 0 {
			continue // no backward of its own
		}
		for _, j := range g.Nodes[i].Inputs {
			firstWrite[j] = min(firstWrite[j], segOf[i])
		}
	}
	var sizes, first, end, ids []int
	for i := 1; i <= last; i++ {
		if !m.rt[i].needGrad || !stored(i) {
			continue
		}
		sizes = append(sizes, size(i))
		first = append(first, firstWrite[i])
		end = append(end, max(firstWrite[i], segOf[producer(i)]))
		ids = append(ids, i)
	}
	for k, v := range planBuffers(sizes, first, end) {
		ws.grad[ids[k]] = v
	}
	// With a single chunk and no transposed accumulators, the chunk's
	// accumulator can be the gradient itself: no reduction.
	if len(ws.dw) == 1 && !slices.ContainsFunc(ws.wt, func(w []float32) bool { return w != nil }) {
		ws.dw[0] = m.grad
		ws.dwIsGrad = true
	}
	return ws
}

// planBuffers gives each tensor k (sizes[k] values, alive from time
// first[k] to end[k] inclusive) a view into a shared buffer, such that
// tensors alive at the same time never share memory.
func planBuffers(sizes, first, end []int) [][]float32 {
	order := make([]int, len(sizes))
	for k := range order {
		order[k] = k
	}
	sort.SliceStable(order, func(a, b int) bool { return first[order[a]] < first[order[b]] })
	type buf struct{ size, busyUntil int }
	var bufs []buf
	assign := make([]int, len(sizes))
	for _, k := range order {
		best := -1
		for b := range bufs {
			if bufs[b].busyUntil >= first[k] {
				continue
			}
			// Prefer the smallest buffer that fits, else the largest one.
			if best < 0 {
				best = b
				continue
			}
			fb, fbest := bufs[b].size >= sizes[k], bufs[best].size >= sizes[k]
			switch {
			case fb && !fbest:
				best = b
			case fb && fbest && bufs[b].size < bufs[best].size:
				best = b
			case !fb && !fbest && bufs[b].size > bufs[best].size:
				best = b
			}
		}
		if best < 0 {
			bufs = append(bufs, buf{})
			best = len(bufs) - 1
		}
		bufs[best].size = max(bufs[best].size, sizes[k])
		bufs[best].busyUntil = end[k]
		assign[k] = best
	}
	mem := make([][]float32, len(bufs))
	for b := range bufs {
		mem[b] = make([]float32, bufs[b].size)
	}
	views := make([][]float32, len(sizes))
	for k := range sizes {
		views[k] = mem[assign[k]][:sizes[k]:sizes[k]]
	}
	return views
}

// Training runs in segments: a run of consecutive nodes whose work splits
// over samples runs as one parallel region (each goroutine takes the same
// samples through every node of the segment, so no barrier is needed
// between them); a training-mode batch norm, which needs the whole batch
// per channel, is a segment of its own split over channels. Weight
// gradients of convolutions and linear layers are accumulated per
// goroutine over its samples and summed, in a fixed order, once at the end
// of Backward.

// segment is a run of nodes executed as one parallel region.
type segment struct {
	bn    int   // the batch-norm node of a channel-parallel segment, or -1
	nodes []int // sample-parallel nodes, in execution order
}

// trainPlan is the static part of a training step, computed once per model.
type trainPlan struct {
	fwd, bwd []segment
	acc      [][2]bool // per node: its input gradients are accumulated (true) or overwritten
	reduce   []int     // conv and linear nodes whose weight gradients are summed over goroutines
	reduceN  int       // total values summed
}

// planTraining builds the segments, the gradient bookkeeping and the list of
// reductions.
func (m *Model) planTraining() {
	g := &m.g
	last := len(g.Nodes) - 1
	p := &trainPlan{acc: make([][2]bool, len(g.Nodes))}
	add := func(segs []segment, i int, bn bool) []segment {
		if bn {
			return append(segs, segment{bn: i})
		}
		if len(segs) == 0 || segs[len(segs)-1].bn >= 0 {
			segs = append(segs, segment{bn: -1})
		}
		segs[len(segs)-1].nodes = append(segs[len(segs)-1].nodes, i)
		return segs
	}
	for i := 1; i <= last; i++ {
		if m.rt[i].fusedInto < 0 {
			p.fwd = add(p.fwd, i, g.Nodes[i].Op == OpBatchNorm)
		}
	}
	wrote := make([]bool, len(g.Nodes))
	wrote[last] = true
	for i := last; i >= 1; i-- {
		rt := &m.rt[i]
		if !rt.needGrad || rt.fusedInto >= 0 {
			continue
		}
		for k, in := range g.Nodes[i].Inputs {
			p.acc[i][k] = wrote[in]
			if m.rt[in].needGrad {
				wrote[in] = true
			}
		}
		p.bwd = add(p.bwd, i, g.Nodes[i].Op == OpBatchNorm)
		if op := g.Nodes[i].Op; op == OpConv || op == OpLinear {
			p.reduce = append(p.reduce, i)
			p.reduceN += len(rt.w.Data)
			if rt.b != nil {
				p.reduceN += len(rt.b.Data)
			}
		}
	}
	m.plan = p
}

// trainChunks is the number of chunks a training batch of n samples is cut
// into: one to four per thread, fewer when the per-chunk weight-gradient
// accumulators would cost much next to the arithmetic. A model without
// convolutions (the MLP) is all large matrix products, which gemm splits
// across goroutines itself: it runs as one chunk, so the two levels of
// parallelism do not compete for the cores. The count depends on the
// thread count and the model only, so training stays deterministic for a
// given seed and thread count.
func (m *Model) trainChunks(n int) int {
	if m.gemmParallel() {
		return 1
	}
	per := n * m.macs / (64 * max(1, len(m.data)))
	return m.threads * max(1, min(4, per))
}

// gemmParallel reports whether the model leaves parallelism to gemm (it has
// no convolution).
func (m *Model) gemmParallel() bool {
	for i := range m.g.Nodes {
		if m.g.Nodes[i].Op == OpConv {
			return false
		}
	}
	return true
}

// Phases of a nodeJob.
const (
	phFwdSeg = iota // a forward segment over samples
	phBNFwd         // channel-parallel batch-norm training forward
	phBwdSeg        // a backward segment over samples
	phBNBwd         // channel-parallel batch-norm backward
	phReduce        // element-parallel sum of the per-goroutine weight gradients
)

// nodeJob runs one phase over a range (see the phases above).
type nodeJob struct {
	m     *Model
	ws    *workspace
	seg   *segment
	phase int
	n     int // batch size
	parts int // phReduce: number of per-goroutine accumulators
}

func (j *nodeJob) run(t, c, lo, hi int) {
	m, ws := j.m, j.ws
	switch j.phase {
	case phFwdSeg:
		for _, i := range j.seg.nodes {
			m.forwardNode(ws, i, t, lo, hi, true)
		}
	case phBNFwd:
		i := j.seg.bn
		node, rt := &m.g.Nodes[i], &m.rt[i]
		bnTrainForward(ws.act[node.Inputs[0]], rt.w.Data, rt.b.Data, ws.act[m.out(i)], ws.mean[i], ws.invstd[i],
			rt.runMean, rt.runVar, j.n, node.OutShape.C, node.OutShape.H*node.OutShape.W, lo, hi, bnEps, bnMomentum, rt.reluOut >= 0)
	case phBwdSeg:
		for _, i := range j.seg.nodes {
			m.backwardNode(ws, i, t, c, lo, hi, m.plan.acc[i])
		}
	case phBNBwd:
		i := j.seg.bn
		node, rt := &m.g.Nodes[i], &m.rt[i]
		in := node.Inputs[0]
		o := m.out(i)
		var mask []float32
		if o != i {
			mask = ws.act[o]
		}
		bnBackward(ws.act[in], rt.w.Data, ws.mean[i], ws.invstd[i], ws.grad[o], mask, rt.w.Grad, rt.b.Grad,
			ws.grad[in], j.n, node.OutShape.C, node.OutShape.H*node.OutShape.W, lo, hi, m.plan.acc[i][0])
	case phReduce:
		m.reduceGrads(ws, j.parts, lo, hi)
	}
}

// reduceGrads writes values [lo, hi) of the concatenation of the reduced
// nodes' weight and bias gradients (in plan order) as the sum of the first
// parts goroutines' accumulators. Accumulators live at the parameters'
// offsets in the flat storage; a convolution whose input gradient went
// through convBackwardData holds its weight gradient in the transposed
// layout (see unflipIndex).
func (m *Model) reduceGrads(ws *workspace, parts, lo, hi int) {
	base := 0
	for _, i := range m.plan.reduce {
		rt := &m.rt[i]
		for _, p := range []*Param{rt.w, rt.b} {
			if p == nil {
				continue
			}
			n := len(p.Data)
			a, b := max(lo, base)-base, min(hi, base+n)-base
			base += n
			if a >= b {
				continue
			}
			flipped := p == rt.w && ws.wt[i] != nil && ws.grad[m.g.Nodes[i].Inputs[0]] != nil
			for e := a; e < b; e++ {
				src := p.off + e
				if flipped {
					src = p.off + unflipIndex(&rt.geom, e)
				}
				var s float32
				for q := 0; q < parts; q++ {
					s += ws.dw[q][src]
				}
				p.Grad[e] = s
			}
		}
	}
}

// forwardNode runs node i on samples [lo, hi) with thread t's scratch. In
// training mode batch norm must go through phBNFwd instead.
func (m *Model) forwardNode(ws *workspace, i, t, lo, hi int, train bool) {
	node := &m.g.Nodes[i]
	rt := &m.rt[i]
	var x []float32
	if len(node.Inputs) > 0 {
		x = ws.act[node.Inputs[0]]
	}
	y := ws.act[m.out(i)]
	relu := rt.reluOut >= 0
	os := node.OutShape.Size()
	switch node.Op {
	case OpConv:
		if b := rt.bnFold; b >= 0 && !train {
			convForward(&rt.geom, x, rt.foldW, rt.foldB, ws.act[m.out(b)], ws.col[t], lo, hi, m.rt[b].reluOut >= 0)
			return
		}
		convForward(&rt.geom, x, rt.w.Data, biasData(rt.b), y, ws.col[t], lo, hi, relu)
	case OpLinear:
		linearForward(x, rt.w.Data, biasData(rt.b), y, node.In, node.Out, lo, hi, relu)
	case OpBatchNorm:
		bnEvalForward(x, rt.w.Data, rt.b.Data, y, rt.runMean, rt.runVar, node.OutShape.C, node.OutShape.H*node.OutShape.W, lo, hi, bnEps, relu)
	case OpReLU:
		reluForward(x, y, lo*os, hi*os)
	case OpMaxPool:
		var idx []int32
		if train {
			idx = ws.idx[i]
		}
		maxPoolForward(rt.in, node.OutShape, node.Kernel, node.Stride, x, y, idx, lo, hi)
	case OpGlobalAvgPool:
		avgPoolForward(rt.in, x, y, lo, hi)
	case OpFlatten:
		copy(y[lo*os:hi*os], x[lo*os:hi*os])
	case OpPad:
		padForward(rt.in, node.Pad, x, y, lo, hi)
	case OpShortcutA:
		shortcutAForward(rt.in, node.OutShape, node.Stride, node.PadChannels, x, y, lo, hi)
	case OpAdd:
		addForward(x, ws.act[node.Inputs[1]], y, lo*os, hi*os, relu)
	case OpFakeQuant:
		fakeQuantForward(node.Quant, x, y, lo*os, hi*os)
	}
}

// backwardNode propagates node i's output gradient on samples [lo, hi)
// (chunk c, run by worker t) to its inputs and, for convolutions and linear
// layers, writes the chunk's share of the weight gradient into the chunk's
// accumulator. A fused producer masks its ReLU's gradient first (in place).
// Batch norm has its own phase.
func (m *Model) backwardNode(ws *workspace, i, t, c, lo, hi int, acc [2]bool) {
	node := &m.g.Nodes[i]
	rt := &m.rt[i]
	o := m.out(i)
	dy := ws.grad[o]
	var x, dx []float32
	if len(node.Inputs) > 0 {
		x = ws.act[node.Inputs[0]]
		dx = ws.grad[node.Inputs[0]] // nil when not needed
	}
	os := node.OutShape.Size()
	if o != i && (node.Op == OpConv || node.Op == OpLinear) {
		reluBackward(ws.act[o], dy, dy, lo*os, hi*os, false)
	}
	switch node.Op {
	case OpConv:
		dw := ws.dw[c][rt.w.off : rt.w.off+len(rt.w.Data)]
		var db []float32
		if rt.b != nil {
			db = ws.dw[c][rt.b.off : rt.b.off+len(rt.b.Data)]
		}
		if wt := ws.wt[i]; wt != nil && dx != nil {
			// The im2col of dy serves both gradients (weights in the
			// transposed layout, see reduceGrads).
			gt, _ := rt.geom.transposedGeom()
			convBackwardData(&gt, wt, x, dy, dx, dw, db, ws.col[t], lo, hi, true, acc[0])
			return
		}
		convBackward(&rt.geom, x, rt.w.Data, dy, dw, db, dx, ws.col[t], lo, hi, true, acc[0])
	case OpLinear:
		dw := ws.dw[c][rt.w.off : rt.w.off+len(rt.w.Data)]
		var db []float32
		if rt.b != nil {
			db = ws.dw[c][rt.b.off : rt.b.off+len(rt.b.Data)]
		}
		linearBackwardW(x, dy, dw, db, node.In, node.Out, lo, hi)
		if dx != nil {
			linearBackwardX(rt.w.Data, dy, dx, node.In, node.Out, lo, hi, acc[0])
		}
	case OpReLU:
		reluBackward(ws.act[i], dy, dx, lo*os, hi*os, acc[0])
	case OpMaxPool:
		maxPoolBackward(rt.in, node.OutShape, ws.idx[i], dy, dx, lo, hi, acc[0])
	case OpGlobalAvgPool:
		avgPoolBackward(rt.in, dy, dx, lo, hi, acc[0])
	case OpFlatten:
		passGrad(dy, dx, lo*os, hi*os, acc[0])
	case OpPad:
		padBackward(rt.in, node.Pad, dy, dx, lo, hi, acc[0])
	case OpShortcutA:
		shortcutABackward(rt.in, node.OutShape, node.Stride, node.PadChannels, dy, dx, lo, hi, acc[0])
	case OpFakeQuant:
		fakeQuantBackward(node.Quant, x, dy, dx, lo*os, hi*os, acc[0])
	case OpAdd:
		dx2 := ws.grad[node.Inputs[1]]
		for k, d := range [][]float32{dx, dx2} {
			switch {
			case d == nil:
			case o != i:
				reluBackward(ws.act[o], dy, d, lo*os, hi*os, acc[k])
			default:
				passGrad(dy, d, lo*os, hi*os, acc[k])
			}
		}
	}
}

func biasData(p *Param) []float32 {
	if p == nil {
		return nil
	}
	return p.Data
}

// Forward runs the model on n samples x (n x C x H x W, normalised, NCHW)
// and returns the n x Classes logits. The returned slice is owned by the
// model and valid until the next call to Forward.
//
// With train true, batch norm uses batch statistics and updates its running
// statistics, and the activations are kept for Backward; x is copied, so the
// caller may reuse it. With train false, batch norm uses its running
// statistics and the batch is processed in independent chunks on all
// threads. Buffers are allocated on the first call for a batch size and
// reused afterwards.
func (m *Model) Forward(x []float32, n int, train bool) []float32 {
	in := m.g.Input.Size()
	if n <= 0 || len(x) < n*in {
		panic(fmt.Sprintf("nn: Forward of %d samples needs %d input values, got %d", n, n*in, len(x)))
	}
	if !train {
		return m.inferForward(x, n)
	}
	if m.tw == nil || m.tw.cap < n {
		m.tw = m.newWorkspace(n, true, m.threads)
	}
	ws := m.tw
	copy(ws.act[0], x[:n*in])
	j := &m.job
	chunks := m.trainChunks(n)
	for k := range m.plan.fwd {
		seg := &m.plan.fwd[k]
		*j = nodeJob{m: m, ws: ws, seg: seg, n: n}
		if seg.bn >= 0 {
			j.phase = phBNFwd
			c := m.g.Nodes[seg.bn].OutShape.C
			m.pool.forChunks(c, c, j)
			m.rt[seg.bn].tracked++
			continue
		}
		j.phase = phFwdSeg
		m.pool.forChunks(n, chunks, j)
	}
	*j = nodeJob{}
	m.trainN = n
	last := len(m.g.Nodes) - 1
	return ws.act[last][:n*m.g.Classes]
}

// Backward takes the gradient of the loss with respect to the logits of the
// last training Forward (n x Classes) and writes every parameter's Grad
// (overwriting it). It panics if the last Forward was not in training mode.
func (m *Model) Backward(dlogits []float32) {
	n := m.trainN
	if n == 0 {
		panic("nn: Backward without a training-mode Forward")
	}
	ws := m.tw
	last := len(m.g.Nodes) - 1
	if len(dlogits) < n*m.g.Classes {
		panic(fmt.Sprintf("nn: Backward needs %d logit gradients, got %d", n*m.g.Classes, len(dlogits)))
	}
	copy(ws.grad[last], dlogits[:n*m.g.Classes])
	for i := range m.g.Nodes {
		if ws.wt[i] != nil {
			flipWeights(&m.rt[i].geom, m.rt[i].w.Data, ws.wt[i])
		}
	}
	j := &m.job
	chunks := min(m.trainChunks(n), n)
	for k := range m.plan.bwd {
		seg := &m.plan.bwd[k]
		*j = nodeJob{m: m, ws: ws, seg: seg, n: n}
		if seg.bn >= 0 {
			j.phase = phBNBwd
			c := m.g.Nodes[seg.bn].OutShape.C
			m.pool.forChunks(c, c, j)
			continue
		}
		j.phase = phBwdSeg
		m.pool.forChunks(n, chunks, j)
	}
	if !ws.dwIsGrad {
		*j = nodeJob{m: m, ws: ws, phase: phReduce, parts: chunks}
		m.pool.forChunks(m.plan.reduceN, 4*m.threads, j)
	}
	*j = nodeJob{}
}

// inferJob runs the whole graph on a range of samples, in chunks, with the
// worker's own workspace.
type inferJob struct {
	m   *Model
	x   []float32
	out []float32
}

func (j *inferJob) run(t, _, lo, hi int) {
	m := j.m
	ws := m.iw[t]
	in, cls := m.g.Input.Size(), m.g.Classes
	last := len(m.g.Nodes) - 1
	for s := lo; s < hi; s += ws.cap {
		cnt := min(ws.cap, hi-s)
		ws.act[0] = j.x[s*in : (s+cnt)*in]
		ws.act[last] = j.out[s*cls : (s+cnt)*cls]
		for i := 1; i <= last; i++ {
			if _, runs := m.inferTarget(i); runs {
				m.forwardNode(ws, i, 0, 0, cnt, false)
			}
		}
	}
	ws.act[0], ws.act[last] = nil, nil
}

// inferChunk is the number of samples an inference workspace processes at
// once: enough for efficient matrix products, small enough that the largest
// activation stays near the caches.
func (m *Model) inferChunk() int {
	maxSize := 1
	for i := range m.g.Nodes {
		maxSize = max(maxSize, m.g.Nodes[i].OutShape.Size())
	}
	if m.gemmParallel() {
		return max(8, min(1024, (1<<21)/maxSize))
	}
	return max(8, min(256, (1<<19)/maxSize))
}

func (m *Model) inferForward(x []float32, n int) []float32 {
	if m.iw == nil {
		chunk := m.inferChunk()
		m.iw = make([]*workspace, m.threads)
		for t := range m.iw {
			m.iw[t] = m.newWorkspace(chunk, false, 1)
		}
	}
	if cap(m.logits) < n*m.g.Classes {
		m.logits = make([]float32, n*m.g.Classes)
	}
	out := m.logits[:n*m.g.Classes]
	m.refreshFold()
	j := &m.ijob
	*j = inferJob{m: m, x: x, out: out}
	chunks := (n + m.iw[0].cap - 1) / m.iw[0].cap
	if m.gemmParallel() {
		// Large matrix products only: run the chunks in turn and let gemm
		// split each product.
		for c := 0; c < chunks; c++ {
			lo, hi := chunkRange(n, chunks, c)
			j.run(0, c, lo, hi)
		}
	} else {
		m.pool.forChunks(n, chunks, j)
	}
	*j = inferJob{}
	return out
}
