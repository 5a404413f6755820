package builtin

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/ccq-project/ccq/plugins/internal/synth"
	"github.com/ccq-project/ccq/plugins/optimizer"
)

// initCCEA returns an initialised ccea on a small synthetic problem.
func initCCEA(t *testing.T, params string) *ccea {
	t.Helper()
	sp := synth.New(60, 2, 0.3, 0.3, 7)
	o := newCCEA("ccea", groupConfidence)
	if _, err := o.Init(ctx, sp.Optimizer(1, params)); err != nil {
		t.Fatal(err)
	}
	return o
}

// probs returns a copy of variable i's probabilities and its levels.
func probs(o *ccea, i int) ([]float64, []int8) {
	a, b := o.c.sp.off[i], o.c.sp.off[i+1]
	return slices.Clone(o.p[a:b]), slices.Clone(o.c.sp.vals[a:b])
}

// TestFollowSwap: with follow = swap a move of the context exchanges the
// probabilities of the old and the new level (confidence unchanged); with
// follow = none the distribution does not move.
func TestFollowSwap(t *testing.T) {
	for _, follow := range []string{"none", "swap"} {
		o := initCCEA(t, `{"follow": "`+follow+`", "eps": 0.1}`)
		i := -1
		for k := range o.c.base {
			if o.c.sp.size(k) == 3 {
				i = k
				break
			}
		}
		if i < 0 {
			t.Fatal("no variable with 3 levels")
		}
		before, lv := probs(o, i)
		from := o.c.base[i]
		to := lv[0]
		if to == from {
			to = lv[2]
		}
		conf := o.conf[i]
		o.c.setBase(int32(i), to)
		after, _ := probs(o, i)
		want := slices.Clone(before)
		if follow == "swap" {
			a, b := slices.Index(lv, from), slices.Index(lv, to)
			want[a], want[b] = want[b], want[a]
		}
		if !slices.Equal(after, want) {
			t.Errorf("follow %s: probabilities %v -> %v, want %v (levels %v, %d -> %d)", follow, before, after, want, lv, from, to)
		}
		if o.conf[i] != conf {
			t.Errorf("follow %s: confidence changed %v -> %v", follow, conf, o.conf[i])
		}
		// The mode follows the context with swap (it was the start level).
		mode := lv[slices.Index(after, slices.Max(after))]
		if follow == "swap" && mode != to {
			t.Errorf("follow swap: most probable level %d, the context holds %d", mode, to)
		}
	}
}

// TestLearnBetter: when no sampled candidate beats the context, learn =
// better moves every distribution towards the context's levels, while learn
// = top moves a variable that both elites changed to one level towards it.
func TestLearnBetter(t *testing.T) {
	for _, learn := range []string{"top", "better"} {
		o := initCCEA(t, `{"learn": "`+learn+`", "lambda": 4, "mu": 2, "group_size": 60, "eps": 0.3, "floor": 0}`)
		a, err := o.Ask(ctx)
		if err != nil {
			t.Fatal(err)
		}
		before := slices.Clone(o.p)
		// Every candidate is worse than the context; the first two are the elites.
		fit := []float64{2, 3, 4, 5}
		if err := o.Tell(ctx, &optimizer.Tell{Fitness: fit[:len(a.Candidates)], BaseFitness: 1}); err != nil {
			t.Fatal(err)
		}
		lv0, lv1 := levelsOf(a.Candidates[0]), levelsOf(a.Candidates[1])
		both := 0
		for i := range o.c.base {
			s := o.c.sp.slot(i, o.c.base[i])
			if learn == "better" && !(o.p[s] > before[s]) {
				t.Fatalf("better: variable %d: the context level's probability %v -> %v, expected to grow", i, before[s], o.p[s])
			}
			v0, ok0 := lv0[int32(i)]
			v1, ok1 := lv1[int32(i)]
			if ok0 && ok1 && v0 == v1 {
				both++
				sv := o.c.sp.slot(i, v0)
				if learn == "top" && !(o.p[sv] > before[sv]) {
					t.Fatalf("top: variable %d: both elites chose level %d, its probability %v -> %v", i, v0, before[sv], o.p[sv])
				}
				if learn == "better" && !(o.p[sv] < before[sv]) {
					t.Fatalf("better: variable %d: level %d of two losing elites grew %v -> %v", i, v0, before[sv], o.p[sv])
				}
			}
		}
		if both == 0 {
			t.Fatal("no variable changed alike by both elites: the test checks nothing")
		}
	}
}

// levelsOf maps a delta's indices to its levels.
func levelsOf(d optimizer.Delta) map[int32]int8 {
	m := map[int32]int8{}
	for e, i := range d.Indices {
		m[i] = d.Levels[e]
	}
	return m
}

// TestOptionsSnapshotAndDeterminism: the non-default options keep runs
// deterministic and snapshots exact.
func TestOptionsSnapshotAndDeterminism(t *testing.T) {
	sp := synth.New(500, 5, 0.3, 0.3, 3)
	for _, params := range []string{
		`{"lambda": 10, "mu": 3, "group_size": 60, "gens_per_group": 3, "tau": 0.9, "alpha": 0.5, "follow": "swap"}`,
		`{"lambda": 10, "mu": 3, "group_size": 60, "gens_per_group": 3, "tau": 0.9, "alpha": 0.5, "learn": "better"}`,
		`{"lambda": 10, "mu": 3, "group_size": 60, "gens_per_group": 3, "tau": 0.9, "alpha": 0.5, "rechecks": 3}`,
		`{"lambda": 10, "mu": 3, "group_size": 60, "gens_per_group": 3, "tau": 0.9, "alpha": 0.7, "changes": 7, "restarts": 5}`,
	} {
		a := newDriver(t, "ccea", sp, 11, params)
		for g := 0; g < 13; g++ {
			a.step()
		}
		snap, err := a.opt.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b := newDriver(t, "ccea", sp, 99, params)
		if err := b.opt.Restore(ctx, snap); err != nil {
			t.Fatal(err)
		}
		b.base, b.gen, b.evals = slices.Clone(a.base), a.gen, a.evals
		a.record, b.record = []string{}, []string{}
		for g := 0; g < 40; g++ {
			a.step()
			b.step()
		}
		if !reflect.DeepEqual(a.record, b.record) {
			t.Fatalf("%s: restored instance diverged", params)
		}
		c := newDriver(t, "ccea", sp, 11, params)
		c.record = []string{}
		for g := 0; g < 53; g++ {
			c.step()
		}
		if !reflect.DeepEqual(c.record[13:], a.record) {
			t.Fatalf("%s: two runs with one seed differ", params)
		}
	}
}

// TestRechecksConsecutiveWins: with rechecks = r every new context beat
// the context on r+1 consecutive batches (the batch it was found on and r
// re-checks), for mutation-ea and for ccea (whose freezing here never
// moves the context).
func TestRechecksConsecutiveWins(t *testing.T) {
	sp := synth.New(300, 3, 0.4, 0.5, 4)
	for _, r := range []int{1, 2, 3} {
		for _, name := range []string{"mutation-ea", "ccea"} {
			params := fmt.Sprintf(`{"lambda": 8, "rate": 0.02, "rechecks": %d}`, r)
			if name == "ccea" {
				params = fmt.Sprintf(`{"lambda": 8, "mu": 2, "group_size": 50, "gens_per_group": 2, "alpha": 0.6, "freeze_check": "context", "rechecks": %d}`, r)
			}
			d := newDriver(t, name, sp, 3, params)
			type gen struct {
				base []int8
				fb   float64
				sols [][]int8
				fit  []float64
			}
			var hist []gen
			d.onGen = func(a *optimizer.Ask, base []int8, fit []float64, fb float64) {
				g := gen{base: slices.Clone(base), fb: fb, fit: slices.Clone(fit)}
				for k := range a.Candidates {
					x := slices.Clone(base)
					a.Candidates[k].ApplyTo(x)
					g.sols = append(g.sols, x)
				}
				hist = append(hist, g)
			}
			for g := 0; g < 300 && d.step(); g++ {
			}
			wins := func(g gen, x []int8) bool {
				for k, s := range g.sols {
					if slices.Equal(s, x) && g.fit[k] < g.fb {
						return true
					}
				}
				return false
			}
			changes := 0
			for t2 := 1; t2 < len(hist); t2++ {
				if slices.Equal(hist[t2].base, hist[t2-1].base) {
					continue
				}
				changes++
				for back := 1; back <= r+1; back++ {
					if t2-back < 0 || !wins(hist[t2-back], hist[t2].base) {
						t.Fatalf("%s rechecks %d: generation %d: the new context did not win %d generations before", name, r, t2, back)
					}
				}
			}
			if changes == 0 {
				t.Fatalf("%s rechecks %d: no context change in 300 generations", name, r)
			}
		}
	}
}

// TestChanges: with changes = m a sampled candidate changes about m
// variables on average, whatever eps and the group size; without it about
// 2*eps*G.
func TestChanges(t *testing.T) {
	sp := synth.New(1000, 2, 0.3, 0.3, 9)
	for _, tc := range []struct {
		params string
		want   float64
	}{
		{`{"lambda": 16, "group_size": 500, "eps": 0.05, "changes": 5, "tau": 1}`, 5},
		{`{"lambda": 16, "group_size": 500, "eps": 0.01, "changes": 30, "tau": 1}`, 30},
		{`{"lambda": 16, "group_size": 500, "eps": 0.05, "tau": 1}`, 0}, // 2*eps*G, less at the domain's ends
	} {
		d := newDriver(t, "ccea", sp, 1, tc.params)
		total, n := 0, 0
		d.onGen = func(a *optimizer.Ask, base []int8, fit []float64, fb float64) {
			o := d.opt.(*ccea)
			for _, c := range a.Candidates[len(o.c.probes):] {
				total += c.Len()
				n++
			}
		}
		for g := 0; g < 30; g++ {
			d.step()
		}
		mean := float64(total) / float64(n)
		if tc.want > 0 && (mean < 0.8*tc.want || mean > 1.2*tc.want) {
			t.Errorf("%s: %.1f changes per candidate, want about %v", tc.params, mean, tc.want)
		}
		if tc.want == 0 && mean < 30 {
			t.Errorf("%s: %.1f changes per candidate, want about 2*eps*G = 50", tc.params, mean)
		}
	}
}

// TestRestart: once everything is frozen the run ends, unless restarts
// remain: then the variables are unfrozen with distributions centred on the
// context and the search goes on, until the restarts are used up.
func TestRestart(t *testing.T) {
	sp := synth.New(200, 2, 0.4, 0.3, 5)
	for _, tc := range []struct {
		name     string
		restarts int
	}{{"ccea", 0}, {"ccea", 3}, {"eda", 0}, {"eda", 3}} {
		restart := tc.restarts > 0
		params := fmt.Sprintf(`{"lambda": 8, "mu": 2, "group_size": 100, "gens_per_group": 2, "tau": 0.6, "alpha": 0.7, "restarts": %d}`, tc.restarts)
		if tc.name == "eda" {
			params = fmt.Sprintf(`{"lambda": 8, "mu": 2, "gens_per_group": 2, "tau": 0.6, "alpha": 0.7, "restarts": %d}`, tc.restarts)
		}
		d := newDriver(t, tc.name, sp, 1, params)
		o := d.opt.(*ccea)
		sawRestart := false
		for d.evals < 20000 && d.step() {
			if o.restarts > 0 && !sawRestart {
				sawRestart = true
				// Just after the restart every variable with a choice is
				// unfrozen or in the new group, biased to the context.
				for i := range o.c.base {
					if o.c.frozen[i] && o.c.sp.size(i) > 1 {
						t.Fatalf("variable %d still frozen after the restart", i)
					}
				}
			}
		}
		if !restart && !d.done {
			t.Errorf("%s restarts 0: not done after %d evaluations (frozen %d of %d)", tc.name, d.evals, o.c.nFrozen, len(o.c.base))
		}
		if restart && (!d.done || !sawRestart || o.restarts != int64(tc.restarts)) {
			t.Errorf("%s restarts %d: done %v after %d evaluations, %d restarts", tc.name, tc.restarts, d.done, d.evals, o.restarts)
		}
	}
}

// TestResetDistCentredOnContext: a restarted variable's most probable level
// is the context's level and its confidence is 1 - eps*(|D|-1).
func TestResetDistCentredOnContext(t *testing.T) {
	o := initCCEA(t, `{"eps": 0.1}`)
	for i := range o.c.base {
		if o.c.sp.size(i) == 3 {
			_, lv := probs(o, i)
			o.c.base[i] = lv[0]
			o.resetDist(i, lv[0])
			p, _ := probs(o, i)
			if p[0] != 1-0.2 || p[1] != 0.1 || p[2] != 0.1 || o.conf[i] != p[0] {
				t.Fatalf("variable %d reset to %v (confidence %v)", i, p, o.conf[i])
			}
			return
		}
	}
	t.Fatal("no variable with 3 levels")
}

// TestNoEmptyCandidates: a sampled candidate always changes something,
// even when the distributions make "no change" likely.
func TestNoEmptyCandidates(t *testing.T) {
	sp := synth.New(300, 3, 0.3, 0.3, 2)
	for _, name := range []string{"ccea", "ccea-random", "ccea-layer", "eda"} {
		params := `{"lambda": 16, "group_size": 20, "eps": 0.001, "floor": 0, "tau": 1}`
		if name == "eda" {
			params = `{"lambda": 16, "eps": 0.0001, "floor": 0, "tau": 1}`
		}
		d := newDriver(t, name, sp, 1, params)
		d.onGen = func(a *optimizer.Ask, base []int8, fit []float64, fb float64) {
			for k, c := range a.Candidates {
				if c.Len() == 0 {
					t.Fatalf("%s generation %d: candidate %d changes nothing", name, d.gen, k)
				}
			}
		}
		for g := 0; g < 40 && d.step(); g++ {
		}
	}
}

// TestSnapshotOfFinishedRun: a run that ended because everything froze can
// be snapshotted and restored (a finished stage is resumed this way), and
// the restored optimizer is done too.
func TestSnapshotOfFinishedRun(t *testing.T) {
	sp := synth.New(400, 4, 0.3, 0.4, 3)
	for _, name := range []string{"ccea", "ccea-random", "ccea-layer", "eda"} {
		params := `{"lambda": 12, "group_size": 50, "gens_per_group": 3, "tau": 0.6, "alpha": 0.7, "restarts": 0}`
		if name == "eda" {
			params = `{"lambda": 12, "gens_per_group": 3, "tau": 0.6, "alpha": 0.7, "restarts": 0}`
		}
		d := newDriver(t, name, sp, 7, params)
		for d.evals < 200000 && d.step() {
		}
		if !d.done {
			t.Fatalf("%s: not finished", name)
		}
		snap, err := d.opt.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		d2 := newDriver(t, name, sp, 7, params)
		if err := d2.opt.Restore(ctx, snap); err != nil {
			t.Fatalf("%s: restoring a finished run: %v", name, err)
		}
		a, err := d2.opt.Ask(ctx)
		if err != nil || !a.Done {
			t.Fatalf("%s: restored finished run: done %v, %v", name, a != nil && a.Done, err)
		}
	}
}

// TestRestartBelow: with restart_below the search restarts as soon as
// fewer than that fraction of the variables are unfrozen, before the last
// few freeze (a few variables that never freeze must not take the rest
// of the budget); without it, only at a complete freeze-out.
func TestRestartBelow(t *testing.T) {
	sp := synth.New(400, 2, 0.4, 0.3, 5)
	for _, below := range []float64{0, 0.3} {
		params := fmt.Sprintf(`{"lambda": 8, "mu": 2, "group_size": 100, "gens_per_group": 2, "tau": 0.6, "alpha": 0.7, "restarts": 2, "restart_below": %v}`, below)
		d := newDriver(t, "ccea", sp, 1, params)
		o := d.opt.(*ccea)
		var restarts int64
		minUnfrozen := len(o.c.base)
		for d.evals < 20000 && d.step() {
			if o.restarts > restarts {
				restarts = o.restarts
				continue
			}
			if o.restarts < 2 && o.c.nFrozen < len(o.c.base) {
				minUnfrozen = min(minUnfrozen, len(o.c.base)-o.c.nFrozen)
			}
		}
		if restarts != 2 {
			t.Fatalf("restart_below %v: %d restarts, want 2", below, restarts)
		}
		// With 0.3, a group is never formed from fewer than 30% unfrozen
		// variables before the restarts are used up: the smallest unfrozen
		// count seen stays near 120 (a group's freezes can take it a
		// little lower); without it, it goes down to a handful.
		if below > 0 && minUnfrozen < 60 {
			t.Errorf("restart_below %v: as few as %d of %d unfrozen before a restart", below, minUnfrozen, len(o.c.base))
		}
		if below == 0 && minUnfrozen >= 60 {
			t.Errorf("restart_below 0: never fewer than %d unfrozen; the test does not reach the case it checks", minUnfrozen)
		}
	}
}
