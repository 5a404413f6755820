package host

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ccq-project/ccq/plugins/budget"
	"github.com/ccq-project/ccq/plugins/builtin"
	"github.com/ccq-project/ccq/plugins/catalog"
	"github.com/ccq-project/ccq/plugins/internal/snapcodec"
	"github.com/ccq-project/ccq/plugins/internal/synth"
	"github.com/ccq-project/ccq/plugins/optimizer"
	"github.com/ccq-project/ccq/plugins/rpc"
)

// badEnv makes the test binary serve a misbehaving optimizer.
const badEnv = "CCQ_HOST_TEST_BAD"

func TestMain(m *testing.M) {
	catalog.ServeIfAsked()
	if mode := os.Getenv(badEnv); mode != "" {
		rpc.Serve(newBad(mode))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// synthEval scores on a synthetic problem and checks the evaluator contract:
// BaseDelta and BaseVersion describe exactly how Base changed.
type synthEval struct {
	t       testing.TB
	sp      *synth.Problem
	mirror  []int8
	version uint64
	calls   int
	hook    func(req *ScoreRequest) error
}

func (e *synthEval) Score(ctx context.Context, req *ScoreRequest, res *ScoreResult) error {
	e.calls++
	if req.BaseReset {
		e.mirror = slices.Clone(req.Base)
	} else {
		if req.BaseDelta != nil {
			req.BaseDelta.ApplyTo(e.mirror)
			if req.BaseVersion == e.version {
				e.t.Errorf("generation %d: base changed but version stayed %d", req.Generation, e.version)
			}
		} else if req.BaseVersion != e.version {
			e.t.Errorf("generation %d: version changed without a delta", req.Generation)
		}
		if !slices.Equal(e.mirror, req.Base) {
			e.t.Errorf("generation %d: BaseDelta does not account for the change of Base", req.Generation)
		}
	}
	e.version = req.BaseVersion
	if e.hook != nil {
		if err := e.hook(req); err != nil {
			return err
		}
	}
	res.BaseFitness = e.sp.Score(req.Batch.Seed, req.Base, req.Candidates, res.Fitness)
	res.BaseAccuracy = 1 - e.sp.TrueLoss(req.Base)
	return nil
}

var ctx = context.Background()

func newSynth() *synth.Problem { return synth.New(800, 4, 0.3, 0.4, 3) }

const cceaParams = `{"lambda": 12, "group_size": 100, "gens_per_group": 3}`

func newOpt(t testing.TB, name string) optimizer.Optimizer {
	t.Helper()
	o, err := builtin.New(name)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// collect runs and returns the rows with timings zeroed.
func collect(t *testing.T, opt optimizer.Optimizer, cfg Config) ([]Row, *Result, error) {
	t.Helper()
	var rows []Row
	prev := cfg.OnGeneration
	cfg.OnGeneration = func(ctx context.Context, r *Row) error {
		c := *r
		c.Wall, c.GenTime, c.EvalTime = 0, 0, 0
		rows = append(rows, c)
		if prev != nil {
			return prev(ctx, r)
		}
		return nil
	}
	res, err := Run(ctx, opt, cfg)
	return rows, res, err
}

func baseConfig(t testing.TB, sp *synth.Problem, params string) Config {
	return Config{
		Problem:   sp.Optimizer(7, params),
		Evaluator: &synthEval{t: t, sp: sp},
		Budget:    Budget{Evaluations: 3000},
	}
}

func TestRunCountsAndImproves(t *testing.T) {
	sp := newSynth()
	cfg := baseConfig(t, sp, cceaParams)
	cfg.Validate = func(ctx context.Context, base []int8) (float64, error) { return -sp.TrueLoss(base), nil }
	cfg.ValidateEvery = 10
	rows, res, err := collect(t, newOpt(t, "ccea"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stop != StopEvaluations || res.Evaluations < 3000 || res.ResumedFrom != -1 {
		t.Fatalf("result %+v", res)
	}
	var evals int64
	for k, r := range rows {
		evals += int64(r.Candidates) + 1
		if r.Generation != int64(k) || r.Evaluations != evals {
			t.Fatalf("row %d: generation %d, evaluations %d (want %d)", k, r.Generation, r.Evaluations, evals)
		}
		if (r.ValAccuracy != nil) != ((k+1)%10 == 0) {
			t.Fatalf("row %d: validation present = %v", k, r.ValAccuracy != nil)
		}
		if r.Stats["group_size"] <= 0 || math.IsNaN(r.BestFitness) || r.BestFitness > r.MeanFitness {
			t.Fatalf("row %d: %+v", k, r)
		}
	}
	if evals != res.Evaluations || int64(len(rows)) != res.Generations {
		t.Fatalf("totals %d/%d vs rows %d/%d", res.Evaluations, res.Generations, evals, len(rows))
	}
	if evals-int64(rows[len(rows)-1].Candidates)-1 >= 3000 {
		t.Fatal("a generation started after the budget was spent")
	}
	if !(sp.TrueLoss(res.Levels) < sp.TrueLoss(sp.Start)) {
		t.Fatalf("no improvement: %v -> %v", sp.TrueLoss(sp.Start), sp.TrueLoss(res.Levels))
	}
}

// TestSameSeedSameRows: two runs with one seed give identical rows except
// timings; another seed gives other rows.
func TestSameSeedSameRows(t *testing.T) {
	sp := newSynth()
	for _, name := range builtin.Names() {
		params := cceaParams
		if name == "eda" || name == "mutation-ea" {
			params = `{"lambda": 12}`
		}
		a, ra, err := collect(t, newOpt(t, name), baseConfig(t, sp, params))
		if err != nil {
			t.Fatal(err)
		}
		b, rb, _ := collect(t, newOpt(t, name), baseConfig(t, sp, params))
		if !reflect.DeepEqual(a, b) || !slices.Equal(ra.Levels, rb.Levels) {
			t.Fatalf("%s: two runs with the same seed differ", name)
		}
		cfg := baseConfig(t, sp, params)
		cfg.Problem.Seed = 8
		c, _, _ := collect(t, newOpt(t, name), cfg)
		if reflect.DeepEqual(a, c) {
			t.Fatalf("%s: seeds 7 and 8 gave the same rows", name)
		}
	}
}

// interruptAndResume runs uninterrupted, then interrupted at generation
// `at` (by cancellation or an evaluator crash) and resumed with fresh
// optimizers from mk; the final solutions and rows must match.
func interruptAndResume(t *testing.T, mk func() optimizer.Optimizer, name, params string, cancel bool, at int64) {
	sp := newSynth()
	full, fres, err := collect(t, mk(), baseConfig(t, sp, params))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ckpt.bin")
	cfg := baseConfig(t, sp, params)
	cfg.CheckpointPath, cfg.CheckpointEvery, cfg.Resume = path, 4, true
	ev := cfg.Evaluator.(*synthEval)
	c, stop := context.WithCancel(ctx)
	defer stop()
	ev.hook = func(req *ScoreRequest) error {
		if req.Generation == at {
			if cancel {
				stop() // the generation in flight still completes (grace)
			} else {
				return errors.New("simulated crash")
			}
		}
		return nil
	}
	var part []Row
	cfg.OnGeneration = func(_ context.Context, r *Row) error {
		part = append(part, *r)
		return nil
	}
	res, err := Run(c, mk(), cfg)
	if err == nil {
		t.Fatalf("%s: interrupted run returned no error", name)
	}
	if cancel {
		if !errors.Is(err, context.Canceled) || res.Stop != StopCancelled || res.Generations != at+1 {
			t.Fatalf("%s: cancelled run: %+v, %v", name, res, err)
		}
	} else if !strings.Contains(err.Error(), "simulated crash") {
		t.Fatalf("%s: crash: %v", name, err)
	}
	// Resume in a new session with a fresh optimizer and evaluator.
	cfg2 := baseConfig(t, sp, params)
	cfg2.CheckpointPath, cfg2.CheckpointEvery, cfg2.Resume = path, 4, true
	rest, res2, err := collect(t, mk(), cfg2)
	if err != nil {
		t.Fatalf("%s: resumed run: %v", name, err)
	}
	want := at + 1
	if !cancel {
		want = at / 4 * 4 // the last periodic checkpoint
	}
	if res2.ResumedFrom != want {
		t.Fatalf("%s: resumed from %d, want %d", name, res2.ResumedFrom, want)
	}
	if !slices.Equal(res2.Levels, fres.Levels) {
		t.Fatalf("%s: interrupted+resumed run ended elsewhere than the uninterrupted one", name)
	}
	if res2.Evaluations != fres.Evaluations || res2.Generations != fres.Generations {
		t.Fatalf("%s: totals differ: %+v vs %+v", name, res2, fres)
	}
	if fres.FirstBaseFitness != full[0].BaseFitness || fres.LastBaseFitness != full[len(full)-1].BaseFitness {
		t.Fatalf("%s: first and last base fitness %v, %v; the rows say %v, %v", name, fres.FirstBaseFitness, fres.LastBaseFitness, full[0].BaseFitness, full[len(full)-1].BaseFitness)
	}
	// They travel in the checkpoint: the resumed session never saw generation 0.
	if res2.FirstBaseFitness != fres.FirstBaseFitness || res2.LastBaseFitness != fres.LastBaseFitness {
		t.Fatalf("%s: resumed run's first and last base fitness %v, %v, want %v, %v", name, res2.FirstBaseFitness, res2.LastBaseFitness, fres.FirstBaseFitness, fres.LastBaseFitness)
	}
	if !reflect.DeepEqual(rest, full[want:]) {
		t.Fatalf("%s: rows after the resume differ from the uninterrupted run's", name)
	}
	// Resuming a finished run is a no-op that returns the same solution.
	again, res3, err := collect(t, mk(), cfg2)
	if err != nil || len(again) != 0 || !slices.Equal(res3.Levels, fres.Levels) {
		t.Fatalf("%s: resuming a finished run: %d rows, %v", name, len(again), err)
	}
}

func TestInterruptResumeInProcess(t *testing.T) {
	for _, name := range builtin.Names() {
		params := cceaParams
		if name == "eda" || name == "mutation-ea" {
			params = `{"lambda": 12}`
		}
		mk := func() optimizer.Optimizer { return newOpt(t, name) }
		interruptAndResume(t, mk, name, params, true, 37)
		interruptAndResume(t, mk, name, params, false, 53)
	}
}

// TestInterruptResumeOverGRPC: the same with the built-in served by a
// separate process (the test binary re-executed), and the in-process and
// remote runs agree.
func TestInterruptResumeOverGRPC(t *testing.T) {
	r := &catalog.Resolver{Builtin: catalog.TestBinarySpec}
	var plugins []*rpc.Plugin
	t.Cleanup(func() {
		for _, p := range plugins {
			p.Close()
		}
	})
	mk := func() optimizer.Optimizer {
		p, err := r.Open(ctx, catalog.Ref{Plugin: "ccea"}, rpc.Options{})
		if err != nil {
			t.Fatal(err)
		}
		plugins = append(plugins, p)
		return p
	}
	interruptAndResume(t, mk, "ccea", cceaParams, true, 21)
	sp := newSynth()
	a, ra, err := collect(t, mk(), baseConfig(t, sp, cceaParams))
	if err != nil {
		t.Fatal(err)
	}
	b, rb, _ := collect(t, newOpt(t, "ccea"), baseConfig(t, sp, cceaParams))
	if !reflect.DeepEqual(a, b) || !slices.Equal(ra.Levels, rb.Levels) {
		t.Fatal("the remote and in-process runs differ")
	}
}

func TestCancelWithoutGrace(t *testing.T) {
	sp := newSynth()
	path := filepath.Join(t.TempDir(), "ckpt.bin")
	cfg := baseConfig(t, sp, cceaParams)
	cfg.CheckpointPath, cfg.CheckpointEvery, cfg.CancelGrace = path, 5, -1
	c, stop := context.WithCancel(ctx)
	defer stop()
	cfg.Evaluator.(*synthEval).hook = func(req *ScoreRequest) error {
		if req.Generation == 12 {
			stop()
			return errors.New("evaluation interrupted")
		}
		return nil
	}
	_, err := Run(c, newOpt(t, "ccea"), cfg)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "abandoned") {
		t.Fatalf("got %v", err)
	}
	raw, _ := os.ReadFile(path)
	st, _, err := decodeCheckpoint(raw, fingerprint("ccea", cfg.Problem), 800)
	if err != nil || st.gen != 10 {
		t.Fatalf("checkpoint after an abandoned generation: %+v %v", st, err)
	}
}

func TestCheckpointMismatchAndDamage(t *testing.T) {
	sp := newSynth()
	path := filepath.Join(t.TempDir(), "ckpt.bin")
	cfg := baseConfig(t, sp, cceaParams)
	cfg.CheckpointPath, cfg.Budget = path, Budget{Generations: 5}
	if _, err := Run(ctx, newOpt(t, "ccea"), cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Resume = true
	other := baseConfig(t, sp, cceaParams)
	other.CheckpointPath, other.Resume, other.Budget = path, true, Budget{Generations: 9}
	other.Problem.Seed = 99
	if _, err := Run(ctx, newOpt(t, "ccea"), other); !errors.Is(err, ErrCheckpoint) || !strings.Contains(err.Error(), "another run") {
		t.Fatalf("other seed: %v", err)
	}
	if _, err := Run(ctx, newOpt(t, "ccea-random"), cfg); !errors.Is(err, ErrCheckpoint) {
		t.Fatalf("other optimizer: %v", err)
	}
	raw, _ := os.ReadFile(path)
	raw[len(raw)/2] ^= 1
	os.WriteFile(path, raw, 0o644)
	if _, err := Run(ctx, newOpt(t, "ccea"), cfg); !errors.Is(err, ErrCheckpoint) || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("damaged: %v", err)
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("directory holds %d files", len(ents))
	}
}

func FuzzDecodeCheckpoint(f *testing.F) {
	var fp [32]byte
	st := &state{gen: 3, evals: 99, batch: 3, rng: []byte("rng-state"), base: []int8{1, -2, 3}}
	f.Add(encodeCheckpoint(fp, st, []byte("snap")))
	f.Add([]byte(ckptMagic))
	f.Fuzz(func(t *testing.T, raw []byte) {
		st, _, err := decodeCheckpoint(raw, fp, 3)
		if err == nil && len(st.base) != 3 {
			t.Fatal("accepted a base of the wrong length")
		}
	})
}

func TestWallBudgetWithFakeClock(t *testing.T) {
	sp := newSynth()
	cfg := baseConfig(t, sp, cceaParams)
	now := time.Unix(0, 0)
	cfg.Now = func() time.Time { now = now.Add(time.Second); return now }
	cfg.Budget = Budget{WallTime: budget.Duration(time.Minute)}
	rows, res, err := collect(t, newOpt(t, "ccea"), cfg)
	if err != nil || res.Stop != StopWall || len(rows) == 0 || res.Wall < time.Minute {
		t.Fatalf("%d rows, %+v, %v", len(rows), res, err)
	}
}

func TestDoneStopsTheRun(t *testing.T) {
	sp := synth.New(60, 2, 0.3, 0.2, 3)
	cfg := baseConfig(t, sp, `{"lambda": 8, "group_size": 20, "gens_per_group": 2, "tau": 0.5, "alpha": 0.9}`)
	cfg.Budget = Budget{Evaluations: 1 << 40}
	_, res, err := collect(t, newOpt(t, "ccea"), cfg)
	if err != nil || res.Stop != StopDone {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestConfigErrors(t *testing.T) {
	sp := newSynth()
	cfg := baseConfig(t, sp, "")
	cfg.Budget = Budget{}
	if _, err := Run(ctx, newOpt(t, "ccea"), cfg); err == nil || !strings.Contains(err.Error(), "budget") {
		t.Fatalf("no budget: %v", err)
	}
	cfg = baseConfig(t, sp, `{"bogus": 1}`)
	if _, err := Run(ctx, newOpt(t, "ccea"), cfg); err == nil || !strings.Contains(err.Error(), `optimizer "ccea": Init`) {
		t.Fatalf("bad params: %v", err)
	}
}

// bad is an optimizer that breaks the protocol in one way.
type bad struct {
	optimizer.Optimizer
	mode string
	n    int
}

func newBad(mode string) *bad {
	o, _ := builtin.New("mutation-ea")
	return &bad{Optimizer: o, mode: mode}
}

func (b *bad) Info(ctx context.Context) (optimizer.Info, error) {
	i, err := b.Optimizer.Info(ctx)
	i.Name = "bad-" + b.mode
	return i, err
}

func (b *bad) Init(ctx context.Context, p *optimizer.Problem) (optimizer.InitResult, error) {
	b.n = p.N()
	r, err := b.Optimizer.Init(ctx, p)
	if b.mode == "max-zero" {
		r.MaxCandidates = 0
	}
	return r, err
}

func (b *bad) Ask(ctx context.Context) (*optimizer.Ask, error) {
	a, err := b.Optimizer.Ask(ctx)
	if err != nil {
		return a, err
	}
	c := &a.Candidates[0]
	switch b.mode {
	case "index-range":
		c.Indices[0] = int32(b.n)
	case "negative-index":
		c.Indices[0] = -1
	case "duplicate":
		c.Indices = append(c.Indices, c.Indices[0])
		c.Levels = append(c.Levels, c.Levels[0])
	case "level":
		c.Levels[0] = 9
	case "lengths":
		c.Levels = c.Levels[:0]
	case "too-many":
		for len(a.Candidates) < 100 {
			a.Candidates = append(a.Candidates, a.Candidates[0])
		}
	case "none":
		a.Candidates = nil
	case "base":
		a.Base = &optimizer.Delta{Indices: []int32{0}, Levels: []int8{100}}
	case "done-with-candidates":
		a.Done = true
	}
	return a, nil
}

func (b *bad) Best(ctx context.Context) (*optimizer.Solution, error) {
	s, err := b.Optimizer.Best(ctx)
	if b.mode == "best-short" {
		s.Levels = s.Levels[1:]
	}
	return s, err
}

var badFaults = map[string]string{
	"index-range":          "index 800 out of range [0, 800)",
	"negative-index":       "index -1 out of range",
	"duplicate":            "appears twice",
	"level":                "level 9 outside its domain [-7, 7]",
	"lengths":              "indices but 0 levels",
	"too-many":             "100 candidates, more than the 33 announced",
	"none":                 "no candidates and not done",
	"base":                 "base delta: entry 0: variable 0: level 100 outside",
	"done-with-candidates": "done but carries",
	"best-short":           "solution has 799 levels, expected 800",
	"max-zero":             "max candidates 0",
}

// TestInvalidAnswers: every protocol violation stops the run with a message
// naming the optimizer and the fault, in process and over gRPC.
func TestInvalidAnswers(t *testing.T) {
	sp := newSynth()
	for mode, want := range badFaults {
		for _, remote := range []bool{false, true} {
			var opt optimizer.Optimizer = newBad(mode)
			if remote {
				exe, _ := os.Executable()
				p, err := rpc.Start(ctx, rpc.Spec{Name: "bad-" + mode, Path: exe, Args: []string{"-test.run=^$"}, Env: []string{badEnv + "=" + mode}}, rpc.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				opt = p
			}
			cfg := baseConfig(t, sp, "")
			cfg.Budget = Budget{Generations: 3}
			_, err := Run(ctx, opt, cfg)
			if err == nil {
				t.Fatalf("%s (remote %v): accepted", mode, remote)
			}
			if !errors.Is(err, ErrInvalidAnswer) || !strings.Contains(err.Error(), fmt.Sprintf(`optimizer "bad-%s"`, mode)) || !strings.Contains(err.Error(), want) {
				t.Errorf("%s (remote %v): %v\nwant a message naming the optimizer and containing %q", mode, remote, err, want)
			}
		}
	}
}

// TestPluginCrashFailsRun: a plugin process killed mid-run fails the run
// with the plugin named, and the last checkpoint still resumes.
func TestPluginCrashFailsRun(t *testing.T) {
	sp := newSynth()
	r := &catalog.Resolver{Builtin: catalog.TestBinarySpec}
	p, err := r.Open(ctx, catalog.Ref{Plugin: "ccea"}, rpc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	path := filepath.Join(t.TempDir(), "ckpt.bin")
	cfg := baseConfig(t, sp, cceaParams)
	cfg.CheckpointPath, cfg.CheckpointEvery, cfg.Resume = path, 5, true
	cfg.Evaluator.(*synthEval).hook = func(req *ScoreRequest) error {
		if req.Generation == 7 {
			p.Close() // the plugin goes away during the generation
		}
		return nil
	}
	_, err = Run(ctx, p, cfg)
	if !errors.Is(err, rpc.ErrDied) && !strings.Contains(err.Error(), "unusable") {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(err.Error(), `plugin "ccea"`) || !strings.Contains(err.Error(), "Tell (generation 7)") {
		t.Fatalf("message: %v", err)
	}
	q, err := r.Open(ctx, catalog.Ref{Plugin: "ccea"}, rpc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	cfg.Evaluator = &synthEval{t: t, sp: sp}
	res, err := Run(ctx, q, cfg)
	if err != nil || res.ResumedFrom != 5 {
		t.Fatalf("resume after the crash: %+v %v", res, err)
	}
}

// TestExtendBudget: resuming a finished run with a larger budget continues
// it, ending where a run with the larger budget from the start ends.
func TestExtendBudget(t *testing.T) {
	sp := newSynth()
	path := filepath.Join(t.TempDir(), "ckpt.bin")
	cfg := baseConfig(t, sp, cceaParams)
	cfg.CheckpointPath, cfg.Resume, cfg.Budget = path, true, Budget{Evaluations: 1000}
	first, err := Run(ctx, newOpt(t, "ccea"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Budget.Evaluations = 2000
	cfg.Evaluator = &synthEval{t: t, sp: sp}
	ext, err := Run(ctx, newOpt(t, "ccea"), cfg)
	if err != nil || ext.ResumedFrom != first.Generations {
		t.Fatalf("%+v %v", ext, err)
	}
	direct := baseConfig(t, sp, cceaParams)
	direct.Budget = Budget{Evaluations: 2000}
	want, err := Run(ctx, newOpt(t, "ccea"), direct)
	if err != nil || !slices.Equal(want.Levels, ext.Levels) || want.Evaluations != ext.Evaluations {
		t.Fatalf("extended run differs from a direct one: %v", err)
	}
}

// noisyValidation scores a base by its true loss plus a deterministic
// pseudo-random term, so that the best validated base is often not the
// last one; it records every call.
type noisyValidation struct {
	sp    *synth.Problem
	bases [][]int8
	accs  []float64
}

func (v *noisyValidation) validate(_ context.Context, base []int8) (float64, error) {
	h := fnv.New64a()
	for _, x := range base {
		h.Write([]byte{byte(x)})
	}
	acc := -v.sp.TrueLoss(base) + 0.5*float64(h.Sum64()%1000)/1000
	v.bases = append(v.bases, slices.Clone(base))
	v.accs = append(v.accs, acc)
	return acc, nil
}

func TestSelectBestValidation(t *testing.T) {
	sp := newSynth()
	plain := baseConfig(t, sp, cceaParams)
	_, pres, err := collect(t, newOpt(t, "ccea"), plain)
	if err != nil || pres.Selected != -1 || !math.IsNaN(pres.SelectedValAccuracy) {
		t.Fatalf("without selection: %+v, %v", pres, err)
	}

	run := func(c context.Context, cfg Config) (*Result, *noisyValidation, error) {
		v := &noisyValidation{sp: sp}
		cfg.Validate, cfg.ValidateEvery, cfg.SelectBestValidation = v.validate, 5, true
		res, err := Run(c, newOpt(t, "ccea"), cfg)
		return res, v, err
	}
	res, v, err := run(ctx, baseConfig(t, sp, cceaParams))
	if err != nil {
		t.Fatal(err)
	}
	// The same trajectory as without selection: the last call validates
	// the final solution, which is the plain run's output.
	if n := len(v.bases); n < 3 || !slices.Equal(v.bases[n-1], pres.Levels) || res.FinalValAccuracy != v.accs[n-1] {
		t.Fatalf("final solution not validated last (%d calls)", n)
	}
	best := 0
	for i, a := range v.accs {
		if a >= v.accs[best] {
			best = i
		}
	}
	if !slices.Equal(res.Levels, v.bases[best]) || res.SelectedValAccuracy != v.accs[best] {
		t.Fatalf("output is not the best validated base (call %d of %d, accuracy %v; got %v)", best, len(v.accs), v.accs[best], res.SelectedValAccuracy)
	}
	if best == len(v.accs)-1 {
		t.Fatal("the test validation is meant to make an earlier base win; change its noise")
	}
	if res.Selected != 5*int64(best+1) || res.Selected >= res.Generations {
		t.Fatalf("selected generation %d, want %d (run of %d)", res.Selected, 5*(best+1), res.Generations)
	}

	// Interrupted and resumed: the same selection as the uninterrupted run.
	path := filepath.Join(t.TempDir(), "ckpt.bin")
	cfg := baseConfig(t, sp, cceaParams)
	cfg.CheckpointPath, cfg.CheckpointEvery, cfg.Resume = path, 4, true
	c, stop := context.WithCancel(ctx)
	defer stop()
	cfg.Evaluator.(*synthEval).hook = func(req *ScoreRequest) error {
		if req.Generation == 5*int64(best+1)+7 {
			stop()
		}
		return nil
	}
	if _, _, err := run(c, cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	cfg2 := baseConfig(t, sp, cceaParams)
	cfg2.CheckpointPath, cfg2.CheckpointEvery, cfg2.Resume = path, 4, true
	res2, _, err := run(ctx, cfg2)
	if err != nil {
		t.Fatal(err)
	}
	if res2.ResumedFrom <= res.Selected || !slices.Equal(res2.Levels, res.Levels) || res2.Selected != res.Selected || res2.SelectedValAccuracy != res.SelectedValAccuracy {
		t.Fatalf("resumed from %d: selected %d (%v), uninterrupted %d (%v)", res2.ResumedFrom, res2.Selected, res2.SelectedValAccuracy, res.Selected, res.SelectedValAccuracy)
	}

	// Selection needs a validation function.
	bad := baseConfig(t, sp, cceaParams)
	bad.SelectBestValidation = true
	if _, err := Run(ctx, newOpt(t, "ccea"), bad); err == nil || !strings.Contains(err.Error(), "validation") {
		t.Fatalf("selection without validation: %v", err)
	}
}

// TestOnCheckpointPrecedesTheCheckpoint: OnCheckpoint runs after the rows
// the checkpoint covers and before the file is written, so a caller that
// makes its rows durable there never has a checkpoint ahead of its rows;
// its error stops the run without writing the checkpoint.
func TestOnCheckpointPrecedesTheCheckpoint(t *testing.T) {
	sp := newSynth()
	path := filepath.Join(t.TempDir(), "ckpt.bin")
	cfg := baseConfig(t, sp, cceaParams)
	cfg.CheckpointPath, cfg.CheckpointEvery, cfg.Budget = path, 4, Budget{Generations: 10}
	rows := int64(0)
	var calls []int64
	cfg.OnGeneration = func(context.Context, *Row) error { rows++; return nil }
	cfg.OnCheckpoint = func(_ context.Context, gen int64) error {
		if gen != rows {
			t.Errorf("OnCheckpoint(%d) after %d rows", gen, rows)
		}
		prev := int64(0)
		if raw, err := os.ReadFile(path); err == nil {
			st, _, err := decodeCheckpoint(raw, fingerprint("ccea", cfg.Problem), 800)
			if err != nil {
				t.Fatal(err)
			}
			prev = st.gen
		}
		if prev >= gen && gen > 0 {
			t.Errorf("OnCheckpoint(%d): the checkpoint of generation %d is already written", gen, prev)
		}
		calls = append(calls, gen)
		return nil
	}
	if _, err := Run(ctx, newOpt(t, "ccea"), cfg); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(calls, []int64{4, 8, 10}) {
		t.Fatalf("OnCheckpoint calls %v, want [4 8 10] (every 4 generations and at the end)", calls)
	}

	path2 := filepath.Join(t.TempDir(), "ckpt.bin")
	cfg.CheckpointPath = path2
	cfg.OnCheckpoint = func(context.Context, int64) error { return errors.New("disk full") }
	if _, err := Run(ctx, newOpt(t, "ccea"), cfg); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("failing OnCheckpoint: %v", err)
	}
	if _, err := os.Stat(path2); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a checkpoint was written although OnCheckpoint failed: %v", err)
	}
}

// restoreFails is ccea with a Restore that refuses every snapshot.
type restoreFails struct{ optimizer.Optimizer }

func (restoreFails) Restore(context.Context, []byte) error {
	return errors.New("unknown snapshot version")
}

// TestUnusableCheckpoint: a damaged checkpoint, another run's, and one the
// optimizer's Restore refuses are all "unusable" (the caller may start
// over); an unreadable one is a plain checkpoint error. MoveCheckpointAside
// renames the file next to itself.
func TestUnusableCheckpoint(t *testing.T) {
	sp := newSynth()
	dir := t.TempDir()
	path := filepath.Join(dir, "host.ckpt")
	cfg := baseConfig(t, sp, cceaParams)
	cfg.CheckpointPath, cfg.Budget = path, Budget{Generations: 3}
	if _, err := Run(ctx, newOpt(t, "ccea"), cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Resume = true
	if _, err := Run(ctx, restoreFails{newOpt(t, "ccea")}, cfg); !errors.Is(err, ErrUnusableCheckpoint) || !errors.Is(err, ErrCheckpoint) ||
		!strings.Contains(err.Error(), "unknown snapshot version") || !strings.Contains(err.Error(), path) {
		t.Fatalf("Restore refused: %v", err)
	}
	other := cfg
	other.Problem = sp.Optimizer(8, cceaParams)
	if _, err := Run(ctx, newOpt(t, "ccea"), other); !errors.Is(err, ErrUnusableCheckpoint) {
		t.Fatalf("another run's checkpoint: %v", err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/3] ^= 0x10
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, newOpt(t, "ccea"), cfg); !errors.Is(err, ErrUnusableCheckpoint) || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("damaged: %v", err)
	}
	aside, err := MoveCheckpointAside(path)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(aside); err != nil || !slices.Equal(b, raw) || filepath.Dir(aside) != dir || !strings.HasPrefix(filepath.Base(aside), "host.ckpt.damaged-") {
		t.Fatalf("moved aside to %s: %v", aside, err)
	}
	// Without the file the run starts over.
	if res, err := Run(ctx, newOpt(t, "ccea"), cfg); err != nil || res.ResumedFrom != -1 {
		t.Fatalf("after moving aside: %+v %v", res, err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, newOpt(t, "ccea"), cfg); !errors.Is(err, ErrCheckpoint) || errors.Is(err, ErrUnusableCheckpoint) {
		t.Fatalf("unreadable checkpoint: %v", err)
	}
}

// TestReadsCheckpointV2: a checkpoint in the format before the first and
// last base fitness were added still resumes (they read as 0).
func TestReadsCheckpointV2(t *testing.T) {
	var fp [32]byte
	fp[0] = 7
	e := snapcodec.NewEncoder(ckptMagicV2)
	e.Raw(fp[:])
	e.I64(5)
	e.I64(60)
	e.U64(5)
	e.I64(int64(time.Second))
	e.Raw([]byte("rng"))
	e.I8s([]int8{1, 0, -1})
	e.I64(4)
	e.F64(0.5)
	e.I8s([]int8{1, 1, -1})
	e.Raw([]byte("snap"))
	b := e.Bytes()
	sum := sha256.Sum256(b)
	st, snap, err := decodeCheckpoint(append(b, sum[:]...), fp, 3)
	if err != nil {
		t.Fatal(err)
	}
	if st.gen != 5 || st.evals != 60 || st.bestGen != 4 || st.bestVal != 0.5 || !slices.Equal(st.bestBase, []int8{1, 1, -1}) ||
		st.firstFit != 0 || st.lastFit != 0 || string(snap) != "snap" {
		t.Fatalf("decoded %+v, snapshot %q", st, snap)
	}
	// The current format round-trips the new fields.
	st.firstFit, st.lastFit = 2.5, 1.25
	st2, _, err := decodeCheckpoint(encodeCheckpoint(fp, st, snap), fp, 3)
	if err != nil || st2.firstFit != 2.5 || st2.lastFit != 1.25 {
		t.Fatalf("round trip: %+v %v", st2, err)
	}
}
