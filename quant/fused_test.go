package quant

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestFusedMatchesUnfused checks that the evaluator's float32 path with
// fused epilogues (forwardFused, layerFused) gives bit for bit the values
// of the unfused layer-by-layer computation (forwardAll: dense product,
// then postLayer, then the residual sum as its own node): every stored
// node value of a chunk, the base's score and full-forward candidate
// scores, for every architecture, with float and with quantized
// activations.
func TestFusedMatchesUnfused(t *testing.T) {
	ctx := context.Background()
	for _, tc := range testCases {
		for _, act := range []int{32, 8} {
			t.Run(fmt.Sprintf("%s/a%d", tc.arch, act), func(t *testing.T) {
				m, _ := testModel(t, tc.arch, tc.in, 4, act, PerChannel, 5)
				x, y := testData(m.Graph, 37, 9)
				ev, err := NewEvaluator(m, EvalOptions{Workers: 2, Chunk: 16, FullForward: true})
				if err != nil {
					t.Fatal(err)
				}
				n := ev.n
				if act == 32 {
					fused := 0
					for li := range n.layers {
						if n.floatFused(li) {
							fused++
						}
					}
					if fused != len(n.layers) {
						t.Fatalf("%d of %d layers on the fused float32 path", fused, len(n.layers))
					}
				}
				b, err := checkBatch(n, x, y)
				if err != nil {
					t.Fatal(err)
				}
				// One chunk, node by node.
				nw, old := newWorker(0, n, true), newWorker(1, n, true)
				bc := min(n.chunk, b.n)
				for _, w := range []*worker{nw, old} {
					w.setScratch(bc)
					w.loadInput(b, 0, bc)
				}
				nw.forwardFused(ev.wbase, ev.qbase, bc)
				old.forwardAll(ev.wbase, ev.qbase, bc)
				skip := make([]bool, len(n.slots)) // y slots the fused path does not store
				for li := range n.layers {
					if !n.fKeepY[li] {
						skip[n.layers[li].ySlot] = true
					}
				}
				compared := 0
				for i := range n.g.Nodes {
					s := n.nodeSlot[i]
					if skip[s] || (n.u8 != nil && n.u8[i]) {
						continue
					}
					compared++
					if k := firstDiff(nw.bufs[s], old.bufs[s]); k >= 0 {
						t.Fatalf("node %q, value %d: fused %v, unfused %v", n.g.Nodes[i].Name, k, nw.bufs[s][k], old.bufs[s][k])
					}
				}
				for li := range n.layers {
					s := n.layers[li].accSlot
					if k := firstDiff(nw.bufs[s], old.bufs[s]); k >= 0 {
						t.Fatalf("layer %q accumulator %d: fused %v, unfused %v", n.layers[li].name, k, nw.bufs[s][k], old.bufs[s][k])
					}
				}
				if act == 32 && compared < len(n.g.Nodes)/2 {
					t.Fatalf("only %d of %d nodes compared", compared, len(n.g.Nodes))
				}
				// Base and candidate scores against the unfused forward
				// pass of the candidate's weights.
				base, err := ev.Prepare(ctx, x, y)
				if err != nil {
					t.Fatal(err)
				}
				if want := unfusedScore(old, ev.wbase, ev.qbase, b, true); base != want {
					t.Fatalf("base score %+v, unfused %+v", base, want)
				}
				rng := rand.New(rand.NewPCG(8, 1))
				cands := []Delta{randomDelta(rng, m, nil, 40), randomDelta(rng, m, []int{len(m.Layers) - 2}, 5), randomDelta(rng, m, []int{0}, 3)}
				out := make([]Score, len(cands))
				if err := ev.Score(ctx, cands, out); err != nil {
					t.Fatal(err)
				}
				for i, d := range cands {
					wf := append([]float32(nil), ev.wbase...)
					for k, idx := range d.Indices {
						wf[idx] = float32(d.Levels[k])
					}
					q := make([]int8, n.nq)
					n.packWeights(wf, q)
					if want := unfusedScore(old, wf, q, b, false); out[i] != want {
						t.Fatalf("candidate %d: score %+v, unfused %+v", i, out[i], want)
					}
				}
			})
		}
	}
}

// unfusedScore scores weights on batch b with forwardAll (the unfused
// path), adding the losses as the evaluator does: per chunk, then the
// chunks' sums (perChunk, as Prepare) or in one running sum (as Score).
func unfusedScore(w *worker, wf []float32, q []int8, b *batch, perChunk bool) Score {
	n := w.n
	var loss float64
	var correct int
	for c := 0; c*n.chunk < b.n; c++ {
		start, bc := n.chunkRange(c, b.n)
		w.setScratch(bc)
		w.loadInput(b, start, bc)
		w.forwardAll(wf, q, bc)
		var l float64
		dst := &loss
		if perChunk {
			dst = &l
		}
		chunkLoss(w.bufs[n.nodeSlot[len(n.g.Nodes)-1]], b.labels[start:start+bc], n.g.Classes, bc, dst, &correct, nil)
		if perChunk {
			loss += l
		}
	}
	return Score{Loss: loss / float64(b.n), Correct: correct}
}

// firstDiff returns the first index where a and b differ bit for bit, or
// -1 (a length difference counts at the shorter length).
func firstDiff(a, b []float32) int {
	for i := range min(len(a), len(b)) {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}
