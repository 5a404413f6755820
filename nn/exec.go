package nn

import (
	"fmt"
	"math"
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
	dw, db [][]float32 // per thread convolution gradient accumulators
	wrote  []bool      // backward bookkeeping: gradient of node already written
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
	maxCol, maxW, maxB := 0, 0, 0
	for i := range g.Nodes {
		if g.Nodes[i].Op == OpConv {
			ge := &m.rt[i].geom
			if !ge.direct() {
				maxCol = max(maxCol, ge.ckk*ge.ohw)
			}
			if gt, ok := ge.transposedGeom(); ok && train {
				maxCol = max(maxCol, gt.ckk*gt.ohw)
			}
			maxW = max(maxW, ge.oc*ge.ckk)
			maxB = max(maxB, ge.oc)
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
	ws.wrote = make([]bool, nn)
	ws.wt = make([][]float32, nn)
	ws.dw = make([][]float32, threads)
	ws.db = make([][]float32, threads)
	for t := 0; t < threads; t++ {
		ws.dw[t] = make([]float32, maxW)
		ws.db[t] = make([]float32, maxB)
	}
	// Gradients live, in backward time T(i) = last - i, from the backward of
	// their latest consumer to the backward of the node that reads them (the
	// producer of a fused ReLU reads the ReLU's gradient).
	maxConsumer := make([]int, nn)
	for i := range g.Nodes {
		for _, j := range g.Nodes[i].Inputs {
			maxConsumer[j] = max(maxConsumer[j], i)
		}
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
	}
	maxConsumer[last] = last
	var sizes, first, end, ids []int
	for i := 1; i <= last; i++ {
		if !m.rt[i].needGrad || !stored(i) {
			continue
		}
		sizes = append(sizes, size(i))
		first = append(first, last-maxConsumer[i])
		end = append(end, last-producer(i))
		ids = append(ids, i)
	}
	for k, v := range planBuffers(sizes, first, end) {
		ws.grad[ids[k]] = v
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

// Phases of a nodeJob.
const (
	phFwd     = iota // sample-parallel forward
	phBNFwd          // channel-parallel batch-norm training forward
	phBwd            // sample-parallel backward
	phBNBwd          // channel-parallel batch-norm backward
	phLinW           // output-feature-parallel linear weight gradient
	phReduceW        // element-parallel sum of per-thread convolution gradients
	phMask           // sample-parallel ReLU mask of a fused producer's output gradient, in place
)

// nodeJob runs one phase of one node over a range (see the phases above).
type nodeJob struct {
	m     *Model
	ws    *workspace
	i     int
	phase int
	n     int  // batch size
	train bool // forward: training mode
	acc   [2]bool
	parts int // phReduceW: number of per-thread accumulators
}

func (j *nodeJob) run(t, lo, hi int) {
	m, ws, i := j.m, j.ws, j.i
	node := &m.g.Nodes[i]
	rt := &m.rt[i]
	switch j.phase {
	case phFwd:
		m.forwardNode(ws, i, t, lo, hi, j.train)
	case phBNFwd:
		c := node.OutShape.C
		bnTrainForward(ws.act[node.Inputs[0]], rt.w.Data, rt.b.Data, ws.act[m.out(i)], ws.mean[i], ws.invstd[i],
			rt.runMean, rt.runVar, j.n, c, node.OutShape.H*node.OutShape.W, lo, hi, bnEps, bnMomentum, rt.reluOut >= 0)
	case phBwd:
		m.backwardNode(ws, i, t, lo, hi, j.acc)
	case phBNBwd:
		in := node.Inputs[0]
		o := m.out(i)
		var mask []float32
		if o != i {
			mask = ws.act[o]
		}
		bnBackward(ws.act[in], rt.w.Data, ws.mean[i], ws.invstd[i], ws.grad[o], mask, rt.w.Grad, rt.b.Grad,
			ws.grad[in], j.n, node.OutShape.C, node.OutShape.H*node.OutShape.W, lo, hi, j.acc[0])
	case phLinW:
		var db []float32
		if rt.b != nil {
			db = rt.b.Grad
		}
		linearBackwardW(ws.act[node.Inputs[0]], ws.grad[m.out(i)], rt.w.Grad, db, node.In, node.Out, j.n, lo, hi)
	case phMask:
		o := m.out(i)
		size := m.g.Nodes[o].OutShape.Size()
		reluBackward(ws.act[o], ws.grad[o], ws.grad[o], lo*size, hi*size, false)
	case phReduceW:
		nw := len(rt.w.Grad)
		flipped := ws.wt[i] != nil && ws.grad[node.Inputs[0]] != nil // accumulated by convBackwardData
		for e := lo; e < hi; e++ {
			var s float32
			if e < nw {
				src := e
				if flipped {
					src = unflipIndex(&rt.geom, e)
				}
				for p := 0; p < j.parts; p++ {
					s += ws.dw[p][src]
				}
				rt.w.Grad[e] = s
				continue
			}
			for p := 0; p < j.parts; p++ {
				s += ws.db[p][e-nw]
			}
			rt.b.Grad[e-nw] = s
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
	}
}

// backwardNode propagates node i's output gradient on samples [lo, hi) to
// its inputs (and, for convolutions, accumulates thread t's weight
// gradient). Batch norm and the linear weight gradient have their own
// phases; a fused producer's gradient must have been masked (phMask)
// first, except for the residual add, which masks as it goes.
func (m *Model) backwardNode(ws *workspace, i, t, lo, hi int, acc [2]bool) {
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
	switch node.Op {
	case OpConv:
		var db []float32
		if rt.b != nil {
			db = ws.db[t][:len(rt.b.Data)]
		}
		if wt := ws.wt[i]; wt != nil && dx != nil {
			// The im2col of dy serves both gradients (weights in the
			// transposed layout, see phReduceW).
			gt, _ := rt.geom.transposedGeom()
			convBackwardData(&gt, wt, x, dy, dx, ws.dw[t][:len(rt.w.Data)], db, ws.col[t], lo, hi, true, acc[0])
			return
		}
		convBackward(&rt.geom, x, rt.w.Data, dy, ws.dw[t][:len(rt.w.Data)], db, dx, ws.col[t], lo, hi, true, acc[0])
	case OpLinear:
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
	*j = nodeJob{m: m, ws: ws, n: n, train: true}
	for i := 1; i < len(m.g.Nodes); i++ {
		if m.rt[i].fusedInto >= 0 {
			continue
		}
		j.i = i
		if m.g.Nodes[i].Op == OpBatchNorm {
			j.phase = phBNFwd
			m.pool.forRange(m.g.Nodes[i].OutShape.C, j)
			m.rt[i].tracked++
			continue
		}
		j.phase = phFwd
		m.pool.forRange(n, j)
	}
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
	clear(ws.wrote)
	ws.wrote[last] = true
	j := &m.job
	*j = nodeJob{m: m, ws: ws, n: n}
	for i := last; i >= 1; i-- {
		node := &m.g.Nodes[i]
		rt := &m.rt[i]
		if !rt.needGrad || rt.fusedInto >= 0 {
			continue
		}
		j.i = i
		for k, in := range node.Inputs {
			j.acc[k] = ws.wrote[in]
			if m.rt[in].needGrad {
				ws.wrote[in] = true
			}
		}
		if rt.reluOut >= 0 && (node.Op == OpConv || node.Op == OpLinear) {
			j.phase = phMask
			m.pool.forRange(n, j)
		}
		switch node.Op {
		case OpBatchNorm:
			j.phase = phBNBwd
			m.pool.forRange(node.OutShape.C, j)
		case OpLinear:
			j.phase = phLinW
			m.pool.forRange(node.Out, j)
			j.phase = phBwd
			m.pool.forRange(n, j)
		case OpConv:
			if ws.wt[i] != nil {
				flipWeights(&rt.geom, rt.w.Data, ws.wt[i])
			}
			j.phase = phBwd
			parts := min(m.threads, n)
			m.pool.forRange(n, j)
			j.phase, j.parts = phReduceW, parts
			nb := 0
			if rt.b != nil {
				nb = len(rt.b.Data)
			}
			m.pool.forRange(len(rt.w.Data)+nb, j)
		default:
			j.phase = phBwd
			m.pool.forRange(n, j)
		}
	}
}

// inferJob runs the whole graph on a range of samples, in chunks, with the
// worker's own workspace.
type inferJob struct {
	m   *Model
	x   []float32
	out []float32
}

func (j *inferJob) run(t, lo, hi int) {
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
	m.pool.forRange(n, j)
	*j = inferJob{}
	return out
}
