// Package host runs the generation loop between an optimizer (built in, in
// process or behind plugins/rpc) and an evaluator that scores candidates on
// mini-batches. It validates every answer of the optimizer, counts
// evaluations, reports one row per generation, validates the base every N
// generations, writes checkpoints atomically and resumes from them so that
// an interrupted and resumed run ends exactly where an uninterrupted one
// with the same seed does.
//
// The evolve stage binds it to the quantized-network evaluator:
//
//	res, err := host.Run(ctx, opt, host.Config{
//		Problem:   prob,           // layers, start levels, domains, seed, params
//		Evaluator: eval,           // scores sparse deltas against a cached base
//		Budget:    host.Budget{Evaluations: 5000},
//		OnGeneration: writeRow,    // one Row per generation
//		OnCheckpoint: syncRows,    // make the rows so far durable before a checkpoint
//		Validate: valAcc, ValidateEvery: 10,
//		CheckpointPath: dir + "/checkpoint.bin", CheckpointEvery: 20, Resume: true,
//	})
package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/ccq-project/ccq/plugins/budget"
	"github.com/ccq-project/ccq/plugins/optimizer"
)

// Batch identifies one generation's mini-batch. The evaluator maps it to
// samples deterministically (for example: Index-th batch of an epoch-wise
// shuffled order, or a sample drawn with Seed), so a resumed run sees the
// same batches.
type Batch struct {
	// Index counts generations from 0 (the host's batch cursor).
	Index uint64
	// Seed is drawn for this generation from the host's random generator.
	Seed uint64
}

// ScoreRequest asks the evaluator to score a generation. Base, Candidates
// and BaseDelta belong to the host and are valid only during the call.
type ScoreRequest struct {
	// Generation is the 0-based index of the generation.
	Generation int64
	// Batch is the mini-batch every candidate and the base are scored on.
	Batch Batch
	// Base is the full current base (context vector); read-only.
	Base []int8
	// BaseVersion changes exactly when Base changes, so an evaluator can
	// key caches of the base's activations by it.
	BaseVersion uint64
	// BaseReset is true on the first call of a Run (fresh or resumed): the
	// evaluator must treat Base as new.
	BaseReset bool
	// BaseDelta is the change of Base since the previous call, or nil if
	// it did not change (or BaseReset is true).
	BaseDelta *optimizer.Delta
	// Candidates are sparse deltas against Base; every index is in range
	// and unique within a candidate, every level inside its domain.
	Candidates []optimizer.Delta
	// Race, when not nil, allows the evaluator to race the candidates (see
	// Race); an evaluator may ignore it and score every candidate in full.
	Race *Race
}

// Race configures racing (Config.Race): the evaluator scores every
// candidate on a first part of the batch and finishes only those that can
// still be among the Keep best, or beat the base. A candidate it stops
// early ("dropped") gets the fitness +Inf, which ranks it last; every other
// fitness is exactly the one scoring in full would give. Whether the
// optimizer decides the same as without racing depends on Keep covering
// everything it reads from the fitnesses: the ccea family reads the ranks
// of its mu best, the best's fitness and the probes' fitnesses against
// the base's (Keep = mu + 2 probes), mutation-ea the best and the probes
// (Keep = 3). The decision rule is quant/engine's RaceOptions (a paired z-test).
type Race struct {
	// Fraction is the part of the batch every candidate is scored on
	// first (0 < Fraction < 1; rounded up to the evaluator's chunks).
	Fraction float64
	// Z is the one-sided z-score a difference on the first part must
	// exceed to count (> 0).
	Z float64
	// Keep is the number of best candidates that are always finished.
	Keep int
}

// Validate checks the fields, naming the one at fault.
func (r *Race) Validate() error {
	switch {
	case !(r.Fraction > 0 && r.Fraction < 1):
		return fmt.Errorf("race fraction %v: expected 0 < fraction < 1", r.Fraction)
	case !(r.Z > 0) || math.IsInf(r.Z, 1):
		return fmt.Errorf("race z %v: expected a finite z > 0", r.Z)
	case r.Keep < 1:
		return fmt.Errorf("race keep %d: expected >= 1", r.Keep)
	}
	return nil
}

// ScoreResult is the evaluator's answer. Fitness is allocated by the host
// with len(Candidates) entries; the evaluator fills it.
type ScoreResult struct {
	// Fitness[k] is candidate k's fitness (mean cross-entropy on the
	// batch); lower is better.
	Fitness []float64
	// BaseFitness is the base's fitness on the same batch.
	BaseFitness float64
	// BaseAccuracy is the base's accuracy on the same batch (for the row).
	BaseAccuracy float64
	// Dropped is the number of candidates a race stopped early (their
	// Fitness is +Inf) and SkippedImages the candidate-images it did not
	// evaluate; both 0 without racing.
	Dropped       int
	SkippedImages int64
}

// Evaluator scores candidates. Score is called once per generation, never
// concurrently; it may use all cores inside.
type Evaluator interface {
	Score(ctx context.Context, req *ScoreRequest, res *ScoreResult) error
}

// EvaluatorFunc adapts a function to Evaluator.
type EvaluatorFunc func(ctx context.Context, req *ScoreRequest, res *ScoreResult) error

// Score implements Evaluator.
func (f EvaluatorFunc) Score(ctx context.Context, req *ScoreRequest, res *ScoreResult) error {
	return f(ctx, req, res)
}

// ValidateFunc measures the base's validation accuracy.
type ValidateFunc func(ctx context.Context, base []int8) (accuracy float64, err error)

// Budget bounds a run (see package budget: the same type bounds an
// experiment's optimizer and the evolve stage).
type Budget = budget.Budget

// Row is one generation's record.
type Row struct {
	// Generation is the 0-based index of the generation.
	Generation int64
	// Evaluations is the count after this generation.
	Evaluations int64
	// Candidates is the number of candidates scored.
	Candidates int
	// BestFitness and MeanFitness are over this generation's candidates
	// (NaN fitnesses ignored, and with racing the dropped candidates').
	BestFitness, MeanFitness float64
	// RaceDropped and RaceSkippedImages are the candidates a race stopped
	// early and the candidate-images it did not evaluate (0 without).
	RaceDropped       int
	RaceSkippedImages int64
	// BaseFitness and BaseAccuracy are the base's on this batch.
	BaseFitness, BaseAccuracy float64
	// BaseChanged says the optimizer moved the base at this generation.
	BaseChanged bool
	// ValAccuracy is the base's validation accuracy after this generation,
	// on generations where the validation hook ran (else nil).
	ValAccuracy *float64
	// Stats are the optimizer's own figures.
	Stats map[string]float64
	// Wall is the run's wall time so far (summed over resumed sessions);
	// GenTime this generation's, EvalTime the part spent in the evaluator.
	Wall, GenTime, EvalTime time.Duration
}

// StopReason says why a run ended.
type StopReason string

// The reasons a run ends.
const (
	StopEvaluations StopReason = "evaluations"
	StopWall        StopReason = "wall"
	StopGenerations StopReason = "generations"
	StopDone        StopReason = "done" // the optimizer had nothing left to do
	StopCancelled   StopReason = "cancelled"
	StopError       StopReason = "error" // a fault stopped the run (see the error)
)

// Config configures a run.
type Config struct {
	// Name names the optimizer in messages (default: its Info name).
	Name string
	// Problem is passed to the optimizer's Init (with BudgetEvaluations
	// filled from Budget.Evaluations when zero).
	Problem *optimizer.Problem
	// Evaluator scores every generation.
	Evaluator Evaluator
	// Budget bounds the run; at least one bound must be set.
	Budget Budget
	// Race, if set, lets the evaluator skip the rest of the batch for
	// candidates that cannot matter (off when nil, the default). The
	// evaluation count still counts every candidate.
	Race *Race
	// OnGeneration, if set, receives every row; an error stops the run.
	// After a resume, rows from the checkpoint's generation on are
	// reported again (Result.ResumedFrom says from where).
	OnGeneration func(ctx context.Context, row *Row) error
	// Validate, if set, runs after every ValidateEvery-th generation.
	Validate      ValidateFunc
	ValidateEvery int64
	// SelectBestValidation makes the run's output the base with the highest
	// validation accuracy (model selection on the validation split): the
	// bases validated every ValidateEvery generations and, once more at
	// the end, the optimizer's final solution; ties go to the later one.
	// Without it (the default) the output is the optimizer's final
	// solution. It needs Validate.
	SelectBestValidation bool
	// CheckpointPath, if set, is where checkpoints are written (atomically:
	// a temporary file renamed over it), every CheckpointEvery generations
	// (0: only when the run ends or is cancelled).
	CheckpointPath  string
	CheckpointEvery int64
	// OnCheckpoint, if set, is called before every checkpoint is written,
	// with the generation it resumes from: every row before it has been
	// passed to OnGeneration. The caller makes what it recorded of those
	// rows durable there (for example closes and syncs an open file), so
	// that a crash after the checkpoint loses none of them. An error stops
	// the run; the checkpoint is then not written.
	OnCheckpoint func(ctx context.Context, generation int64) error
	// Resume continues from CheckpointPath when that file exists. A file
	// that cannot be resumed from (damaged, written by another run, or
	// refused by the optimizer's Restore) fails the run with an error
	// wrapping ErrUnusableCheckpoint; the caller may move it aside
	// (MoveCheckpointAside) and start over with a fresh optimizer.
	Resume bool
	// CancelGrace is how long the generation in flight may still take
	// after ctx is cancelled, so that its result is kept and a checkpoint
	// written (default 30 s; negative: none). Past it the evaluator's
	// context is cancelled and the last checkpoint stays the resume point.
	CancelGrace time.Duration
	// Logger receives progress messages (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now); tests substitute a fake one.
	Now func() time.Time
}

// Result is a finished run's outcome.
type Result struct {
	// Levels is the optimizer's final solution (its Best), validated.
	Levels []int8
	// Generations and Evaluations are totals over resumed sessions.
	Generations, Evaluations int64
	// Wall is the total wall time over resumed sessions.
	Wall time.Duration
	// FirstBaseFitness is the base's fitness at generation 0 and
	// LastBaseFitness at the last generation (over resumed sessions; 0
	// before any generation, or when resumed from a checkpoint written by a
	// ccq that did not record them).
	FirstBaseFitness, LastBaseFitness float64
	// Stop says why the run ended.
	Stop StopReason
	// ResumedFrom is the generation the run resumed from, or -1.
	ResumedFrom int64
	// With Config.SelectBestValidation: Selected is the generation after
	// which Levels was validated (Generations when the final solution was
	// kept), SelectedValAccuracy its validation accuracy, and
	// FinalValAccuracy the final solution's. Otherwise Selected is -1 and
	// both accuracies are NaN.
	Selected                              int64
	SelectedValAccuracy, FinalValAccuracy float64
}

// Errors for errors.Is.
var (
	// ErrInvalidAnswer: the optimizer answered something the protocol forbids.
	ErrInvalidAnswer = errors.New("invalid answer from optimizer")
	// ErrCheckpoint: a checkpoint could not be read or does not fit the run.
	ErrCheckpoint = errors.New("checkpoint")
	// ErrUnusableCheckpoint: the checkpoint was read but cannot be resumed
	// from (damaged, written by another run, or refused by the optimizer's
	// Restore); starting over without it is safe. Errors wrapping it wrap
	// ErrCheckpoint too.
	ErrUnusableCheckpoint = fmt.Errorf("%w cannot be resumed from", ErrCheckpoint)
)

// loop is one run's state.
type loop struct {
	cfg   Config
	opt   optimizer.Optimizer
	name  string
	chk   *optimizer.Checker
	maxC  int
	fp    [32]byte
	state state
	pcg   *rand.PCG
	rng   *rand.Rand
	start time.Time
	log   *slog.Logger

	fit     []float64
	version uint64
}

// state is what a checkpoint holds besides the optimizer's snapshot.
type state struct {
	gen, evals int64
	batch      uint64
	elapsed    time.Duration
	base       []int8
	rng        []byte
	// The best validated base so far (Config.SelectBestValidation):
	// bestBase is nil until the first validation.
	bestGen  int64
	bestVal  float64
	bestBase []int8
	// The base's fitness at generation 0 and at the last generation.
	firstFit, lastFit float64
}

// Run runs the generation loop until the budget is spent, the optimizer is
// done or ctx is cancelled (then it writes a checkpoint, if configured, and
// returns an error wrapping ctx.Err() together with the partial Result).
// Any fault of the optimizer or the evaluator stops the run with an error
// naming it; the last checkpoint stays valid.
func Run(ctx context.Context, opt optimizer.Optimizer, cfg Config) (*Result, error) {
	l := &loop{cfg: cfg, opt: opt, log: cfg.Logger}
	if l.log == nil {
		l.log = slog.Default()
	}
	if l.cfg.Now == nil {
		l.cfg.Now = time.Now
	}
	if l.cfg.CancelGrace == 0 {
		l.cfg.CancelGrace = 30 * time.Second
	}
	if err := l.setup(ctx); err != nil {
		return nil, err
	}
	return l.run(ctx)
}

func (l *loop) setup(ctx context.Context) error {
	cfg := &l.cfg
	if cfg.Problem == nil || cfg.Evaluator == nil {
		return errors.New("host: Problem and Evaluator are required")
	}
	b := cfg.Budget
	if err := b.Validate(); err != nil {
		return fmt.Errorf("host: %w", err)
	}
	if cfg.Race != nil {
		if err := cfg.Race.Validate(); err != nil {
			return fmt.Errorf("host: %w", err)
		}
	}
	if cfg.SelectBestValidation && cfg.Validate == nil {
		return errors.New("host: selecting the best validated base needs a validation function (no validation split?)")
	}
	if err := optimizer.ValidateProblem(cfg.Problem); err != nil {
		return fmt.Errorf("host: %w", err)
	}
	if cfg.Problem.BudgetEvaluations == 0 && b.Evaluations > 0 {
		p := *cfg.Problem // tell the optimizer the budget, without touching the caller's Problem
		p.BudgetEvaluations = b.Evaluations
		cfg.Problem = &p
	}
	l.name = cfg.Name
	if l.name == "" {
		info, err := l.opt.Info(ctx)
		if err != nil {
			return fmt.Errorf("host: asking the optimizer for its name: %w", err)
		}
		l.name = info.Name
	}
	res, err := l.opt.Init(ctx, cfg.Problem)
	if err != nil {
		return fmt.Errorf("optimizer %q: Init: %w", l.name, err)
	}
	if res.MaxCandidates < 1 || res.MaxCandidates > 1<<20 {
		return fmt.Errorf("optimizer %q: Init: %w: max candidates %d, expected 1..%d", l.name, ErrInvalidAnswer, res.MaxCandidates, 1<<20)
	}
	l.maxC = res.MaxCandidates
	l.fit = make([]float64, l.maxC)
	l.chk = optimizer.NewChecker(cfg.Problem)
	l.fp = fingerprint(l.name, cfg.Problem)
	l.pcg = rand.NewPCG(cfg.Problem.Seed, 0x686f73742d726e67) // "host-rng"
	l.rng = rand.New(l.pcg)
	l.state = state{base: slices.Clone(cfg.Problem.Start)}
	return nil
}

func (l *loop) run(ctx context.Context) (*Result, error) {
	cfg := &l.cfg
	resumed := int64(-1)
	if cfg.Resume && cfg.CheckpointPath != "" {
		ok, err := l.load(ctx)
		if err != nil {
			return nil, err
		}
		if ok {
			resumed = l.state.gen
			l.log.Info("resuming from checkpoint", "optimizer", l.name, "generation", l.state.gen, "evaluations", l.state.evals, "path", cfg.CheckpointPath)
		}
	}
	l.start = cfg.Now()
	reset := true
	var stop StopReason
	for {
		if stop = l.budgetSpent(); stop != "" {
			break
		}
		if ctx.Err() != nil {
			stop = StopCancelled
			break
		}
		done, err := l.generation(ctx, reset)
		if err != nil {
			return l.result(StopError, resumed), err
		}
		reset = false
		if done {
			stop = StopDone
			break
		}
		if ctx.Err() == nil && cfg.CheckpointEvery > 0 && l.state.gen%cfg.CheckpointEvery == 0 {
			if err := l.save(ctx); err != nil {
				return l.result(StopError, resumed), err
			}
		}
	}
	if err := l.save(ctx); err != nil {
		return l.result(stop, resumed), err
	}
	if stop == StopCancelled {
		return l.result(stop, resumed), fmt.Errorf("optimizer %q: run interrupted at generation %d (checkpoint written): %w", l.name, l.state.gen, ctx.Err())
	}
	sol, err := l.opt.Best(context.WithoutCancel(ctx))
	if err != nil {
		return l.result(stop, resumed), fmt.Errorf("optimizer %q: Best: %w", l.name, err)
	}
	if err := l.chk.CheckSolution(sol); err != nil {
		return l.result(stop, resumed), fmt.Errorf("optimizer %q: Best: %w: %v", l.name, ErrInvalidAnswer, err)
	}
	r := l.result(stop, resumed)
	r.Levels = sol.Levels
	if cfg.SelectBestValidation {
		acc, err := cfg.Validate(context.WithoutCancel(ctx), sol.Levels)
		if err != nil {
			return r, fmt.Errorf("validation of the final solution: %w", err)
		}
		r.FinalValAccuracy, r.SelectedValAccuracy, r.Selected = acc, acc, l.state.gen
		if l.state.bestBase != nil && l.state.bestVal > acc {
			r.Levels = slices.Clone(l.state.bestBase)
			r.SelectedValAccuracy, r.Selected = l.state.bestVal, l.state.bestGen
		}
	}
	return r, nil
}

func (l *loop) elapsed() time.Duration { return l.state.elapsed + l.cfg.Now().Sub(l.start) }

func (l *loop) result(stop StopReason, resumed int64) *Result {
	return &Result{Generations: l.state.gen, Evaluations: l.state.evals, Wall: l.elapsed(), Stop: stop, ResumedFrom: resumed,
		FirstBaseFitness: l.state.firstFit, LastBaseFitness: l.state.lastFit,
		Selected: -1, SelectedValAccuracy: math.NaN(), FinalValAccuracy: math.NaN()}
}

func (l *loop) budgetSpent() StopReason {
	b := l.cfg.Budget
	switch {
	case b.Evaluations > 0 && l.state.evals >= b.Evaluations:
		return StopEvaluations
	case b.Generations > 0 && l.state.gen >= b.Generations:
		return StopGenerations
	case b.WallTime > 0 && l.elapsed() >= time.Duration(b.WallTime):
		return StopWall
	}
	return ""
}

// generation runs one Ask, scoring, Tell; it reports whether the optimizer
// said it is done.
func (l *loop) generation(ctx context.Context, reset bool) (bool, error) {
	t0 := l.cfg.Now()
	g := l.state.gen
	ask, err := l.opt.Ask(ctx)
	if err != nil {
		return false, fmt.Errorf("optimizer %q: Ask (generation %d): %w", l.name, g, err)
	}
	if err := l.chk.CheckAsk(ask, l.maxC); err != nil {
		return false, fmt.Errorf("optimizer %q: Ask (generation %d): %w: %v", l.name, g, ErrInvalidAnswer, err)
	}
	if ask.Base != nil && ask.Base.Len() > 0 {
		ask.Base.ApplyTo(l.state.base)
		l.version++
	} else {
		ask.Base = nil
	}
	if ask.Done {
		return true, nil
	}
	n := len(ask.Candidates)
	req := &ScoreRequest{
		Generation:  g,
		Batch:       Batch{Index: l.state.batch, Seed: l.rng.Uint64()},
		Base:        l.state.base,
		BaseVersion: l.version,
		BaseReset:   reset,
		BaseDelta:   ask.Base,
		Candidates:  ask.Candidates,
		Race:        l.cfg.Race,
	}
	if reset {
		req.BaseDelta = nil
	}
	res := &ScoreResult{Fitness: l.fit[:n]}
	for k := range res.Fitness {
		res.Fitness[k] = math.NaN()
	}
	te := l.cfg.Now()
	if err := l.score(ctx, req, res); err != nil {
		return false, err
	}
	evalTime := l.cfg.Now().Sub(te)
	if len(res.Fitness) != n {
		return false, fmt.Errorf("evaluator: generation %d: returned %d fitnesses for %d candidates", g, len(res.Fitness), n)
	}
	if res.Dropped < 0 || res.Dropped > n || (req.Race == nil && res.Dropped > 0) {
		return false, fmt.Errorf("evaluator: generation %d: reported %d dropped candidates of %d (racing %v)", g, res.Dropped, n, req.Race != nil)
	}
	l.state.batch++
	l.state.evals += int64(n) + 1
	if g == 0 {
		l.state.firstFit = res.BaseFitness
	}
	l.state.lastFit = res.BaseFitness
	// The generation's result is kept even if ctx was cancelled meanwhile.
	tctx := context.WithoutCancel(ctx)
	if err := l.opt.Tell(tctx, &optimizer.Tell{Fitness: slices.Clone(res.Fitness), BaseFitness: res.BaseFitness}); err != nil {
		return false, fmt.Errorf("optimizer %q: Tell (generation %d): %w", l.name, g, err)
	}
	l.state.gen++
	row := &Row{
		Generation: g, Evaluations: l.state.evals, Candidates: n,
		BaseFitness: res.BaseFitness, BaseAccuracy: res.BaseAccuracy,
		BaseChanged: ask.Base != nil, Stats: ask.Stats,
		EvalTime: evalTime,
	}
	row.BestFitness, row.MeanFitness = bestMean(res.Fitness, res.Dropped > 0)
	row.RaceDropped, row.RaceSkippedImages = res.Dropped, res.SkippedImages
	if l.cfg.Validate != nil && l.cfg.ValidateEvery > 0 && l.state.gen%l.cfg.ValidateEvery == 0 {
		// The base the optimizer holds may already include this
		// generation's acceptance; validate the one the host knows.
		acc, err := l.cfg.Validate(tctx, l.state.base)
		if err != nil {
			return false, fmt.Errorf("validation after generation %d: %w", g, err)
		}
		row.ValAccuracy = &acc
		if l.cfg.SelectBestValidation && (l.state.bestBase == nil || acc >= l.state.bestVal) {
			l.state.bestGen, l.state.bestVal = l.state.gen, acc
			l.state.bestBase = append(l.state.bestBase[:0], l.state.base...)
		}
	}
	row.GenTime = l.cfg.Now().Sub(t0)
	row.Wall = l.elapsed()
	if l.cfg.OnGeneration != nil {
		if err := l.cfg.OnGeneration(tctx, row); err != nil {
			return false, fmt.Errorf("recording generation %d: %w", g, err)
		}
	}
	return false, nil
}

// score calls the evaluator. If ctx is cancelled meanwhile, the evaluator
// keeps an uncancelled context for CancelGrace, so the generation can finish.
func (l *loop) score(ctx context.Context, req *ScoreRequest, res *ScoreResult) error {
	ectx, ecancel := context.WithCancel(context.WithoutCancel(ctx))
	defer ecancel()
	grace := l.cfg.CancelGrace
	stop := context.AfterFunc(ctx, func() {
		if grace < 0 {
			ecancel()
			return
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			ecancel()
		case <-ectx.Done():
		}
	})
	defer stop()
	if err := l.cfg.Evaluator.Score(ectx, req, res); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("evaluator: generation %d abandoned after the interruption (the last checkpoint is the resume point): %w", req.Generation, ctx.Err())
		}
		return fmt.Errorf("evaluator: generation %d: %w", req.Generation, err)
	}
	return nil
}

// bestMean returns the best and the mean of the fitnesses, ignoring NaNs
// and, when raced, the dropped candidates' +Inf.
func bestMean(f []float64, raced bool) (best, mean float64) {
	best, mean = math.NaN(), math.NaN()
	s, c := 0.0, 0
	for _, v := range f {
		if math.IsNaN(v) || (raced && math.IsInf(v, 1)) {
			continue
		}
		if c == 0 || v < best {
			best = v
		}
		s += v
		c++
	}
	if c > 0 {
		mean = s / float64(c)
	}
	return best, mean
}

// save writes a checkpoint if a path is configured.
func (l *loop) save(ctx context.Context) error {
	if l.cfg.CheckpointPath == "" {
		return nil
	}
	snap, err := l.opt.Snapshot(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("optimizer %q: Snapshot (generation %d): %w", l.name, l.state.gen, err)
	}
	rs, err := l.pcg.MarshalBinary()
	if err != nil {
		return fmt.Errorf("checkpoint: host random generator: %w", err)
	}
	if l.cfg.OnCheckpoint != nil {
		if err := l.cfg.OnCheckpoint(context.WithoutCancel(ctx), l.state.gen); err != nil {
			return fmt.Errorf("checkpoint at generation %d: %w", l.state.gen, err)
		}
	}
	st := l.state
	st.elapsed = l.elapsed()
	st.rng = rs
	if err := writeCheckpoint(l.cfg.CheckpointPath, l.fp, &st, snap); err != nil {
		return err
	}
	l.log.Debug("checkpoint written", "optimizer", l.name, "generation", st.gen, "path", l.cfg.CheckpointPath)
	return nil
}

// load restores the run from the checkpoint; false if there is none.
func (l *loop) load(ctx context.Context) (bool, error) {
	raw, err := os.ReadFile(l.cfg.CheckpointPath)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	path := l.cfg.CheckpointPath
	st, snap, err := decodeCheckpoint(raw, l.fp, len(l.cfg.Problem.Start))
	if err != nil {
		return false, fmt.Errorf("%w: %s: %v", ErrUnusableCheckpoint, path, err)
	}
	if err := l.chk.CheckSolution(&optimizer.Solution{Levels: st.base}); err != nil {
		return false, fmt.Errorf("%w: %s: base: %v", ErrUnusableCheckpoint, path, err)
	}
	if st.bestBase != nil {
		if err := l.chk.CheckSolution(&optimizer.Solution{Levels: st.bestBase}); err != nil {
			return false, fmt.Errorf("%w: %s: best validated base: %v", ErrUnusableCheckpoint, path, err)
		}
	}
	pcg := &rand.PCG{}
	if err := pcg.UnmarshalBinary(st.rng); err != nil {
		return false, fmt.Errorf("%w: %s: host random generator: %v", ErrUnusableCheckpoint, path, err)
	}
	if err := l.opt.Restore(ctx, snap); err != nil {
		if ctx.Err() != nil {
			return false, fmt.Errorf("optimizer %q: Restore from %s: %w", l.name, path, err)
		}
		return false, fmt.Errorf("%w: %s: optimizer %q refused its snapshot: Restore: %w", ErrUnusableCheckpoint, path, l.name, err)
	}
	l.pcg = pcg
	l.rng = rand.New(pcg)
	l.state = *st
	return true, nil
}
