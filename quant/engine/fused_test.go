package engine

import (
	"github.com/ccq-project/ccq/quant"

	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/nn/gemm"
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
				m, _ := testModel(t, tc.arch, tc.in, 4, act, quant.PerChannel, 5)
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
					padded, only, res := countPadTo(n), countTrue(n.padOnly), countTrue(n.padRes)
					if tc.arch == "resnet20" && (padded == 0 || only == 0 || res == 0) {
						t.Fatalf("%d layers write the next one's padded input, %d only there, %d their residual sum in it: want some of each", padded, only, res)
					} else {
						t.Logf("%d layers write the next one's padded input, %d only there, %d compute their residual sum in it", padded, only, res)
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
				for _, p := range nw.pads {
					fillNaN(p) // every padded pixel must be written, borders too
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

// TestImplicitConvGeometries checks denseEp (implicit GEMM over the padded,
// phase-split input) against dense (im2col + Sgemm) bit for bit, for
// strides, kernels and paddings the architectures do not all have, with
// sample counts that are not multiples of the GEMM's tile.
func TestImplicitConvGeometries(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, g := range [][5]int{{3, 1, 1, 7, 5}, {3, 2, 1, 9, 3}, {5, 2, 2, 11, 2}, {3, 3, 0, 10, 16}, {1, 2, 0, 6, 7}, {4, 3, 1, 13, 1}} {
		k, st, pad, hw, bc := g[0], g[1], g[2], g[3], g[4]
		in, out := 3, 5
		oh := (hw+2*pad-k)/st + 1
		l := &qlayer{conv: true, out: out, in: in, k: k, stride: st, pad: pad,
			inS: nnShape(in, hw, hw+1), outS: nnShape(out, oh, (hw+1+2*pad-k)/st+1)}
		l.ckk = in * k * k
		l.mult, l.bias = make([]float32, out), make([]float32, out)
		for o := range out {
			l.mult[o], l.bias[o] = 1, 0
		}
		l.rowsPer = 1
		l.planImplicit()
		x := make([]float32, l.inS.Size()*bc)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		w := make([]float32, out*l.ckk)
		for i := range w {
			w[i] = float32(rng.IntN(15) - 7)
		}
		n := l.outS.Size() * bc
		want, got, y := make([]float32, n), make([]float32, n), make([]float32, n)
		l.dense(w, x, want, make([]float32, l.ckk*l.outS.W*bc), bc)
		plan := gemm.PlanRows(out, l.ckk)
		col, xp := make([]float32, plan.PackedLen()), make([]float32, l.padLen*bc)
		ep := epilogue{l: l, acc: got, y: y, per: l.outS.H * l.outS.W * bc, keepY: true, keepAcc: true}
		l.denseEp(w, x, col, xp, false, bc, &ep)
		if i := firstDiff(got, want); i >= 0 {
			t.Fatalf("k=%d stride=%d pad=%d %dx%d, %d samples: accumulator %d is %v, im2col + Sgemm gives %v", k, st, pad, hw, hw+1, bc, i, got[i], want[i])
		}
	}
}

// countPadTo returns how many layers write the next one's padded input
// (see net.padTo).
func countPadTo(n *net) int {
	k := 0
	for _, q := range n.padTo {
		if q >= 0 {
			k++
		}
	}
	return k
}

// fillNaN sets every value of s to NaN.
func fillNaN(s []float32) {
	for i := range s {
		s[i] = float32(math.NaN())
	}
}

// countTrue returns how many values of s are true.
func countTrue(s []bool) int {
	k := 0
	for _, v := range s {
		if v {
			k++
		}
	}
	return k
}

func nnShape(c, h, w int) nn.Shape { return nn.Shape{C: c, H: h, W: w} }
