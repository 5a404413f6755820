package engine

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/internal/deltatest"
)

// useIntegerKernels makes the integer path available in this test even
// without VNNI (the pure-Go twins then run).
func useIntegerKernels(t *testing.T) {
	old := forceIntegerKernels
	forceIntegerKernels = true
	t.Cleanup(func() { forceIntegerKernels = old })
}

// floatLogits runs the float32 fake-quantized forward pass (float32 GEMMs
// only, as EvaluateModel) of m on one chunk holding the whole batch and
// returns the logits (classes x batch).
func floatLogits(t *testing.T, m *quant.Model, x []float32, labels []uint8) []float32 {
	t.Helper()
	ls, w := layersFromModel(m)
	n, err := newNet(m.Graph, ls, len(labels), true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := checkBatch(n, x, labels)
	if err != nil {
		t.Fatal(err)
	}
	wk := newWorker(0, n, false)
	wk.setScratch(b.n)
	wk.loadInput(b, 0, b.n)
	wk.forwardAll(w, nil, b.n)
	return append([]float32(nil), wk.bufs[n.nodeSlot[len(n.g.Nodes)-1]][:m.Graph.Classes*b.n]...)
}

// candidateLogits scores d on the evaluator's first worker (the batch must
// fit one chunk) and returns its score and logits.
func candidateLogits(t *testing.T, e *Evaluator, d Delta) (Score, []float32) {
	t.Helper()
	if err := e.prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	w := e.workers[0]
	s, err := e.candidate(w, d)
	if err != nil {
		t.Fatal(err)
	}
	n := e.n
	return s, append([]float32(nil), w.bufs[n.nodeSlot[len(n.g.Nodes)-1]][:n.g.Classes*e.b.n]...)
}

// withDelta returns a copy of m with d applied.
func withDelta(t *testing.T, m *quant.Model, d Delta) *quant.Model {
	t.Helper()
	return deltatest.Apply(t, m, d.Indices, d.Levels)
}

// TestIntegerPathExact checks that candidates scored on the integer path
// (int8 GEMMs, byte activations between layers) give bit-for-bit the
// logits of the float32 fake-quantized forward pass of the candidate
// network, hence the same predictions and the same loss, for mlp, lenet5
// and resnet20 (16x16 inputs, to keep the pure-Go build fast) at 8 and 4 activation bits, with random
// levels: deltas spread over all layers (everything after the first layer
// recomputed, partly from byte outputs), in one middle layer (its input
// read from the cache) and full forward passes.
func TestIntegerPathExact(t *testing.T) {
	useIntegerKernels(t)
	ctx := context.Background()
	cases := []struct {
		arch  string
		in    nn.Shape
		batch int
	}{
		{"mlp", nn.Shape{C: 1, H: 12, W: 12}, 70},
		{"lenet5", nn.Shape{C: 1, H: 28, W: 28}, 70},
		{"resnet20", nn.Shape{C: 3, H: 16, W: 16}, 4},
	}
	for _, tc := range cases {
		for _, act := range []int{8, 4} {
			t.Run(fmt.Sprintf("%s/a%d", tc.arch, act), func(t *testing.T) {
				m, _ := testModel(t, tc.arch, tc.in, 4, act, quant.PerChannel, 31)
				rng := rand.New(rand.NewPCG(7, uint64(act)))
				// Random levels: move a third of the weights anywhere in range.
				m = withDelta(t, m, randomDelta(rng, m, nil, m.NumVars()/3))
				x, y := testData(m.Graph, tc.batch, 32)
				for _, full := range []bool{false, true} {
					ev, err := NewEvaluator(m, EvalOptions{Workers: 1, Chunk: tc.batch, FullForward: full})
					if err != nil {
						t.Fatal(err)
					}
					ints, bytesNodes := 0, 0
					for _, l := range ev.n.layers {
						if l.intPath {
							ints++
						}
					}
					for _, u := range ev.n.u8 {
						if u {
							bytesNodes++
						}
					}
					adds := 0
					for _, l := range ev.n.addBy {
						if l >= 0 {
							adds++
						}
					}
					// All 9 sums (the downsampling blocks' shortcut node
					// comes before their first convolution in graph order).
					if tc.arch == "resnet20" && adds != 9 {
						t.Fatalf("%d residual sums computed by a layer's epilogue, want 9", adds)
					}
					if ints != len(m.Layers)-1 || bytesNodes == 0 {
						t.Fatalf("integer path: %d of %d layers, %d byte nodes (want all layers but the first, some byte nodes)", ints, len(m.Layers), bytesNodes)
					}
					if _, err := ev.Prepare(ctx, x, y); err != nil {
						t.Fatal(err)
					}
					mid := len(m.Layers) / 2
					cands := []Delta{
						randomDelta(rng, m, nil, 40),
						randomDelta(rng, m, []int{mid}, len(m.Layers[mid].Levels)/2),
						randomDelta(rng, m, []int{len(m.Layers) - 1}, 30),
					}
					for i, d := range cands {
						s, got := candidateLogits(t, ev, d)
						cm := withDelta(t, m, d)
						want := floatLogits(t, cm, x, y)
						for k := range want {
							if math.Float32bits(got[k]) != math.Float32bits(want[k]) {
								t.Fatalf("full %v candidate %d: logit %d: integer path %v, float32 path %v", full, i, k, got[k], want[k])
							}
						}
						var loss float64
						var correct int
						chunkLoss(want, y, m.Graph.Classes, len(y), &loss, &correct, nil)
						if s.Loss != loss/float64(len(y)) || s.Correct != correct {
							t.Fatalf("full %v candidate %d: score %+v, float32 path loss %v correct %d", full, i, s, loss/float64(len(y)), correct)
						}
						rep, err := EvaluateModel(ctx, cm, x, y, 1)
						if err != nil {
							t.Fatal(err)
						}
						if rep.Correct != s.Correct || relDiff(rep.Loss, s.Loss) > 1e-12 {
							t.Fatalf("full %v candidate %d: score %+v, EvaluateModel loss %v correct %d", full, i, s, rep.Loss, rep.Correct)
						}
					}
				}
			})
		}
	}
}

// TestIntegerPathFallback checks the bad-input cases: a layer whose
// accumulators could reach 2^24 for the weights at hand (8-bit weights and
// activations over 576 inputs, ResNet-20's third stage, with one output
// channel saturated: in a candidate, in the base, in a finished model)
// runs on the float32 path with one log line naming it, and everything
// still scores exactly; activation levels that do not fit in a byte are
// refused.
func TestIntegerPathFallback(t *testing.T) {
	useIntegerKernels(t)
	var logs bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	m, _ := testModel(t, "resnet20", nn.Shape{C: 3, H: 16, W: 16}, 8, 8, quant.PerTensor, 41)
	x, y := testData(m.Graph, 4, 42)
	ev, err := NewEvaluator(m, EvalOptions{Workers: 1, Chunk: 4})
	if err != nil {
		t.Fatal(err)
	}
	// Every layer with an unsigned input runs int8; those over 576
	// inputs (the third stage but its first) are checked weight by weight.
	for _, l := range ev.n.layers {
		third := strings.HasPrefix(l.name, "layer3.") && l.name != "layer3.0.conv1"
		if l.act.Enabled() && !l.act.Signed && !l.intPath || l.rowCheck != third {
			t.Fatalf("%s: integer path %v, row check %v", l.name, l.intPath, l.rowCheck)
		}
	}
	if logs.Len() != 0 {
		t.Fatalf("unexpected log %q", logs.String())
	}
	if _, err := ev.Prepare(context.Background(), x, y); err != nil {
		t.Fatal(err)
	}
	var target int
	for i, l := range ev.n.layers {
		if l.name == "layer3.0.conv2" {
			target = i
		}
	}
	lay := m.Layout()[target]
	saturate := Delta{} // output channel 0 of layer3.0.conv2 at level 127
	for j := 0; j < 576; j++ {
		saturate.Indices = append(saturate.Indices, int32(lay.Offset+j))
		saturate.Levels = append(saturate.Levels, 127)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	check := func(base *quant.Model, d Delta, wantFloat bool) {
		t.Helper()
		_, got := candidateLogits(t, ev, d)
		if f := ev.workers[0].floatLayer[target]; f != wantFloat {
			t.Fatalf("layer3.0.conv2 on the float32 path: %v, want %v", f, wantFloat)
		}
		want := floatLogits(t, withDelta(t, base, d), x, y)
		for k := range want {
			if math.Float32bits(got[k]) != math.Float32bits(want[k]) {
				t.Fatalf("logit %d: %v, float32 path %v", k, got[k], want[k])
			}
		}
	}
	// A candidate that saturates a row runs that layer on float32 (and
	// logs it once); the next, ordinary one does not.
	check(m, randomDelta(rng, m, nil, 50), false)
	check(m, saturate, true)
	check(m, randomDelta(rng, m, nil, 50), false)
	out := logs.String()
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, "layer3.0.conv2") || !strings.Contains(out, "a candidate") {
		t.Fatalf("want one log line naming layer3.0.conv2 and a candidate, got %q", out)
	}
	// A saturated base: every candidate runs the layer on float32 (the
	// base pass too), until the base moves back.
	if err := ev.ApplyBase(saturate); err != nil {
		t.Fatal(err)
	}
	sat := ev.Model()
	check(sat, randomDelta(rng, m, nil, 50), true)
	back := Delta{Indices: saturate.Indices}
	for _, idx := range saturate.Indices {
		back.Levels = append(back.Levels, m.Flat()[idx])
	}
	if err := ev.ApplyBase(back); err != nil {
		t.Fatal(err)
	}
	check(m, randomDelta(rng, m, nil, 50), false)
	if b, err := ev.BaseScore(context.Background()); err != nil {
		t.Fatal(err)
	} else if r, _ := evaluateModel(context.Background(), m, x, y, 1, false); b.Correct != r.Correct || relDiff(b.Loss, r.Loss) > 1e-12 {
		t.Fatalf("base score %+v, float32 path %v %d", b, r.Loss, r.Correct)
	}

	// A finished model is checked on its actual levels: these 8-bit
	// weights are far from the worst case, so every layer runs int8 and
	// nothing is logged; saturating one output channel of layer3.0.conv2
	// (576 weights at 127) sends that layer back to float32 with a log
	// line. Either way the report is the float32 path's.
	ctx := context.Background()
	logs.Reset()
	xe, ye := testData(m.Graph, 12, 43)
	evalBoth := func(m *quant.Model) {
		t.Helper()
		got, err := EvaluateModel(ctx, m, xe, ye, 1)
		if err != nil {
			t.Fatal(err)
		}
		want, err := evaluateModel(ctx, m, xe, ye, 1, false)
		if err != nil {
			t.Fatal(err)
		}
		if math.Float64bits(got.Loss) != math.Float64bits(want.Loss) || got.Correct != want.Correct {
			t.Fatalf("EvaluateModel: %v %d, float32 path %v %d", got.Loss, got.Correct, want.Loss, want.Correct)
		}
	}
	logs.Reset()
	evalBoth(m)
	if logs.Len() != 0 {
		t.Fatalf("EvaluateModel of a model within the bound logged %q", logs.String())
	}
	satModel := m.Clone()
	for i := range satModel.Layers {
		if satModel.Layers[i].Name == "layer3.0.conv2" {
			for j := 0; j < 576; j++ {
				satModel.Layers[i].Levels[j] = 127
			}
		}
	}
	evalBoth(satModel)
	if out := logs.String(); strings.Count(out, "\n") != 1 || !strings.Contains(out, "layer3.0.conv2") || strings.Contains(out, "layer3.1.conv1") {
		t.Fatalf("want one log line naming layer3.0.conv2 only, got %q", out)
	}

	// Activation levels over 255 (not a valid model, so built by hand).
	ls, _ := layersFromModel(m)
	ls[1].act.Bits = 9
	n, err := newNet(m.Graph, ls, 4, true)
	if err != nil {
		t.Fatal(err)
	}
	why := n.planInteger(127, nil)
	if !strings.Contains(why, ls[1].name+": 9-bit activation levels do not fit in a byte") || n.layers[1].int8 || n.layers[1].intPath {
		t.Fatalf("9-bit activations: refusal %q, int8 %v, integer path %v", why, n.layers[1].int8, n.layers[1].intPath)
	}
}

// TestEvaluateModelIntegerPath checks that EvaluateModel, which runs
// models with quantized activations on the integer path, reports exactly
// what the float32 fake-quantized path reports (loss to the bit, correct
// count, confusion matrix), over several chunks (the last one partial)
// and two workers.
func TestEvaluateModelIntegerPath(t *testing.T) {
	useIntegerKernels(t)
	ctx := context.Background()
	cases := []struct {
		arch  string
		in    nn.Shape
		batch int
	}{
		{"mlp", nn.Shape{C: 1, H: 12, W: 12}, 300},
		{"lenet5", nn.Shape{C: 1, H: 28, W: 28}, 150},
		{"resnet20", nn.Shape{C: 3, H: 16, W: 16}, 20},
	}
	for _, tc := range cases {
		for _, act := range []int{8, 4} {
			m, _ := testModel(t, tc.arch, tc.in, 4, act, quant.PerTensor, 51)
			m = withDelta(t, m, randomDelta(rand.New(rand.NewPCG(9, uint64(act))), m, nil, m.NumVars()/3))
			x, y := testData(m.Graph, tc.batch, 52)
			got, err := EvaluateModel(ctx, m, x, y, 2)
			if err != nil {
				t.Fatal(err)
			}
			want, err := evaluateModel(ctx, m, x, y, 2, false)
			if err != nil {
				t.Fatal(err)
			}
			if math.Float64bits(got.Loss) != math.Float64bits(want.Loss) || got.Correct != want.Correct || fmt.Sprint(got.Confusion) != fmt.Sprint(want.Confusion) {
				t.Fatalf("%s a%d: integer path loss %v correct %d, float32 path %v %d (confusion %v vs %v)",
					tc.arch, act, got.Loss, got.Correct, want.Loss, want.Correct, got.Confusion, want.Confusion)
			}
		}
	}
}
