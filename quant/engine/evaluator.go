package engine

import (
	"github.com/ccq-project/ccq/quant"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"

	"github.com/ccq-project/ccq/quant/internal/kernels"
)

// Delta is a candidate: the levels of some variables (indices into the flat
// vector of Model.Layout) that differ from the base. Indices need not be
// sorted but must not repeat.
type Delta struct {
	Indices []int32
	Levels  []int8
}

// Score is a network's fitness on a mini-batch: the mean cross-entropy and
// the number of correctly classified samples.
type Score struct {
	Loss    float64
	Correct int
}

// EvalOptions tunes an Evaluator.
type EvalOptions struct {
	// Workers is the number of goroutines scoring candidates (default
	// GOMAXPROCS).
	Workers int
	// Chunk is the number of samples processed together (default: picked
	// from the network's activation footprint, 16..256).
	Chunk int
	// SparseFraction: a delta touching at most this fraction of a layer's
	// weights, on an unchanged input, is applied to the cached accumulator
	// weight by weight; larger ones recompute the layer (default, the
	// measured break-even points on LeNet-5: 0.15 for convolutions and 0.06
	// for linear layers; 0.07 and 0.015 for layers recomputed by int8
	// GEMMs).
	SparseFraction float64
	// FullForward disables the incremental path: every candidate is a
	// full forward pass (the baseline the incremental path is measured
	// against).
	FullForward bool
}

// Evaluator scores candidate level vectors that differ from a base vector
// in a few weights, on one mini-batch at a time. Typical use, once per
// generation:
//
//	ev.ApplyBase(newBaseDelta)          // optional: move the base
//	base, _ := ev.Prepare(x, labels)    // base forward pass, caches activations
//	ev.Score(ctx, candidates, scores)   // each candidate's loss and correct count
//
// For every candidate it recomputes the network only from the first layer
// the delta touches, starting from the base's cached activations; a layer
// whose input is unchanged and whose delta is small gets its cached
// accumulator updated by the delta's contribution instead of a full
// recomputation. When that delta touches few output channels and the
// layer's output reaches the next layer through channel-wise operations
// only (ReLU, pooling, padding, flattening), those operations run on the
// touched channels and the next layer adds W' times the change of its
// input on them to its cached accumulator. Candidates are spread over Workers goroutines; each owns
// its buffers, so scoring allocates nothing per candidate. Scores equal
// those of a from-scratch forward pass of the candidate network (bit for
// bit with quantized activations, up to float32 rounding otherwise).
//
// An Evaluator is not safe for concurrent use by several goroutines.
type Evaluator struct {
	m        *quant.Model
	n        *net
	full     bool
	base     []int8    // base levels
	wbase    []float32 // base levels as float32
	qbase    []int8    // base levels int8-packed for the int8 layers
	varLayer []uint16  // variable -> layer
	workers  []*worker
	cache    [][]float32 // per slot (cached ones), chunk-major over the batch
	cap      int         // samples the cache holds
	b        *batch
	prepared bool
	baseSc   Score
	// rowAbs holds, per rowCheck layer (nil otherwise), the absolute sum
	// of the base levels of every output channel; baseFloat marks the
	// layers whose base exceeds rowLimit; floatLogged is set once the
	// fallback has been logged.
	rowAbs      [][]int32
	baseFloat   []bool
	floatLogged atomic.Bool
	losses      []float64
	corrects    []int
	// basePer holds the base's per-sample losses on the prepared batch;
	// race is ScoreRace's state.
	basePer []float64
	race    raceState
	// Score's shared state
	next  atomic.Int64
	wg    sync.WaitGroup
	cands []Delta
	out   []Score
	ctx   context.Context
	errs  []error
}

// NewEvaluator compiles a model (which it copies) for scoring.
func NewEvaluator(m *quant.Model, opt EvalOptions) (*Evaluator, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("evaluator: %w", err)
	}
	m = m.Clone()
	ls, w := layersFromModel(m)
	n, err := newNet(m.Graph, ls, opt.Chunk, true)
	if err != nil {
		return nil, fmt.Errorf("evaluator: %w", err)
	}
	_, wmax := quant.LevelRange(m.Bits)
	if why := n.planInteger(wmax, nil); why != "" {
		slog.Warn("evaluator: layers kept on the exact float32 path instead of int8", "layers", why)
	}
	n.planFloatAdds()
	n.planScratch()
	for i := range n.layers {
		l := &n.layers[i]
		frac := opt.SparseFraction
		if frac <= 0 {
			// Measured break-even points on LeNet-5 (an int8
			// recomputation is 2-4x cheaper than a float32 one).
			switch {
			case l.conv && l.int8:
				frac = 0.07
			case l.conv:
				frac = 0.15
			case l.int8:
				frac = 0.015
			default:
				frac = 0.06
			}
		}
		l.sparseMax = max(1, int(frac*float64(l.out*l.ckk)))
	}
	e := &Evaluator{m: m, n: n, full: opt.FullForward, base: m.Flat(), wbase: w, varLayer: make([]uint16, n.nvars),
		qbase: make([]int8, n.nq)}
	n.packWeights(w, e.qbase)
	for li := range n.layers {
		l := &n.layers[li]
		for j := l.off; j < l.off+l.out*l.ckk; j++ {
			e.varLayer[j] = uint16(li)
		}
	}
	e.rowAbs, e.baseFloat = make([][]int32, len(n.layers)), make([]bool, len(n.layers))
	for li := range n.layers {
		if n.layers[li].rowCheck {
			e.rowAbs[li] = make([]int32, n.layers[li].out)
		}
	}
	e.updateRowAbs()
	for i := 0; i < defaultWorkers(opt.Workers); i++ {
		wk := newWorker(i, n, true)
		copy(wk.wf, w)
		copy(wk.wq, e.qbase)
		wk.floatLayer = make([]bool, len(n.layers))
		wk.rowExtra = make([][]int32, len(n.layers))
		for li, r := range e.rowAbs {
			if r != nil {
				wk.rowExtra[li] = make([]int32, len(r))
			}
		}
		e.workers = append(e.workers, wk)
	}
	e.errs = make([]error, len(e.workers))
	return e, nil
}

// Model returns the evaluator's model with the current base levels.
func (e *Evaluator) Model() *quant.Model {
	m := e.m.Clone()
	_ = m.SetFlat(e.base)
	return m
}

// Base returns a copy of the base levels.
func (e *Evaluator) Base() []int8 { return append([]int8(nil), e.base...) }

// Layout is the flat variable layout (see Model.Layout).
func (e *Evaluator) Layout() []quant.Var { return e.m.Layout() }

// Chunk returns the number of samples processed together.
func (e *Evaluator) Chunk() int { return e.n.chunk }

// SetBase replaces the base levels. The prepared batch is kept and its
// cache recomputed on the next Score.
func (e *Evaluator) SetBase(levels []int8) error {
	if len(levels) != len(e.base) {
		return fmt.Errorf("set base: %d levels, the model has %d weights", len(levels), len(e.base))
	}
	for i, l := range levels {
		if !quant.ValidLevel(e.m.Bits, l) {
			return fmt.Errorf("set base: level %d at index %d is outside the %d-bit range", l, i, e.m.Bits)
		}
	}
	copy(e.base, levels)
	for i, l := range levels {
		e.wbase[i] = float32(l)
	}
	e.n.packWeights(e.wbase, e.qbase)
	e.updateRowAbs()
	e.syncWorkers()
	return nil
}

// updateRowAbs recomputes the base's absolute row sums of the rowCheck
// layers and which of them exceed rowLimit.
func (e *Evaluator) updateRowAbs() {
	for li, r := range e.rowAbs {
		if r == nil {
			continue
		}
		l := &e.n.layers[li]
		e.baseFloat[li] = false
		for o := range r {
			s := 0
			for _, v := range e.wbase[l.off+o*l.ckk : l.off+(o+1)*l.ckk] {
				s += int(math.Abs(float64(v)))
			}
			r[o] = int32(s)
			if s > l.rowLimit() {
				e.baseFloat[li] = true
			}
		}
		if e.baseFloat[li] {
			e.logFloat(l.name, "the base")
		}
	}
}

// logFloat logs, once per evaluator, that an int8 layer runs on the
// float32 path for some weights (who: the base or a candidate).
func (e *Evaluator) logFloat(layer, who string) {
	if e.floatLogged.CompareAndSwap(false, true) {
		slog.Warn("evaluator: an int8 layer runs on the exact float32 path where the weights could take its accumulators to 2^24", "layer", layer, "weights", who)
	}
}

// ApplyBase moves the base by a delta (the optimizer's new context vector).
func (e *Evaluator) ApplyBase(d Delta) error {
	if err := e.checkDelta(d); err != nil {
		return fmt.Errorf("apply base: %w", err)
	}
	for k, idx := range d.Indices {
		if r := e.rowAbs[e.varLayer[idx]]; r != nil {
			l := &e.n.layers[e.varLayer[idx]]
			r[(int(idx)-l.off)/l.ckk] += int32(abs8(d.Levels[k]) - abs8(e.base[idx]))
		}
		e.base[idx] = d.Levels[k]
		e.wbase[idx] = float32(d.Levels[k])
		if l := &e.n.layers[e.varLayer[idx]]; l.int8 {
			e.qbase[l.qpos(int(idx)-l.off)] = d.Levels[k]
		}
	}
	for li, r := range e.rowAbs {
		if r != nil {
			l := &e.n.layers[li]
			e.baseFloat[li] = false
			for _, v := range r {
				if int(v) > l.rowLimit() {
					e.baseFloat[li] = true
				}
			}
			if e.baseFloat[li] {
				e.logFloat(l.name, "the base")
			}
		}
	}
	e.syncWorkers()
	return nil
}

// abs8 returns |v|.
func abs8(v int8) int { return max(int(v), -int(v)) }

func (e *Evaluator) syncWorkers() {
	for _, w := range e.workers {
		copy(w.wf, e.wbase)
		copy(w.wq, e.qbase)
	}
	e.prepared = false
}

// checkDelta validates a delta (lengths, index range, level range); it
// does not detect repeated indices (Score does).
func (e *Evaluator) checkDelta(d Delta) error {
	if len(d.Indices) != len(d.Levels) {
		return fmt.Errorf("%d indices but %d levels", len(d.Indices), len(d.Levels))
	}
	for k, idx := range d.Indices {
		if idx < 0 || int(idx) >= len(e.base) {
			return fmt.Errorf("entry %d: index %d outside 0..%d", k, idx, len(e.base)-1)
		}
		if !quant.ValidLevel(e.m.Bits, d.Levels[k]) {
			return fmt.Errorf("entry %d (index %d): level %d outside the %d-bit range", k, idx, d.Levels[k], e.m.Bits)
		}
	}
	return nil
}

// Prepare sets the mini-batch (NCHW float32 normalized images and labels,
// kept by reference until the next Prepare: do not modify them), runs the
// base network on it, caches its activations and returns its score.
func (e *Evaluator) Prepare(ctx context.Context, x []float32, labels []uint8) (Score, error) {
	b, err := checkBatch(e.n, x, labels)
	if err != nil {
		return Score{}, fmt.Errorf("prepare: %w", err)
	}
	if b.n > e.cap {
		e.cache = make([][]float32, len(e.n.slots))
		for s, sl := range e.n.slots {
			if sl.cached {
				e.cache[s] = make([]float32, sl.size*b.n)
			}
		}
		e.cap = b.n
	}
	e.b = b
	e.prepared = false
	if err := e.prepare(ctx); err != nil {
		return Score{}, err
	}
	return e.baseSc, nil
}

// BaseScore returns the base's score on the prepared batch.
func (e *Evaluator) BaseScore(ctx context.Context) (Score, error) {
	if err := e.prepare(ctx); err != nil {
		return Score{}, err
	}
	return e.baseSc, nil
}

// setChunk points the worker's bufs for chunk c: cached slots in the cache
// (when base is true or the slot is unchanged), others in scratch, slots
// whose lives do not overlap sharing a buffer (see planScratch).
func (e *Evaluator) setChunk(w *worker, c, bc int, base bool) {
	off := c * e.n.chunk
	w.padIn = [2]int{-1, -1} // the padded inputs held are another chunk's
	for s, sl := range e.n.slots {
		size := sl.size * bc
		if sl.cached && (base || !w.slotChanged[s]) {
			w.bufs[s] = e.cache[s][off*sl.size : off*sl.size+size]
		} else {
			w.bufs[s] = w.scratch[e.n.scratchOf[s]][:size]
		}
	}
}

func (e *Evaluator) prepare(ctx context.Context) error {
	if e.prepared {
		return nil
	}
	if e.b == nil {
		return errors.New("no batch prepared: call Prepare first")
	}
	n := e.n
	nch := (e.b.n + n.chunk - 1) / n.chunk
	if cap(e.losses) < nch {
		e.losses = make([]float64, nch)
		e.corrects = make([]int, nch)
	}
	losses, corrects := e.losses[:nch], e.corrects[:nch]
	if cap(e.basePer) < e.b.n {
		e.basePer = make([]float64, e.b.n)
	}
	e.basePer = e.basePer[:e.b.n]
	var next atomic.Int64
	var wg sync.WaitGroup
	for _, w := range e.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c := int(next.Add(1) - 1)
				if c >= nch || ctx.Err() != nil {
					return
				}
				start, bc := n.chunkRange(c, e.b.n)
				e.setChunk(w, c, bc, true)
				w.loadInput(e.b, start, bc)
				copy(w.floatLayer, e.baseFloat)
				w.forwardFused(e.wbase, e.qbase, bc)
				losses[c], corrects[c] = 0, 0
				chunkLossPer(w.bufs[n.nodeSlot[len(n.g.Nodes)-1]], e.b.labels[start:start+bc], n.g.Classes, bc, &losses[c], &corrects[c], e.basePer[start:start+bc])
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	var loss float64
	var correct int
	for c := range losses {
		loss += losses[c]
		correct += corrects[c]
	}
	e.baseSc = Score{Loss: loss / float64(e.b.n), Correct: correct}
	e.prepared = true
	return nil
}

// Score scores every candidate on the prepared batch into out (len(out) >=
// len(cands)). It fails on an invalid delta (index or level out of range,
// repeated index) naming the candidate.
func (e *Evaluator) Score(ctx context.Context, cands []Delta, out []Score) error {
	if len(out) < len(cands) {
		return fmt.Errorf("score: %d candidates but room for %d scores", len(cands), len(out))
	}
	if err := e.prepare(ctx); err != nil {
		return fmt.Errorf("score: %w", err)
	}
	e.next.Store(0)
	e.cands, e.out, e.ctx = cands, out, ctx
	for i := range e.errs {
		e.errs[i] = nil
	}
	for _, w := range e.workers[1:] {
		e.wg.Add(1)
		go e.scoreLoop(w)
	}
	e.wg.Add(1)
	e.scoreLoop(e.workers[0])
	e.wg.Wait()
	e.cands, e.out, e.ctx = nil, nil, nil
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("score: %w", err)
	}
	for _, err := range e.errs {
		if err != nil {
			return fmt.Errorf("score: %w", err)
		}
	}
	return nil
}

// scoreLoop scores candidates on one worker until none is left.
func (e *Evaluator) scoreLoop(w *worker) {
	defer e.wg.Done()
	for {
		i := int(e.next.Add(1) - 1)
		if i >= len(e.cands) || e.ctx.Err() != nil {
			return
		}
		s, err := e.candidate(w, e.cands[i])
		if err != nil {
			e.errs[w.id] = fmt.Errorf("candidate %d: %w", i, err)
			e.next.Store(int64(len(e.cands)))
			return
		}
		e.out[i] = s
	}
}

// candidate scores one delta on the worker.
func (e *Evaluator) candidate(w *worker, d Delta) (Score, error) {
	var loss float64
	var correct int
	same, err := e.candidateChunks(w, d, 0, e.chunks(), &loss, &correct, nil)
	switch {
	case err != nil:
		return Score{}, err
	case same:
		return e.baseSc, nil
	}
	return Score{Loss: loss / float64(e.b.n), Correct: correct}, nil
}

// chunks is the number of chunks of the prepared batch.
func (e *Evaluator) chunks() int { return (e.b.n + e.n.chunk - 1) / e.n.chunk }

// candidateChunks runs one delta on the worker over chunks [c0, c1) of the
// prepared batch, adding each sample's cross-entropy to *loss (in sample
// order, so that consecutive ranges add up bit for bit to the whole batch's
// sum) and its correct predictions to *correct; per, if not nil, receives
// the per-sample losses of the range. same reports a delta that leaves the
// base unchanged (nothing is computed: its score is the base's).
func (e *Evaluator) candidateChunks(w *worker, d Delta, c0, c1 int, loss *float64, correct *int, per []float64) (same bool, err error) {
	n := e.n
	if len(d.Indices) != len(d.Levels) {
		return false, fmt.Errorf("%d indices but %d levels", len(d.Indices), len(d.Levels))
	}
	w.serial++
	if w.serial == 0 {
		clear(w.stamp)
		w.serial = 1
	}
	for li := range w.touched {
		w.touched[li] = w.touched[li][:0]
	}
	w.patched = w.patched[:0]
	unpatch := func() {
		for _, idx := range w.patched {
			w.wf[idx] = e.wbase[idx]
			if l := &n.layers[e.varLayer[idx]]; l.int8 {
				p := l.qpos(int(idx) - l.off)
				w.wq[p] = e.qbase[p]
			}
		}
	}
	for k, idx := range d.Indices {
		if idx < 0 || int(idx) >= len(e.base) {
			unpatch()
			return false, fmt.Errorf("entry %d: index %d outside 0..%d", k, idx, len(e.base)-1)
		}
		lev := d.Levels[k]
		if !quant.ValidLevel(e.m.Bits, lev) {
			unpatch()
			return false, fmt.Errorf("entry %d (index %d): level %d outside the %d-bit range", k, idx, lev, e.m.Bits)
		}
		if w.stamp[idx] == w.serial {
			unpatch()
			return false, fmt.Errorf("entry %d: index %d appears twice", k, idx)
		}
		w.stamp[idx] = w.serial
		old := e.base[idx]
		if lev == old {
			continue
		}
		li := e.varLayer[idx]
		if x := w.rowExtra[li]; x != nil {
			// The sum of max(|old|, |new|) over a row bounds every
			// accumulator on the way from the base's to the candidate's.
			if inc := abs8(lev) - abs8(old); inc > 0 {
				o := int(idx-int32(n.layers[li].off)) / n.layers[li].ckk
				if x[o] == 0 {
					w.rowsHit = append(w.rowsHit, [2]int32{int32(li), int32(o)})
				}
				x[o] += int32(inc)
			}
		}
		w.touched[li] = append(w.touched[li], sparseW{j: idx - int32(n.layers[li].off), dl: float32(int(lev) - int(old))})
		w.wf[idx] = float32(lev)
		if l := &n.layers[li]; l.int8 {
			w.wq[l.qpos(int(idx)-l.off)] = lev
		}
		w.patched = append(w.patched, idx)
	}
	defer unpatch()
	copy(w.floatLayer, e.baseFloat)
	for _, h := range w.rowsHit {
		li, o := h[0], h[1]
		if l := &n.layers[li]; int(e.rowAbs[li][o]+w.rowExtra[li][o]) > l.rowLimit() && !w.floatLayer[li] {
			w.floatLayer[li] = true
			e.logFloat(l.name, "a candidate")
		}
		w.rowExtra[li][o] = 0
	}
	w.rowsHit = w.rowsHit[:0]
	// Which nodes and slots change.
	first := -1
	for i, node := range n.g.Nodes {
		ch := false
		if li := n.layerOf[i]; li >= 0 && len(w.touched[li]) > 0 {
			ch = true
		}
		for _, u := range node.Inputs {
			if w.changed[u] {
				ch = true
			}
		}
		if e.full && i > 0 && n.nodeSlot[i] != n.nodeSlot[0] {
			// Every node but the input and its aliases (a flattening
			// of the input: marking it changed would point the input's
			// slot at scratch, which does not hold the chunk's input).
			ch = true
		}
		w.changed[i] = ch
		if ch && first < 0 {
			first = i
		}
	}
	if first < 0 {
		return true, nil
	}
	for s := range w.slotChanged {
		w.slotChanged[s] = false
	}
	for i := range n.g.Nodes {
		if w.changed[i] {
			w.slotChanged[n.nodeSlot[i]] = true
		}
		if li := n.layerOf[i]; li >= 0 {
			l := &n.layers[li]
			in := n.g.Nodes[i].Inputs[0]
			if w.changed[in] {
				w.slotChanged[l.xqSlot] = true
			}
			if w.changed[i] {
				w.slotChanged[l.accSlot] = true
			}
		}
	}
	e.plan(w, first)
	last := len(n.g.Nodes) - 1
	for c := c0; c < c1; c++ {
		start, bc := n.chunkRange(c, e.b.n)
		e.setChunk(w, c, bc, false)
		for i := first; i <= last; i++ {
			if !w.changed[i] {
				continue
			}
			li := n.layerOf[i]
			if li < 0 && n.addBy[i] >= 0 {
				if lb := n.addBy[i]; w.changed[n.layers[lb].node] && w.mode[lb] == modeFull && !w.floatLayer[lb] {
					continue // computed by the layer's epilogue
				}
			}
			if li < 0 && n.fAddBy[i] >= 0 {
				if lb := n.fAddBy[i]; w.changed[n.layers[lb].node] && w.mode[lb] == modeFull {
					continue // computed by the layer's fused epilogue
				}
			}
			if li < 0 && n.u8[i] {
				w.execOpU8(i, bc)
				continue
			}
			if li < 0 {
				if src := w.maskOfNode[i]; src >= 0 {
					n.execOpMasked(i, w.bufs, bc, w.outMask[src])
				} else {
					n.execOp(i, w.bufs, bc)
				}
				continue
			}
			src := n.g.Nodes[i].Inputs[0]
			inChanged := w.changed[src]
			if w.mode[li] == modeFull && n.layers[li].intPath && !w.floatLayer[li] {
				w.layerInt(li, w.wq, bc, inChanged)
				continue
			}
			quantize := inChanged
			if inChanged && n.u8[src] && w.mode[li] == modeFull {
				// An int8 layer on the float32 path after a byte node.
				l := &n.layers[li]
				kernels.FromQuad(w.bufs[l.xqSlot], w.ubufs[l.inSlot], l.inGeo, bc)
				quantize = false
			}
			switch {
			case n.u8[i] && w.mode[li] == modeFull:
				w.layerFullU8(li, w.wf, bc, quantize)
			case n.u8[i] && w.mode[li] == modeSparse && !w.partial[li]:
				e.layerSparseU8(w, li, c, bc)
			case w.mode[li] == modeFull && n.floatFused(li):
				w.layerFused(li, w.wf, bc, quantize, false)
			case w.mode[li] == modeFull:
				w.layerFull(li, w.wf, w.wq, bc, quantize)
			case w.mode[li] == modeSparse:
				e.layerSparse(w, li, c, bc)
			case w.mode[li] == modeDiff:
				e.layerDiff(w, li, c, bc)
			}
			if n.u8[i] && (w.mode[li] == modeDiff || w.partial[li]) {
				w.toLevelsU8(i, bc)
			}
		}
		if per == nil {
			chunkLoss(w.bufs[n.nodeSlot[last]], e.b.labels[start:start+bc], n.g.Classes, bc, loss, correct, nil)
		} else {
			p0 := start - c0*n.chunk
			chunkLossPer(w.bufs[n.nodeSlot[last]], e.b.labels[start:start+bc], n.g.Classes, bc, loss, correct, per[p0:p0+bc])
		}
	}
	return false, nil
}

// How a candidate computes a changed layer.
const (
	// modeFull recomputes the layer with the candidate's weights.
	modeFull uint8 = iota
	// modeSparse (unchanged input, few changed weights) adds the changed
	// weights' contributions to the cached accumulator.
	modeSparse
	// modeDiff (input changed in a few channels only, few changed
	// weights) adds to the cached accumulator the changed weights'
	// contributions on the cached input and the candidate weights times
	// the input's change on the changed channels.
	modeDiff
)

// plan decides how the candidate on w computes each changed layer, and
// which channel-wise nodes compute only some channels.
func (e *Evaluator) plan(w *worker, first int) {
	n := e.n
	for li := range n.layers {
		w.mode[li] = modeFull
		w.partial[li] = false
	}
	for i := range w.maskOfNode {
		w.maskOfNode[i] = -1
	}
	if e.full {
		return
	}
	for i := first; i < len(n.g.Nodes); i++ {
		li := n.layerOf[i]
		if li < 0 || !w.changed[i] {
			continue
		}
		l := &n.layers[li]
		inCh := w.changed[n.g.Nodes[i].Inputs[0]]
		few := len(w.touched[li]) <= l.sparseMax
		switch {
		case inCh && few && w.mode[li] == modeDiff:
			// planned by the layer feeding it
		case inCh || !few:
			w.mode[li] = modeFull
		default:
			w.mode[li] = modeSparse
			mask := w.outMask[li]
			clear(mask)
			cnt := 0
			for _, t := range w.touched[li] {
				if o := int(t.j) / l.ckk; !mask[o] {
					mask[o] = true
					cnt++
				}
			}
			// A layer with an int8 GEMM recomputes faster than the float32
			// difference update.
			q := l.chainTo
			if q < 0 || n.layers[q].int8 || 5*cnt > 4*l.out || len(w.touched[q]) > n.layers[q].sparseMax {
				continue
			}
			// Only the touched channels change down to layer q.
			w.partial[li] = true
			for _, v := range l.chain {
				w.maskOfNode[v] = li
			}
			w.mode[q] = modeDiff
			w.diffFrom[q] = li
			w.inChans[q] = w.inChans[q][:0]
			for o, m := range mask {
				if m {
					w.inChans[q] = append(w.inChans[q], int32(o))
				}
			}
		}
	}
}

// chunkView returns the cached values of slot s for chunk c of bc samples.
func (e *Evaluator) chunkView(s, c, bc int) []float32 {
	size := e.n.slots[s].size
	off := c * e.n.chunk * size
	return e.cache[s][off : off+size*bc]
}

// layerSparse computes a layer in sparse mode: the cached accumulator of
// the output channels the delta touches is updated weight by weight; the
// other channels are rescaled straight from the cache (or skipped when the
// layer's output is partial).
func (e *Evaluator) layerSparse(w *worker, li, c, bc int) {
	l := &e.n.layers[li]
	acc, base, per, mask := e.sparseAccumulate(w, li, c, bc)
	y := w.bufs[l.ySlot]
	for o := 0; o < l.out; o++ {
		src := base
		if mask[o] {
			src = acc
		} else if w.partial[li] {
			continue
		}
		kernels.PostVec(y[o*per:(o+1)*per], src[o*per:(o+1)*per], l.mult[o], l.bias[o], l.relu)
	}
}

// sparseAccumulate updates the accumulators of the output channels a
// candidate touches in layer li (the cached chunk c's, weight by weight) and
// returns them with the cache, the values per channel and the mask of
// touched channels.
func (e *Evaluator) sparseAccumulate(w *worker, li, c, bc int) (acc, base []float32, per int, mask []bool) {
	l := &e.n.layers[li]
	acc = w.bufs[l.accSlot]
	base = e.chunkView(l.accSlot, c, bc)
	per = len(acc) / l.out
	mask = w.outMask[li]
	for o, m := range mask {
		if m {
			copy(acc[o*per:(o+1)*per], base[o*per:(o+1)*per])
		}
	}
	xq := w.bufs[l.xqSlot]
	for _, t := range w.touched[li] {
		l.sparse(int(t.j), t.dl, xq, acc, bc)
	}
	return acc, base, per, mask
}

// layerDiff computes a layer in diff mode: acc = cached acc + dW * x +
// W' * (x' - x) over the changed input channels, x the cached (quantized)
// input, x' the candidate's, W' the candidate's weights.
func (e *Evaluator) layerDiff(w *worker, li, c, bc int) {
	n := e.n
	l := &n.layers[li]
	chans := w.inChans[li]
	nsrc := n.layers[w.diffFrom[li]].out
	blk := l.inS.Size() / nsrc * bc // input values per source channel
	wblk := l.ckk / nsrc            // weights per source channel and output
	in := w.bufs[l.inSlot]
	xq := w.bufs[l.xqSlot]
	xqBase := e.chunkView(l.xqSlot, c, bc)
	d := w.dbuf[:len(chans)*blk]
	for t, ch := range chans {
		seg := int(ch) * blk
		if l.act.Enabled() {
			l.act.QuantizeSlice(xq[seg:seg+blk], in[seg:seg+blk])
		}
		dt := d[t*blk : (t+1)*blk]
		copy(dt, xq[seg:seg+blk])
		kernels.Axpy(-1, xqBase[seg:seg+blk], dt)
	}
	acc := w.bufs[l.accSlot]
	copy(acc, e.chunkView(l.accSlot, c, bc))
	for _, t := range w.touched[li] {
		l.sparse(int(t.j), t.dl, xqBase, acc, bc)
	}
	k := len(chans) * wblk
	ws := w.wsub[:l.out*k]
	for o := 0; o < l.out; o++ {
		row := w.wf[l.off+o*l.ckk : l.off+(o+1)*l.ckk]
		for t, ch := range chans {
			copy(ws[o*k+t*wblk:o*k+(t+1)*wblk], row[int(ch)*wblk:(int(ch)+1)*wblk])
		}
	}
	l.denseAdd(ws, d, acc, w.col, len(chans), bc)
	l.postLayer(acc, w.bufs[l.ySlot], bc)
}
