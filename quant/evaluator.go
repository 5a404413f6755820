package quant

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/ccq-project/ccq/nn"
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
	// weight by weight; larger ones recompute the layer (default 0.15 for
	// convolutions and 0.06 for linear layers, where a recomputation is a
	// single efficient GEMM: the measured break-even points on LeNet-5).
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
// recomputation. Candidates are spread over Workers goroutines; each owns
// its buffers, so scoring allocates nothing per candidate. Scores equal
// those of a from-scratch forward pass of the candidate network (bit for
// bit with quantized activations, up to float32 rounding otherwise).
//
// An Evaluator is not safe for concurrent use by several goroutines.
type Evaluator struct {
	m        *Model
	n        *net
	full     bool
	base     []int8    // base levels
	wbase    []float32 // base levels as float32
	varLayer []uint16  // variable -> layer
	workers  []*worker
	cache    [][]float32 // per slot (cached ones), chunk-major over the batch
	cap      int         // samples the cache holds
	b        *batch
	prepared bool
	baseSc   Score
	losses   []float64
	corrects []int
	// Score's shared state
	next  atomic.Int64
	wg    sync.WaitGroup
	cands []Delta
	out   []Score
	ctx   context.Context
	errs  []error
}

// NewEvaluator compiles a model (which it copies) for scoring.
func NewEvaluator(m *Model, opt EvalOptions) (*Evaluator, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("evaluator: %w", err)
	}
	m = m.Clone()
	ls, w := layersFromModel(m)
	for i := range ls {
		frac := opt.SparseFraction
		if frac <= 0 {
			frac = 0.06
			if m.Graph.Nodes[m.Layers[i].Node].Op == nn.OpConv {
				frac = 0.15
			}
		}
		ls[i].sparseMax = max(1, int(frac*float64(len(m.Layers[i].Levels))))
	}
	n, err := newNet(m.Graph, ls, opt.Chunk, true)
	if err != nil {
		return nil, fmt.Errorf("evaluator: %w", err)
	}
	e := &Evaluator{m: m, n: n, full: opt.FullForward, base: m.Flat(), wbase: w, varLayer: make([]uint16, n.nvars)}
	for li := range n.layers {
		l := &n.layers[li]
		for j := l.off; j < l.off+l.out*l.ckk; j++ {
			e.varLayer[j] = uint16(li)
		}
	}
	for i := 0; i < defaultWorkers(opt.Workers); i++ {
		wk := newWorker(i, n, true)
		copy(wk.wf, w)
		e.workers = append(e.workers, wk)
	}
	e.errs = make([]error, len(e.workers))
	return e, nil
}

// Model returns the evaluator's model with the current base levels.
func (e *Evaluator) Model() *Model {
	m := e.m.Clone()
	_ = m.SetFlat(e.base)
	return m
}

// Base returns a copy of the base levels.
func (e *Evaluator) Base() []int8 { return append([]int8(nil), e.base...) }

// Layout is the flat variable layout (see Model.Layout).
func (e *Evaluator) Layout() []Var { return e.m.Layout() }

// Chunk returns the number of samples processed together.
func (e *Evaluator) Chunk() int { return e.n.chunk }

// SetBase replaces the base levels. The prepared batch is kept and its
// cache recomputed on the next Score.
func (e *Evaluator) SetBase(levels []int8) error {
	if len(levels) != len(e.base) {
		return fmt.Errorf("set base: %d levels, the model has %d weights", len(levels), len(e.base))
	}
	for i, l := range levels {
		if !ValidLevel(e.m.Bits, l) {
			return fmt.Errorf("set base: level %d at index %d is outside the %d-bit range", l, i, e.m.Bits)
		}
	}
	copy(e.base, levels)
	for i, l := range levels {
		e.wbase[i] = float32(l)
	}
	e.syncWorkers()
	return nil
}

// ApplyBase moves the base by a delta (the optimizer's new context vector).
func (e *Evaluator) ApplyBase(d Delta) error {
	if err := e.checkDelta(d); err != nil {
		return fmt.Errorf("apply base: %w", err)
	}
	for k, idx := range d.Indices {
		e.base[idx] = d.Levels[k]
		e.wbase[idx] = float32(d.Levels[k])
	}
	e.syncWorkers()
	return nil
}

func (e *Evaluator) syncWorkers() {
	for _, w := range e.workers {
		copy(w.wf, e.wbase)
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
		if !ValidLevel(e.m.Bits, d.Levels[k]) {
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
// (when base is true or the slot is unchanged), others in scratch.
func (e *Evaluator) setChunk(w *worker, c, bc int, base bool) {
	off := c * e.n.chunk
	for s, sl := range e.n.slots {
		size := sl.size * bc
		if sl.cached && (base || !w.slotChanged[s]) {
			w.bufs[s] = e.cache[s][off*sl.size : off*sl.size+size]
		} else {
			w.bufs[s] = w.scratch[s][:size]
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
				w.forwardAll(e.wbase, bc)
				losses[c], corrects[c] = 0, 0
				chunkLoss(w.bufs[n.nodeSlot[len(n.g.Nodes)-1]], e.b.labels[start:start+bc], n.g.Classes, bc, &losses[c], &corrects[c], nil)
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
	n := e.n
	if len(d.Indices) != len(d.Levels) {
		return Score{}, fmt.Errorf("%d indices but %d levels", len(d.Indices), len(d.Levels))
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
		}
	}
	for k, idx := range d.Indices {
		if idx < 0 || int(idx) >= len(e.base) {
			unpatch()
			return Score{}, fmt.Errorf("entry %d: index %d outside 0..%d", k, idx, len(e.base)-1)
		}
		lev := d.Levels[k]
		if !ValidLevel(e.m.Bits, lev) {
			unpatch()
			return Score{}, fmt.Errorf("entry %d (index %d): level %d outside the %d-bit range", k, idx, lev, e.m.Bits)
		}
		if w.stamp[idx] == w.serial {
			unpatch()
			return Score{}, fmt.Errorf("entry %d: index %d appears twice", k, idx)
		}
		w.stamp[idx] = w.serial
		old := e.base[idx]
		if lev == old {
			continue
		}
		li := e.varLayer[idx]
		w.touched[li] = append(w.touched[li], sparseW{j: idx - int32(n.layers[li].off), dl: float32(int(lev) - int(old))})
		w.wf[idx] = float32(lev)
		w.patched = append(w.patched, idx)
	}
	defer unpatch()
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
		if e.full && i > 0 {
			ch = true
		}
		w.changed[i] = ch
		if ch && first < 0 {
			first = i
		}
	}
	if first < 0 {
		return e.baseSc, nil
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
	var loss float64
	var correct int
	nch := (e.b.n + n.chunk - 1) / n.chunk
	last := len(n.g.Nodes) - 1
	for c := 0; c < nch; c++ {
		start, bc := n.chunkRange(c, e.b.n)
		e.setChunk(w, c, bc, false)
		for i := first; i <= last; i++ {
			if !w.changed[i] {
				continue
			}
			li := n.layerOf[i]
			if li < 0 {
				n.execOp(i, w.bufs, bc)
				continue
			}
			l := &n.layers[li]
			if inCh := w.changed[n.g.Nodes[i].Inputs[0]]; inCh || e.full || len(w.touched[li]) > l.sparseMax {
				w.layerFull(li, w.wf, bc, inCh)
				continue
			}
			// Unchanged input, few changed weights: update the cached
			// accumulator of the output channels the delta touches; the
			// others are rescaled straight from the cache.
			off := c * n.chunk * n.slots[l.accSlot].size
			acc := w.bufs[l.accSlot]
			base := e.cache[l.accSlot][off : off+len(acc)]
			per := len(acc) / l.out
			mask := w.chanMask[:l.out]
			clear(mask)
			for _, t := range w.touched[li] {
				o := int(t.j) / l.ckk
				if !mask[o] {
					mask[o] = true
					copy(acc[o*per:(o+1)*per], base[o*per:(o+1)*per])
				}
			}
			xq := w.bufs[l.xqSlot]
			for _, t := range w.touched[li] {
				l.sparse(int(t.j), t.dl, xq, acc, bc)
			}
			y := w.bufs[l.ySlot]
			for o := 0; o < l.out; o++ {
				src := base
				if mask[o] {
					src = acc
				}
				postVec(y[o*per:(o+1)*per], src[o*per:(o+1)*per], l.mult[o], l.bias[o], l.relu)
			}
		}
		chunkLoss(w.bufs[n.nodeSlot[last]], e.b.labels[start:start+bc], n.g.Classes, bc, &loss, &correct, nil)
	}
	return Score{Loss: loss / float64(e.b.n), Correct: correct}, nil
}
