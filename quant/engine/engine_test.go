package engine

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/internal/deltatest"
)

// TestFoldMatchesNN checks batch-norm folding and the float engine against
// nn's own forward pass (eval mode).
func TestFoldMatchesNN(t *testing.T) {
	for _, tc := range testCases {
		t.Run(tc.arch, func(t *testing.T) {
			g, err := nn.BuildGraph(tc.arch, tc.in, 10)
			if err != nil {
				t.Fatal(err)
			}
			m, err := nn.NewModel(g, 3)
			if err != nil {
				t.Fatal(err)
			}
			f := quant.FromNN(m)
			rng := rand.New(rand.NewPCG(5, 5))
			for _, n := range g.Nodes {
				if n.Op == nn.OpBatchNorm {
					for _, s := range []string{".weight", ".bias", ".running_mean", ".running_var"} {
						d := f.Params[n.Name+s].Data
						for i := range d {
							d[i] = float32(0.3 + rng.Float64())
						}
					}
				}
			}
			x, y := testData(g, 19, 4)
			logits := m.Forward(x, 19, false)
			fl, err := quant.Fold(f)
			if err != nil {
				t.Fatal(err)
			}
			ls, w := layersFromFloat(fl, nil)
			r, err := newRunner(g, ls, w, 2)
			if err != nil {
				t.Fatal(err)
			}
			var got []float32
			r.workers = r.workers[:1]
			r.workers[0].onOutput = nil
			last := len(fl) - 1
			loss, _, err := r.run(context.Background(), x, y, nil, func(wid, li int, v []float32, bc int) {
				if li == last {
					for b := 0; b < bc; b++ {
						for k := 0; k < 10; k++ {
							got = append(got, v[k*bc+b])
						}
					}
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			for i := range logits {
				if relDiff(float64(logits[i]), float64(got[i])) > 1e-4 && abs32(logits[i]-got[i]) > 1e-5 {
					t.Fatalf("logit %d: nn %g, folded %g", i, logits[i], got[i])
				}
			}
			want := nn.SoftmaxCrossEntropy(logits, y, 19, 10, nil)
			if relDiff(loss, want) > 1e-5 {
				t.Fatalf("loss %g, nn %g", loss, want)
			}
		})
	}
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}

// TestForwardMatchesReference checks the chunked engine (plain evaluation
// and the evaluator's base pass) against the naive reference, for every
// architecture, weights-only and with quantized activations.
func TestForwardMatchesReference(t *testing.T) {
	for _, tc := range testCases {
		for _, act := range []int{32, 8, 3} {
			t.Run(fmt.Sprintf("%s/a%d", tc.arch, act), func(t *testing.T) {
				m, _ := testModel(t, tc.arch, tc.in, 4, act, quant.PerChannel, 11)
				x, y := testData(m.Graph, 21, 12)
				want := refScore(m, x, y)
				rep, err := EvaluateModel(context.Background(), m, x, y, 2)
				if err != nil {
					t.Fatal(err)
				}
				if relDiff(rep.Loss, want.Loss) > 1e-5 || rep.Correct != want.Correct {
					t.Fatalf("EvaluateModel loss %g correct %d; reference %g %d", rep.Loss, rep.Correct, want.Loss, want.Correct)
				}
				diag, total := 0, 0
				for k, pc := range rep.PerClass {
					diag += rep.Confusion[k][k]
					total += pc.N
					if cnt := strings.Count(string(y), string(rune(k))); cnt != pc.N {
						t.Fatalf("class %d: %d samples reported, %d in the batch", k, pc.N, cnt)
					}
				}
				if diag != rep.Correct || total != len(y) {
					t.Fatalf("confusion diagonal %d, correct %d; per-class total %d of %d", diag, rep.Correct, total, len(y))
				}
				var frac float64
				for _, lc := range rep.Levels {
					frac += lc.Fraction
				}
				if math.Abs(frac-1) > 1e-9 || rep.PackedBytes != quant.PackedBytes(m.NumVars(), 4) && m.Graph.Arch == "mlp" {
					t.Fatalf("level fractions sum to %g; packed %d bytes", frac, rep.PackedBytes)
				}
				ev, err := NewEvaluator(m, EvalOptions{Workers: 2, Chunk: 4})
				if err != nil {
					t.Fatal(err)
				}
				got, err := ev.Prepare(context.Background(), x, y)
				if err != nil {
					t.Fatal(err)
				}
				if relDiff(got.Loss, want.Loss) > 1e-5 || got.Correct != want.Correct {
					t.Fatalf("evaluator base loss %g correct %d; reference %g %d", got.Loss, got.Correct, want.Loss, want.Correct)
				}
				if act != 32 && relDiff(got.Loss, rep.Loss) > 1e-13 {
					t.Fatalf("quantized activations: chunk sizes gave losses %v and %v, expected identical logits", got.Loss, rep.Loss)
				}
			})
		}
	}
}

// randomDelta draws k distinct variables of the given layers (all when nil)
// and new levels for them.
func randomDelta(rng *rand.Rand, m *quant.Model, layers []int, k int) Delta {
	idx, lv := deltatest.Random(rng, m, layers, k)
	return Delta{Indices: idx, Levels: lv}
}

// TestIncrementalExact checks that incremental scores equal from-scratch
// forward passes of the candidate network, for deltas in every single layer
// (small and large, so both the sparse update and the recomputation run),
// deltas over all layers, and a moved base.
func TestIncrementalExact(t *testing.T) {
	ctx := context.Background()
	for _, tc := range testCases {
		for _, act := range []int{32, 8, 2} {
			t.Run(fmt.Sprintf("%s/a%d", tc.arch, act), func(t *testing.T) {
				m, _ := testModel(t, tc.arch, tc.in, 3, act, quant.PerTensor, 21)
				x, y := testData(m.Graph, 23, 22)
				ev, err := NewEvaluator(m, EvalOptions{Workers: 2, Chunk: 8})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := ev.Prepare(ctx, x, y); err != nil {
					t.Fatal(err)
				}
				rng := rand.New(rand.NewPCG(3, 4))
				var cands []Delta
				for li := range m.Layers {
					n := len(m.Layers[li].Levels)
					cands = append(cands, randomDelta(rng, m, []int{li}, 1+n/50), randomDelta(rng, m, []int{li}, n/2+1))
					// A few weights, so that only some output channels
					// change (the next layer then adds the input's change
					// on those channels), alone and with a few weights of
					// the next layer.
					cands = append(cands, randomDelta(rng, m, []int{li}, 3))
					if li+1 < len(m.Layers) {
						a, b := randomDelta(rng, m, []int{li}, 2), randomDelta(rng, m, []int{li + 1}, 2)
						cands = append(cands, Delta{Indices: append(a.Indices, b.Indices...), Levels: append(a.Levels, b.Levels...)})
					}
				}
				cands = append(cands, randomDelta(rng, m, nil, 300), randomDelta(rng, m, nil, 5), Delta{})
				check := func() {
					t.Helper()
					out := make([]Score, len(cands))
					if err := ev.Score(ctx, cands, out); err != nil {
						t.Fatal(err)
					}
					base := ev.Model()
					for i, d := range cands {
						cm := base.Clone()
						flat := cm.Flat()
						for k, idx := range d.Indices {
							flat[idx] = d.Levels[k]
						}
						if err := cm.SetFlat(flat); err != nil {
							t.Fatal(err)
						}
						rep, err := EvaluateModel(ctx, cm, x, y, 1)
						if err != nil {
							t.Fatal(err)
						}
						if relDiff(out[i].Loss, rep.Loss) > 1e-5 || out[i].Correct != rep.Correct {
							t.Fatalf("candidate %d (%d changes): incremental loss %.9g correct %d, from scratch %.9g %d",
								i, len(d.Indices), out[i].Loss, out[i].Correct, rep.Loss, rep.Correct)
						}
						if act != 32 && relDiff(out[i].Loss, rep.Loss) > 1e-13 {
							t.Fatalf("candidate %d: quantized activations: incremental %v != from scratch %v (expected identical logits)", i, out[i].Loss, rep.Loss)
						}
					}
					r := refScore(ev.Model(), x, y)
					b, _ := ev.BaseScore(ctx)
					if relDiff(b.Loss, r.Loss) > 1e-5 || b.Correct != r.Correct {
						t.Fatalf("base: %v vs reference %v", b, r)
					}
				}
				check()
				// Move the base and check again on the cached batch.
				if err := ev.ApplyBase(randomDelta(rng, m, nil, 200)); err != nil {
					t.Fatal(err)
				}
				check()
			})
		}
	}
}

func TestScoreRejectsBadDeltas(t *testing.T) {
	m, _ := testModel(t, "mlp", nn.Shape{C: 1, H: 6, W: 6}, 2, 32, quant.PerTensor, 1)
	x, y := testData(m.Graph, 5, 2)
	ev, err := NewEvaluator(m, EvalOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := ev.Score(context.Background(), []Delta{{}}, make([]Score, 1)); err == nil || !strings.Contains(err.Error(), "Prepare") {
		t.Errorf("score before prepare: %v", err)
	}
	if _, err := ev.Prepare(context.Background(), x, y); err != nil {
		t.Fatal(err)
	}
	bad := map[string]Delta{
		"outside 0..":     {Indices: []int32{int32(m.NumVars())}, Levels: []int8{0}},
		"2-bit range":     {Indices: []int32{0}, Levels: []int8{2}},
		"appears twice":   {Indices: []int32{3, 3}, Levels: []int8{1, -1}},
		"indices but 0 l": {Indices: []int32{3}},
	}
	for want, d := range bad {
		err := ev.Score(context.Background(), []Delta{{}, d}, make([]Score, 2))
		if err == nil || !strings.Contains(err.Error(), "candidate 1") || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
	// The rejected deltas left the candidate weights untouched.
	out := make([]Score, 1)
	if err := ev.Score(context.Background(), []Delta{{Indices: []int32{3}, Levels: []int8{ev.Base()[3]}}}, out); err != nil {
		t.Fatal(err)
	}
	base, _ := ev.BaseScore(context.Background())
	if out[0] != base {
		t.Errorf("no-op delta scored %v, base %v", out[0], base)
	}
	if _, err := ev.Prepare(context.Background(), x[:10], y); err == nil {
		t.Error("Prepare accepted a batch of the wrong shape")
	}
}

func TestScoreAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	m, _ := testModel(t, "lenet5", nn.Shape{C: 1, H: 28, W: 28}, 4, 8, quant.PerTensor, 1)
	x, y := testData(m.Graph, 16, 2)
	ev, err := NewEvaluator(m, EvalOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ev.Prepare(context.Background(), x, y); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	cands := []Delta{randomDelta(rng, m, []int{2}, 100), randomDelta(rng, m, nil, 100)}
	out := make([]Score, len(cands))
	ctx := context.Background()
	_ = ev.Score(ctx, cands, out)
	allocs := testing.AllocsPerRun(5, func() {
		if err := ev.Score(ctx, cands, out); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Errorf("Score of %d candidates allocated %v times per call", len(cands), allocs)
	}
}

// TestPaddedResNet covers the pad node ResNet-20 gets on 28x28 inputs:
// engine against the reference, and a few incremental candidates.
func TestPaddedResNet(t *testing.T) {
	if testing.Short() {
		t.Skip("a 28x28 ResNet-20 reference pass takes a few seconds")
	}
	ctx := context.Background()
	m, _ := testModel(t, "resnet20", nn.Shape{C: 1, H: 28, W: 28}, 4, 8, quant.PerTensor, 3)
	x, y := testData(m.Graph, 3, 4)
	want := refScore(m, x, y)
	ev, err := NewEvaluator(m, EvalOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ev.Prepare(ctx, x, y)
	if err != nil {
		t.Fatal(err)
	}
	if relDiff(got.Loss, want.Loss) > 1e-5 || got.Correct != want.Correct {
		t.Fatalf("base %v, reference %v", got, want)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	cands := []Delta{randomDelta(rng, m, []int{0}, 3), randomDelta(rng, m, nil, 500)}
	out := make([]Score, len(cands))
	if err := ev.Score(ctx, cands, out); err != nil {
		t.Fatal(err)
	}
	for i, d := range cands {
		cm := m.Clone()
		flat := cm.Flat()
		for k, idx := range d.Indices {
			flat[idx] = d.Levels[k]
		}
		_ = cm.SetFlat(flat)
		r, err := EvaluateModel(ctx, cm, x, y, 1)
		if err != nil {
			t.Fatal(err)
		}
		if relDiff(out[i].Loss, r.Loss) > 1e-12 || out[i].Correct != r.Correct {
			t.Errorf("candidate %d: incremental %v, from scratch %v", i, out[i], r)
		}
	}
}

// TestDiffModeUsed checks that the channel-difference path is planned
// where expected (so TestIncrementalExact exercises it).
func TestDiffModeUsed(t *testing.T) {
	for _, tc := range testCases {
		m, _ := testModel(t, tc.arch, tc.in, 4, 32, quant.PerTensor, 1)
		ev, err := NewEvaluator(m, EvalOptions{Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		diffs := 0
		for li, l := range ev.n.layers {
			if l.chainTo < 0 {
				continue
			}
			w := ev.workers[0]
			rng := rand.New(rand.NewPCG(1, uint64(li)))
			d := randomDelta(rng, m, []int{li}, 1)
			for li2 := range w.touched {
				w.touched[li2] = w.touched[li2][:0]
			}
			lv := m.Flat()
			idx := d.Indices[0]
			if d.Levels[0] == lv[idx] {
				continue
			}
			w.touched[li] = append(w.touched[li], sparseW{j: idx - int32(l.off), dl: 1})
			for i := range w.changed {
				w.changed[i] = false
			}
			for i, node := range ev.n.g.Nodes {
				ch := i == l.node
				for _, u := range node.Inputs {
					ch = ch || w.changed[u]
				}
				w.changed[i] = ch
			}
			ev.plan(w, l.node)
			if w.mode[l.chainTo] == modeDiff {
				diffs++
			}
		}
		want := map[string]int{"mlp": 2, "lenet5": 4, "resnet20": 9}[tc.arch]
		if diffs != want {
			t.Errorf("%s: %d layers fed by a channel difference, want %d", tc.arch, diffs, want)
		}
	}
}

// TestRunnerIntegerPath checks that the Runner of a model with quantized
// activations scores on the integer path, exactly as the float32 path
// does, and falls back to the float32 path for levels that could take an
// int8 layer's accumulators past 2^24.
func TestRunnerIntegerPath(t *testing.T) {
	useIntegerKernels(t)
	ctx := context.Background()
	for _, tc := range []struct {
		arch       string
		in         nn.Shape
		bits, act  int
		wantIntOff bool // some level vector here leaves the integer path
	}{
		{"lenet5", nn.Shape{C: 1, H: 28, W: 28}, 4, 4, false},
		{"resnet20", nn.Shape{C: 3, H: 8, W: 8}, 4, 8, false},
		{"resnet20", nn.Shape{C: 3, H: 8, W: 8}, 8, 8, true}, // 64x3x3 inputs x 127 x 255 > 2^24
	} {
		m, _ := testModel(t, tc.arch, tc.in, tc.bits, tc.act, quant.PerChannel, 4)
		x, y := testData(m.Graph, 40, 5)
		r, err := NewRunner(m, 2)
		if err != nil {
			t.Fatal(err)
		}
		if r.ir == nil {
			t.Fatalf("%s W%dA%d: no integer path", tc.arch, tc.bits, tc.act)
		}
		rng := rand.New(rand.NewPCG(3, 3))
		flat := m.Flat()
		levels := [][]int8{flat}
		c := append([]int8(nil), flat...)
		d := randomDelta(rng, m, nil, 500)
		for i, idx := range d.Indices {
			c[idx] = d.Levels[i]
		}
		levels = append(levels, c)
		if tc.wantIntOff {
			// A whole layer at the largest level: its rows sum past the limit.
			big := append([]int8(nil), flat...)
			_, hi := quant.LevelRange(tc.bits)
			l := m.Layers[len(m.Layers)-2]
			off := 0
			for _, ll := range m.Layers[:len(m.Layers)-2] {
				off += len(ll.Levels)
			}
			for j := range l.Levels {
				big[off+j] = int8(hi)
			}
			levels = append(levels, big)
		}
		usedFloat := false
		for k, lv := range levels {
			cm := m.Clone()
			if err := cm.SetFlat(lv); err != nil {
				t.Fatal(err)
			}
			want, err := evaluateModel(ctx, cm, x, y, 1, false)
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.Score(ctx, lv, x, y)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range lv {
				r.wf[i] = float32(v)
			}
			if !r.intExact() {
				usedFloat = true
			}
			if relDiff(got.Loss, want.Loss) > 1e-13 || got.Correct != want.Correct {
				t.Errorf("%s W%dA%d, levels %d: runner %v, float32 path %v %v", tc.arch, tc.bits, tc.act, k, got, want.Loss, want.Correct)
			}
		}
		if usedFloat != tc.wantIntOff {
			t.Errorf("%s W%dA%d: float32 fallback used %v, want %v", tc.arch, tc.bits, tc.act, usedFloat, tc.wantIntOff)
		}
	}
}

func TestRunnerMatchesEvaluateModel(t *testing.T) {
	ctx := context.Background()
	m, _ := testModel(t, "lenet5", nn.Shape{C: 1, H: 28, W: 28}, 3, 8, quant.PerChannel, 2)
	x, y := testData(m.Graph, 30, 3)
	r, err := NewRunner(m, 2)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(2, 2))
	for k := 0; k < 2; k++ {
		c := m.Clone()
		flat := c.Flat()
		d := randomDelta(rng, m, nil, 1000)
		for i, idx := range d.Indices {
			flat[idx] = d.Levels[i]
		}
		_ = c.SetFlat(flat)
		want, err := EvaluateModel(ctx, c, x, y, 1)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Score(ctx, flat, x, y)
		if err != nil {
			t.Fatal(err)
		}
		if relDiff(got.Loss, want.Loss) > 1e-13 || got.Correct != want.Correct {
			t.Errorf("runner %v, EvaluateModel %v %v", got, want.Loss, want.Correct)
		}
	}
	bad := m.Flat()
	bad[0] = 5
	if _, err := r.Score(ctx, bad, x, y); err == nil || !strings.Contains(err.Error(), "outside the 3-bit range") {
		t.Errorf("bad level: %v", err)
	}
}

// TestPrepareBatchSizes re-prepares batches of other sizes (larger: the
// cache grows; smaller: its prefix is reused) and checks scores.
func TestPrepareBatchSizes(t *testing.T) {
	ctx := context.Background()
	m, _ := testModel(t, "lenet5", nn.Shape{C: 1, H: 28, W: 28}, 3, 4, quant.PerTensor, 8)
	ev, err := NewEvaluator(m, EvalOptions{Workers: 2, Chunk: 16})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(8, 8))
	for i, n := range []int{23, 40, 7, 33} {
		x, y := testData(m.Graph, n, uint64(i))
		base, err := ev.Prepare(ctx, x, y)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := EvaluateModel(ctx, m, x, y, 1)
		if relDiff(base.Loss, r.Loss) > 1e-12 || base.Correct != r.Correct {
			t.Fatalf("batch of %d: base %v, from scratch %v", n, base, r.Loss)
		}
		d := randomDelta(rng, m, []int{2}, 20)
		out := make([]Score, 1)
		if err := ev.Score(ctx, []Delta{d}, out); err != nil {
			t.Fatal(err)
		}
		c := m.Clone()
		flat := c.Flat()
		for k, idx := range d.Indices {
			flat[idx] = d.Levels[k]
		}
		_ = c.SetFlat(flat)
		r, _ = EvaluateModel(ctx, c, x, y, 1)
		if relDiff(out[0].Loss, r.Loss) > 1e-12 || out[0].Correct != r.Correct {
			t.Fatalf("batch of %d: candidate %v, from scratch %v", n, out[0], r.Loss)
		}
	}
}

// TestGeneralPooling runs a hand-built graph with a 3x3, stride-2 max
// pooling (the 2x2 fast path does not apply) through the engine, the
// reference and the incremental evaluator, including the channel-difference
// path.
func TestGeneralPooling(t *testing.T) {
	ctx := context.Background()
	g := nn.Graph{Arch: "custom", Input: nn.Shape{C: 1, H: 6, W: 6}, Classes: 10, Nodes: []nn.Node{
		{Name: "input", Op: nn.OpInput, OutShape: nn.Shape{C: 1, H: 6, W: 6}},
		{Name: "conv1", Op: nn.OpConv, Inputs: []int{0}, Kernel: 3, Stride: 1, Padding: 1, In: 1, Out: 4, HasBias: true, OutShape: nn.Shape{C: 4, H: 6, W: 6}},
		{Name: "relu1", Op: nn.OpReLU, Inputs: []int{1}, OutShape: nn.Shape{C: 4, H: 6, W: 6}},
		{Name: "pool1", Op: nn.OpMaxPool, Inputs: []int{2}, Kernel: 3, Stride: 2, OutShape: nn.Shape{C: 4, H: 2, W: 2}},
		{Name: "flatten", Op: nn.OpFlatten, Inputs: []int{3}, OutShape: nn.Shape{C: 16, H: 1, W: 1}},
		{Name: "fc", Op: nn.OpLinear, Inputs: []int{4}, In: 16, Out: 10, HasBias: true, OutShape: nn.Shape{C: 10, H: 1, W: 1}},
	}}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	param := func(shape ...int) quant.Tensor {
		n := 1
		for _, d := range shape {
			n *= d
		}
		d := make([]float32, n)
		for i := range d {
			d[i] = float32(rng.NormFloat64() * 0.5)
		}
		return quant.Tensor{Shape: shape, Data: d}
	}
	f := &quant.FloatModel{Graph: g, Params: map[string]quant.Tensor{"conv1.weight": param(4, 1, 3, 3), "conv1.bias": param(4), "fc.weight": param(10, 16), "fc.bias": param(10)}}
	x, y := testData(g, 37, 5)
	for _, act := range []int{32, 6} {
		m := rtnModel(t, f, 3, act, quant.PerTensor, x, y)
		want := refScore(m, x, y)
		ev, err := NewEvaluator(m, EvalOptions{Workers: 2, Chunk: 16})
		if err != nil {
			t.Fatal(err)
		}
		got, err := ev.Prepare(ctx, x, y)
		if err != nil {
			t.Fatal(err)
		}
		if relDiff(got.Loss, want.Loss) > 1e-5 || got.Correct != want.Correct {
			t.Fatalf("act %d: base %v, reference %v", act, got, want)
		}
		cands := []Delta{randomDelta(rng, m, []int{0}, 1), randomDelta(rng, m, []int{0}, 2), randomDelta(rng, m, nil, 20)}
		out := make([]Score, len(cands))
		if err := ev.Score(ctx, cands, out); err != nil {
			t.Fatal(err)
		}
		for i, d := range cands {
			c := m.Clone()
			flat := c.Flat()
			for k, idx := range d.Indices {
				flat[idx] = d.Levels[k]
			}
			_ = c.SetFlat(flat)
			r := refScore(c, x, y)
			if relDiff(out[i].Loss, r.Loss) > 1e-5 || out[i].Correct != r.Correct {
				t.Errorf("act %d, candidate %d: incremental %v, reference %v", act, i, out[i], r)
			}
		}
	}
}

// TestOneBit runs 1-bit weights and 1-bit activations (signed input:
// {-1, +1}; unsigned: {0, 1}) through the engine, the reference, the
// incremental evaluator (integer-only inference: TestOneBitInteger in
// quant/integer).
func TestOneBit(t *testing.T) {
	ctx := context.Background()
	m, _ := testModel(t, "lenet5", nn.Shape{C: 1, H: 28, W: 28}, 1, 1, quant.PerChannel, 4)
	x, y := testData(m.Graph, 20, 5)
	want := refScore(m, x, y)
	ev, err := NewEvaluator(m, EvalOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ev.Prepare(ctx, x, y)
	if err != nil {
		t.Fatal(err)
	}
	if relDiff(got.Loss, want.Loss) > 1e-5 || got.Correct != want.Correct {
		t.Fatalf("base %v, reference %v", got, want)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	d := randomDelta(rng, m, nil, 500)
	for i, l := range d.Levels {
		if l == 0 {
			d.Levels[i] = 1
		}
	}
	out := make([]Score, 1)
	if err := ev.Score(ctx, []Delta{d}, out); err != nil {
		t.Fatal(err)
	}
	c := m.Clone()
	flat := c.Flat()
	for k, idx := range d.Indices {
		flat[idx] = d.Levels[k]
	}
	if err := c.SetFlat(flat); err != nil {
		t.Fatal(err)
	}
	r := refScore(c, x, y)
	if relDiff(out[0].Loss, r.Loss) > 1e-5 || out[0].Correct != r.Correct {
		t.Errorf("candidate %v, reference %v", out[0], r)
	}
	if err := ev.Score(ctx, []Delta{{Indices: []int32{0}, Levels: []int8{0}}}, out); err == nil {
		t.Error("level 0 accepted for a 1-bit model")
	}
}
