//go:build unix

package slurm_test

import (
	"context"
	"slices"
	"testing"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/slurm"
)

// The Slurm executor runs the plan it is given: with --only it submits the
// selection only, and following the detached run ends ok with the other
// stages still unselected.
func TestOnlySubmitsTheSelection(t *testing.T) {
	h := newHarness(t)
	g, err := pipeline.NewGraph(fanDAG())
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.MakePlan(g, pipeline.PlanOptions{Registry: h.reg, Store: h.store, Only: []string{"b/1"}})
	if err != nil {
		t.Fatal(err)
	}
	opt := h.options()
	opt.Detach = true
	ex, err := slurm.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := pipeline.Run(context.Background(), p, pipeline.RunOptions{Registry: h.reg, Store: h.store, Results: h.results,
		Executor: ex, Settings: pipeline.Settings{Experiment: "exp"}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Outcome != "detached" || sum.Counts[pipeline.StatusUnselected] != 3 {
		t.Fatalf("detached run: %s %v", sum.Outcome, sum.Counts)
	}
	var submitted []string
	for _, r := range h.jobs().Jobs {
		submitted = append(submitted, r.Stage)
	}
	slices.Sort(submitted)
	if !slices.Equal(submitted, []string{"a", "b/1"}) {
		t.Fatalf("submitted %v, want a and b/1", submitted)
	}
	st, err := slurm.Follow(context.Background(), h.results.Dir, h.follow())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]pipeline.Status{"a": "done", "b/1": "done", "b/2": "unselected", "b/3": "unselected", "c": "unselected"}
	for n, w := range want {
		if s := st.Stage(n); s.Status != w {
			t.Errorf("%s is %s, want %s", n, s.Status, w)
		}
	}
	if st.Outcome != "ok" || st.Selected != 2 || !slices.Equal(st.Only, []string{"b/1"}) {
		t.Errorf("after follow: outcome %s, selected %d, only %q", st.Outcome, st.Selected, st.Only)
	}
}
