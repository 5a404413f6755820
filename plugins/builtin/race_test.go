package builtin

import (
	"cmp"
	"math"
	"slices"
	"testing"

	"github.com/ccq-project/ccq/plugins/internal/synth"
	"github.com/ccq-project/ccq/plugins/optimizer"
)

// TestRaceKeepDecidesTheSame: a built-in told +Inf for every candidate
// outside the RaceKeep best that is also worse than the base (what a race
// that decides right reports) asks exactly what it asks when told every
// fitness, generation after generation, and ends at the same solution.
func TestRaceKeepDecidesTheSame(t *testing.T) {
	for _, tc := range []struct{ name, params string }{
		{"ccea", `{"lambda": 24, "mu": 4, "group_size": 100, "gens_per_group": 3}`},
		{"ccea", `{"lambda": 24, "mu": 4, "group_size": 100, "learn": "better", "accept": "recheck", "rechecks": 2}`},
		{"ccea-random", `{"preset": "paper", "lambda": 24, "mu": 4, "group_size": 100}`},
		{"eda", `{"lambda": 24, "mu": 4}`},
		{"mutation-ea", `{"lambda": 12}`},
	} {
		keep, err := RaceKeep(tc.name, []byte(tc.params))
		if err != nil {
			t.Fatal(err)
		}
		sp := synth.New(400, 4, 0.3, 0.3, 2)
		full := newDriver(t, tc.name, sp, 5, tc.params)
		raced := newDriver(t, tc.name, sp, 5, tc.params)
		full.onGen = func(_ *optimizer.Ask, _ []int8, _ []float64, _ float64) {}
		dropped := 0
		raced.onGen = func(_ *optimizer.Ask, _ []int8, fit []float64, fb float64) {
			rank := make([]int, len(fit))
			for k := range rank {
				rank[k] = k
			}
			slices.SortStableFunc(rank, func(a, b int) int { return cmp.Compare(fit[a], fit[b]) })
			for _, k := range rank[min(keep, len(rank)):] {
				if fit[k] > fb {
					fit[k] = math.Inf(1)
					dropped++
				}
			}
		}
		full.runEvals(3000)
		raced.runEvals(3000)
		if !slices.Equal(full.record, raced.record) {
			t.Errorf("%s %s: the asks differ once candidates outside the %d best are told +Inf", tc.name, tc.params, keep)
		}
		if !slices.Equal(full.best(), raced.best()) {
			t.Errorf("%s %s: different solutions", tc.name, tc.params)
		}
		if dropped == 0 {
			t.Errorf("%s: nothing replaced: the test does not exercise the rule", tc.name)
		}
	}
	if _, err := RaceKeep("ccea", []byte(`{"mu": 0}`)); err == nil {
		t.Error("mu 0 accepted")
	}
}
