package host

import (
	"context"
	"math"
	"strings"
	"testing"
)

// dropWorst wraps an evaluator: when the request races, it reports its
// worst candidate as dropped (+Inf, 100 images skipped).
type dropWorst struct {
	inner Evaluator
	races int
}

func (e *dropWorst) Score(ctx context.Context, req *ScoreRequest, res *ScoreResult) error {
	if err := e.inner.Score(ctx, req, res); err != nil {
		return err
	}
	if req.Race == nil {
		return nil
	}
	e.races++
	worst := 0
	for k, f := range res.Fitness {
		if f > res.Fitness[worst] {
			worst = k
		}
	}
	res.Fitness[worst] = math.Inf(1)
	res.Dropped, res.SkippedImages = 1, 100
	return nil
}

// TestRace: the host passes Race to the evaluator, records what it
// dropped and skipped, and leaves the dropped candidates out of the row's
// best and mean; bad options and a drop without racing are refused.
func TestRace(t *testing.T) {
	sp := newSynth()
	cfg := baseConfig(t, sp, cceaParams)
	ev := &dropWorst{inner: cfg.Evaluator}
	cfg.Evaluator = ev
	cfg.Budget = Budget{Generations: 5}
	cfg.Race = &Race{Fraction: 0.25, Z: 3, Keep: 4}
	rows, _, err := collect(t, newOpt(t, "ccea"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if ev.races != 5 {
		t.Fatalf("%d raced generations, want 5", ev.races)
	}
	for _, r := range rows {
		if r.RaceDropped != 1 || r.RaceSkippedImages != 100 || math.IsInf(r.MeanFitness, 0) || math.IsNaN(r.MeanFitness) {
			t.Fatalf("row %+v: want 1 dropped, 100 skipped and a finite mean", r)
		}
	}

	for _, bad := range []struct {
		race Race
		want string
	}{
		{Race{Fraction: 1, Z: 3, Keep: 1}, "race fraction"},
		{Race{Fraction: 0.5, Z: 0, Keep: 1}, "race z"},
		{Race{Fraction: 0.5, Z: 3, Keep: 0}, "race keep"},
	} {
		cfg := baseConfig(t, sp, cceaParams)
		cfg.Race = &bad.race
		if _, err := Run(ctx, newOpt(t, "ccea"), cfg); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("race %+v: %v, want an error naming %q", bad.race, err, bad.want)
		}
	}

	cfg = baseConfig(t, sp, cceaParams)
	cfg.Evaluator = EvaluatorFunc(func(ctx context.Context, req *ScoreRequest, res *ScoreResult) error {
		for k := range res.Fitness {
			res.Fitness[k] = 1
		}
		res.Dropped = 1
		return nil
	})
	if _, err := Run(ctx, newOpt(t, "ccea"), cfg); err == nil || !strings.Contains(err.Error(), "dropped") {
		t.Errorf("an evaluator dropping without racing: %v, want an error", err)
	}
}
