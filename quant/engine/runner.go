package engine

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// sparseW is one changed weight of a candidate: index inside its layer and
// level difference to the base.
type sparseW struct {
	j  int32
	dl float32
}

// worker holds one goroutine's buffers; nothing is allocated per chunk or
// per candidate once they exist.
type worker struct {
	id      int
	n       *net
	scratch [][]float32 // per slot, chunk*size floats
	bufs    [][]float32 // per slot, the view used for the current chunk
	col     []float32
	// pads hold the padded inputs of the fused float32 path's
	// convolutions (layer li's in pads[li%2]); padIn is, per buffer, the
	// layer whose input it holds for the current chunk, or -1 (see
	// layerFused).
	pads  [2][]float32
	padIn [2]int
	// padZero is, per buffer, the layout whose padding pixels it holds
	// as zeros (every write of a padded input leaves its own layout's
	// padding zero, see layerFused).
	padZero [2]padKey
	xs      []byte    // an int8 layer's input staged in the quad layout
	panel   []byte    // gathered panel of a strided int8 convolution
	offs    []int     // per K group, its offset in the int8 GEMM's input
	zeroF   []float32 // a row of zeros
	tile    []float32 // 4 x 64 int8 GEMM scratch
	tileB   []byte    // 4 x 64 byte scratch (requantizing int8 GEMM)
	ubufs   [][]byte  // per slot holding byte levels (integer path), quad layout

	// xsh holds residual sums' levels written by the epilogue of the
	// layer computing them (see planShadows); borders tracks which quad
	// buffers have zero padding.
	xsh     shadowBufs
	borders quadBorders
	// floatLayer marks the int8 layers whose current weights could take
	// an accumulator to 2^24: they run on the float32 path (nil: none);
	// rowExtra holds, per rowCheck layer and output channel, a
	// candidate's increase of the absolute row sum (see candidate).
	floatLayer []bool
	rowExtra   [][]int32
	rowsHit    [][2]int32
	wq         []int8 // candidate weights, int8-packed (int8 layers)
	// candidate state
	wf          []float32 // candidate weights (base weights with the delta applied)
	patched     []int32
	stamp       []uint32
	serial      uint32
	touched     [][]sparseW // per layer
	changed     []bool      // per node
	slotChanged []bool
	// per-candidate plan (see Evaluator.plan)
	mode       []uint8   // per layer: modeFull, modeSparse or modeDiff
	outMask    [][]bool  // per layer: output channels its delta touches (sparse mode)
	partial    []bool    // per layer: only the masked output channels are computed
	diffFrom   []int     // per layer in diff mode: the layer whose chain feeds it
	inChans    [][]int32 // per layer in diff mode: the input channels that changed
	maskOfNode []int     // per node: the layer whose outMask limits it, or -1
	dbuf, wsub []float32 // diff mode: input differences, gathered weights
	// hooks for calibration passes (plain mode only)
	onInput  func(wid, layer int, x []float32, bc int)
	onOutput func(wid, layer int, y []float32, bc int)
	// onLogits receives each chunk's logits ([classes][bc]) and the
	// index of its first sample (runPlain).
	onLogits func(start, bc int, z []float32)
}

func newWorker(id int, n *net, withCandidates bool) *worker {
	w := &worker{id: id, n: n, scratch: make([][]float32, len(n.slots)), bufs: make([][]float32, len(n.slots))}
	for s, sl := range n.slots {
		w.scratch[s] = make([]float32, sl.size*n.chunk)
	}
	w.col = make([]float32, n.colSize)
	w.pads = [2][]float32{make([]float32, n.padMax), make([]float32, n.padMax)}
	w.padIn = [2]int{-1, -1}
	if n.nq > 0 {
		// 256 bytes of slack: the last tile of a row may read past the
		// tensor (columns whose results are dropped).
		w.xs = make([]byte, n.quadMax+256)
		w.panel = make([]byte, n.panelMax+256)
		w.offs = make([]int, n.kgMax)
		w.zeroF = make([]float32, n.rowMax)
		w.tile = make([]float32, 4*64)
		w.tileB = make([]byte, 4*64)
		if withCandidates {
			w.wq = make([]int8, n.nq)
		}
	}
	if n.intOn {
		w.ubufs = make([][]byte, len(n.slots))
		for s := range n.slots {
			if n.u8Slot[s] {
				w.ubufs[s] = make([]byte, n.slotGeo[s].Size(n.chunk)+256)
			}
		}
	}
	if withCandidates {
		w.wf = make([]float32, n.nvars)
		w.stamp = make([]uint32, n.nvars)
		w.touched = make([][]sparseW, len(n.layers))
		w.changed = make([]bool, len(n.g.Nodes))
		w.slotChanged = make([]bool, len(n.slots))
		w.mode = make([]uint8, len(n.layers))
		w.outMask = make([][]bool, len(n.layers))
		w.partial = make([]bool, len(n.layers))
		w.diffFrom = make([]int, len(n.layers))
		w.inChans = make([][]int32, len(n.layers))
		w.maskOfNode = make([]int, len(n.g.Nodes))
		maxIn, maxW := 0, 0
		for li, l := range n.layers {
			w.outMask[li] = make([]bool, l.out)
			w.inChans[li] = make([]int32, 0, l.in)
			maxIn = max(maxIn, l.inS.Size())
			maxW = max(maxW, l.out*l.ckk)
		}
		w.dbuf = make([]float32, maxIn*n.chunk)
		w.wsub = make([]float32, maxW)
	}
	return w
}

// batch is a set of samples in NCHW float32 with labels.
type batch struct {
	x      []float32
	labels []uint8
	n      int
}

// chunkRange returns the first sample and count of chunk c.
func (n *net) chunkRange(c, total int) (int, int) {
	s := c * n.chunk
	return s, min(n.chunk, total-s)
}

// loadInput transposes the chunk's samples into the input slot.
func (w *worker) loadInput(b *batch, start, bc int) {
	d := w.n.g.Input.Size()
	dst := w.bufs[w.n.nodeSlot[0]]
	for s := 0; s < bc; s++ {
		src := b.x[(start+s)*d : (start+s+1)*d]
		for i, v := range src {
			dst[i*bc+s] = v
		}
	}
}

// forwardAll runs every node of a chunk whose bufs are set, with weights w
// (and their int8 packing q, or nil for float32 GEMMs only).
func (w *worker) forwardAll(weights []float32, q []int8, bc int) {
	n := w.n
	for i := 1; i < len(n.g.Nodes); i++ {
		if li := n.layerOf[i]; li >= 0 {
			w.layerFull(li, weights, q, bc, true)
			continue
		}
		n.execOp(i, w.bufs, bc)
	}
}

// layerFull quantizes the layer's input (when activations are quantized and
// quantize is set; otherwise the quantized input is already there),
// computes its accumulator densely and its output.
func (w *worker) layerFull(li int, weights []float32, q []int8, bc int, quantize bool) {
	l := &w.n.layers[li]
	xq := w.bufs[l.xqSlot]
	if quantize {
		in := w.bufs[l.inSlot][:l.inS.Size()*bc]
		if l.act.Enabled() {
			l.act.QuantizeSlice(xq[:len(in)], in)
		}
		if w.onInput != nil {
			w.onInput(w.id, li, in, bc)
		}
	}
	acc := w.bufs[l.accSlot]
	if l.int8 && q != nil && !w.floatAt(li) {
		w.denseU8(l, q, xq, acc, bc)
	} else {
		l.dense(weights[l.off:l.off+l.out*l.ckk], xq, acc, w.col, bc)
	}
	y := w.bufs[l.ySlot]
	l.postLayer(acc, y, bc)
	if w.onOutput != nil {
		w.onOutput(w.id, li, y[:l.outS.Size()*bc], bc)
	}
}

// floatAt reports whether int8 layer li must run on the float32 path.
func (w *worker) floatAt(li int) bool { return w.floatLayer != nil && w.floatLayer[li] }

// setScratch points every slot at the worker's scratch for a chunk of bc.
func (w *worker) setScratch(bc int) {
	for s, sl := range w.n.slots {
		w.bufs[s] = w.scratch[s][:sl.size*bc]
	}
}

// runPlain evaluates a batch with weights, all values in scratch, chunks
// spread over the workers; it returns the summed loss and correct count.
// conf, when not nil, receives the classes x classes confusion counts.
// q, when not nil, holds the int8-packed weights: the integer path runs
// (see forwardInt).
func runPlain(ctx context.Context, workers []*worker, weights []float32, q []int8, b *batch, conf []int) (float64, int, error) {
	n := workers[0].n
	nch := (b.n + n.chunk - 1) / n.chunk
	losses := make([]float64, nch)
	corrects := make([]int, nch)
	confs := make([][]int, len(workers))
	var next atomic.Int64
	var wg sync.WaitGroup
	for wi, w := range workers {
		if conf != nil {
			confs[wi] = make([]int, len(conf))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c := int(next.Add(1) - 1)
				if c >= nch || ctx.Err() != nil {
					return
				}
				start, bc := n.chunkRange(c, b.n)
				w.setScratch(bc)
				w.loadInput(b, start, bc)
				if q != nil {
					w.forwardInt(weights, q, bc)
				} else {
					w.forwardAll(weights, nil, bc)
				}
				logits := w.bufs[n.nodeSlot[len(n.g.Nodes)-1]]
				if w.onLogits != nil {
					w.onLogits(start, bc, logits[:n.g.Classes*bc])
				}
				chunkLoss(logits, b.labels[start:start+bc], n.g.Classes, bc, &losses[c], &corrects[c], confs[wi])
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return 0, 0, fmt.Errorf("forward pass: %w", err)
	}
	var loss float64
	var correct int
	for c := range losses {
		loss += losses[c]
		correct += corrects[c]
	}
	for wi := range workers {
		for k := range conf {
			conf[k] += confs[wi][k]
		}
	}
	return loss, correct, nil
}

// checkBatch validates a batch against the graph's input and classes.
func checkBatch(n *net, x []float32, labels []uint8) (*batch, error) {
	d := n.g.Input.Size()
	if len(labels) == 0 {
		return nil, fmt.Errorf("empty batch")
	}
	if len(x) != len(labels)*d {
		return nil, fmt.Errorf("batch of %d labels has %d input values, expected %d (%d x %dx%dx%d)", len(labels), len(x), len(labels)*d, len(labels), n.g.Input.C, n.g.Input.H, n.g.Input.W)
	}
	for i, l := range labels {
		if int(l) >= n.g.Classes {
			return nil, fmt.Errorf("label %d of sample %d is not one of the %d classes", l, i, n.g.Classes)
		}
	}
	return &batch{x: x, labels: labels, n: len(labels)}, nil
}

func defaultWorkers(w int) int {
	if w <= 0 {
		return runtime.GOMAXPROCS(0)
	}
	return w
}
