package engine

import (
	"github.com/ccq-project/ccq/quant"

	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/quant/internal/kernels"
)

// raceCase builds per-sample losses of nc candidates on a batch of n: a
// per-sample difficulty shared by all (as real losses are), plus candidate
// i's shift[i] and its own noise of deviation sd. It returns the losses
// (candidate-major), the base's (shift 0) and every candidate's mean over
// the whole batch.
func raceCase(seed uint64, n int, shift []float64, sd float64) (per, base, full []float64) {
	rng := rand.New(rand.NewPCG(seed, 3))
	diff := make([]float64, n)
	base = make([]float64, n)
	for k := range diff {
		diff[k] = 2 * rng.ExpFloat64()
		base[k] = diff[k] + sd*rng.NormFloat64()
	}
	per = make([]float64, len(shift)*n)
	full = make([]float64, len(shift))
	for i, s := range shift {
		for k := range n {
			v := diff[k] + s + sd*rng.NormFloat64()
			per[i*n+k] = v
			full[i] += v
		}
		full[i] /= float64(n)
	}
	return per, base, full
}

// firstPart cuts the first m samples of every candidate's n.
func firstPart(per []float64, nc, n, m int) []float64 {
	out := make([]float64, 0, nc*m)
	for i := range nc {
		out = append(out, per[i*n:i*n+m]...)
	}
	return out
}

// bestK returns the indices of the k lowest values.
func bestK(v []float64, k int) []int {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return compareFloat(v[a], v[b]) })
	return idx[:k]
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestRaceDropLargeGap: with 8 candidates near the base and 24 far behind,
// the rule keeps every one of the 8 best on the whole batch and drops every
// hopeless one.
func TestRaceDropLargeGap(t *testing.T) {
	const n, m, nc, keep = 1024, 256, 32, 8
	shift := make([]float64, nc)
	rng := rand.New(rand.NewPCG(5, 5))
	for i := range shift {
		if i%4 == 0 {
			shift[i] = -0.02 * rng.Float64() // near the base
		} else {
			shift[i] = 0.5 + rng.Float64() // hopeless
		}
	}
	per, base, full := raceCase(1, n, shift, 0.3)
	drop := make([]bool, nc)
	raceDrop(firstPart(per, nc, n, m), m, base[:m], n, keep, 3, drop)
	for _, i := range bestK(full, keep) {
		if drop[i] {
			t.Errorf("candidate %d (full-batch loss %.4f, among the %d best) dropped", i, full[i], keep)
		}
	}
	for i := range shift {
		if shift[i] >= 0.5 && !drop[i] {
			t.Errorf("hopeless candidate %d (shift %.2f) kept", i, shift[i])
		}
	}
}

// TestRaceDropCloseCalls: when candidates are close (shifts within a few
// standard errors), over many batches the rule never drops one of the keep
// best on the whole batch, and never one that beats the base there.
func TestRaceDropCloseCalls(t *testing.T) {
	const n, m, nc, keep = 1024, 256, 32, 8
	dropped := 0
	for trial := range uint64(60) {
		rng := rand.New(rand.NewPCG(trial, 11))
		shift := make([]float64, nc)
		for i := range shift {
			shift[i] = 0.1 * rng.NormFloat64()
		}
		per, base, full := raceCase(100+trial, n, shift, 0.5)
		baseFull := 0.0
		for _, v := range base {
			baseFull += v
		}
		baseFull /= n
		drop := make([]bool, nc)
		raceDrop(firstPart(per, nc, n, m), m, base[:m], n, keep, 3, drop)
		for _, i := range bestK(full, keep) {
			if drop[i] {
				t.Errorf("trial %d: candidate %d among the %d best on the whole batch dropped", trial, i, keep)
			}
		}
		for i, d := range drop {
			if d {
				dropped++
				if full[i] < baseFull {
					t.Errorf("trial %d: candidate %d beats the base on the whole batch but was dropped", trial, i)
				}
			}
		}
	}
	if dropped == 0 {
		t.Error("nothing dropped in any trial: the test does not exercise the rule")
	}
}

// TestRaceDropNoSpread: identical first-part losses (zero spread) decide
// nothing.
func TestRaceDropNoSpread(t *testing.T) {
	const m, n = 64, 256
	per := make([]float64, 3*m)
	base := make([]float64, m)
	for k := range m {
		per[k], per[m+k], per[2*m+k] = 1, 2, 2 // candidate 0 better by exactly 1 everywhere
	}
	drop := make([]bool, 3)
	raceDrop(per, m, base, n, 1, 3, drop)
	if slices.Contains(drop, true) {
		t.Errorf("dropped %v on differences without spread", drop)
	}
}

// TestScoreRace: on a LeNet-5, candidates finished by ScoreRace score
// bit for bit as with Score; the dropped ones are none of the keep best
// and all worse than the base on the whole batch, and hopeless candidates
// (many weights moved to the range's ends) are dropped.
func TestScoreRace(t *testing.T) {
	m, _ := testModel(t, "lenet5", nn.Shape{C: 1, H: 28, W: 28}, 3, 32, quant.PerTensor, 3)
	x, _ := testData(m.Graph, 512, 9)
	// Labels the base predicts, so that moving weights hurts.
	y := make([]uint8, 512)
	in := m.Graph.Input.Size()
	for k := range y {
		logits := refForward(m, x[k*in:(k+1)*in])
		y[k] = uint8(bestK(negated(logits), 1)[0])
	}
	ev, err := NewEvaluator(m, EvalOptions{Workers: 2, Chunk: 64})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	base, err := ev.Prepare(ctx, x, y)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	nw := len(ev.Base())
	lo, hi := quant.LevelRange(3)
	var cands []Delta
	for i := range 24 {
		var d Delta
		size := 3 // near the base
		if i%3 != 0 {
			size = nw / 3 // hopeless
		}
		for _, j := range rng.Perm(nw)[:size] {
			d.Indices = append(d.Indices, int32(j))
			lev := int8(lo)
			if rng.IntN(2) == 0 {
				lev = int8(hi)
			}
			d.Levels = append(d.Levels, lev)
		}
		cands = append(cands, d)
	}
	cands = append(cands, Delta{}) // the base itself
	want := make([]Score, len(cands))
	if err := ev.Score(ctx, cands, want); err != nil {
		t.Fatal(err)
	}
	got := make([]Score, len(cands))
	dropped := make([]bool, len(cands))
	const keep = 4
	st, err := ev.ScoreRace(ctx, cands, got, dropped, RaceOptions{Fraction: 0.25, Z: 3, Keep: keep})
	if err != nil {
		t.Fatal(err)
	}
	if st.PartSamples != 128 {
		t.Fatalf("first part of %d samples, want 128", st.PartSamples)
	}
	full := make([]float64, len(want))
	for i, s := range want {
		full[i] = s.Loss
	}
	for i := range cands {
		if !dropped[i] && got[i] != want[i] {
			t.Errorf("candidate %d finished with %+v, Score gives %+v", i, got[i], want[i])
		}
		if dropped[i] && !(want[i].Loss > base.Loss) {
			t.Errorf("candidate %d (loss %v) dropped but not worse than the base (%v)", i, want[i].Loss, base.Loss)
		}
	}
	for _, i := range bestK(full, keep) {
		if dropped[i] {
			t.Errorf("candidate %d among the %d best dropped", i, keep)
		}
	}
	if st.Dropped == 0 || st.SkippedSamples != int64(st.Dropped)*(512-128) {
		t.Errorf("stats %+v: want some dropped and %d skipped samples each", st, 512-128)
	}
	t.Logf("dropped %d of %d candidates", st.Dropped, len(cands))
	// Bad options name the field.
	if _, err := ev.ScoreRace(ctx, cands, got, dropped, RaceOptions{Fraction: 1, Z: 3, Keep: 1}); err == nil {
		t.Error("fraction 1 accepted")
	}
}

// negated returns -v as float64s.
func negated(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, f := range v {
		out[i] = -float64(f) // bestK of it is the highest logit
	}
	return out
}

// TestScoreRaceIntegerChunks races ResNet-20 candidates on the integer
// path over a batch whose last chunk is short, mixing candidates that
// change a few weights of the first (float-path) layer with candidates
// that run every layer in full: after the first part every candidate goes
// over the remaining chunks, a short one included. Every finished score
// must be Score's.
func TestScoreRaceIntegerChunks(t *testing.T) {
	useIntegerKernels(t)
	m, _ := testModel(t, "resnet20", nn.Shape{C: 3, H: 16, W: 16}, 4, 8, quant.PerChannel, 5)
	x, y := testData(m.Graph, 80, 6) // chunks of 32, 32 and 16
	ev, err := NewEvaluator(m, EvalOptions{Workers: 1, Chunk: 32})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := ev.Prepare(ctx, x, y); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(8, 8))
	var cands []Delta
	for i := range 8 {
		if i%2 == 0 {
			cands = append(cands, randomDelta(rng, m, []int{0}, 3))
		} else {
			cands = append(cands, randomDelta(rng, m, nil, m.NumVars()/4))
		}
	}
	want := make([]Score, len(cands))
	if err := ev.Score(ctx, cands, want); err != nil {
		t.Fatal(err)
	}
	got := make([]Score, len(cands))
	dropped := make([]bool, len(cands))
	st, err := ev.ScoreRace(ctx, cands, got, dropped, RaceOptions{Fraction: 0.25, Z: 50, Keep: len(cands) - 1})
	if err != nil {
		t.Fatal(err)
	}
	if st.PartSamples != 32 || st.Dropped != 0 {
		t.Fatalf("stats %+v: want a first part of 32 samples and nothing dropped", st)
	}
	for i := range cands {
		if got[i] != want[i] {
			t.Errorf("candidate %d finished with %+v, Score gives %+v", i, got[i], want[i])
		}
	}
}

// TestQuadBordersAfterOtherWriters checks the border bookkeeping of the
// integer path's byte buffers: after a writer other than the GEMM wrote a
// buffer at another chunk size (its interior then covers bytes that are
// border at the first size), a GEMM write at the first size must clear
// the border again.
func TestQuadBordersAfterOtherWriters(t *testing.T) {
	q := kernels.QuadGeom{C: 4, H: 3, W: 3, P: 1}
	buf := make([]byte, q.Size(32))
	var b quadBorders
	b.clear(buf, q, 32)
	// Another writer at 16 samples: border of the 16-sample layout zeroed,
	// its interior (all of it here) written.
	for i := range buf[:q.Size(16)] {
		buf[i] = 7
	}
	q.ClearBorder(buf, 16)
	b.wrote(buf, q, 16)
	b.clear(buf, q, 32)
	for y := -1; y <= q.H; y++ {
		for x := -1; x <= q.W; x++ {
			if y >= 0 && y < q.H && x >= 0 && x < q.W {
				continue
			}
			o := q.Pixel(0, y, x, 32)
			for k, v := range buf[o : o+4*32] {
				if v != 0 {
					t.Fatalf("border pixel (%d, %d) byte %d is %d after the GEMM's clear, want 0", y, x, k, v)
				}
			}
		}
	}
}
