package pipeline_test

import (
	"context"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/testkinds"
)

// expShaped is an experiment-shaped DAG whose stages have the kinds of an
// expanded experiment: a dataset, a pretrained model, two quantizers, an
// evolve run from each, an evaluate stage for every model and a report.
func expShaped() []pipeline.Spec {
	ds := "dataset/mnist"
	in := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	return []pipeline.Spec{
		spec(ds, "dataset", map[string]any{"name": "mnist"}, nil),
		spec("pretrain/lenet5", "pretrain", map[string]any{"epochs": 1}, in("dataset", ds)),
		spec("quantize/rtn-w2", "quantize", map[string]any{"method": "rtn"}, in("model", "pretrain/lenet5", "dataset", ds)),
		spec("quantize/adaround-w2", "quantize", map[string]any{"method": "adaround"}, in("model", "pretrain/lenet5", "dataset", ds)),
		spec("evolve/ccea-w2-s1", "evolve", map[string]any{"seed": 1}, in("start", "quantize/rtn-w2", "dataset", ds)),
		spec("evolve/ccea-adaround-w2-s1", "evolve", map[string]any{"seed": 1}, in("start", "quantize/adaround-w2", "dataset", ds)),
		spec("evaluate/float", "evaluate", nil, in("model", "pretrain/lenet5", "dataset", ds)),
		spec("evaluate/rtn-w2", "evaluate", nil, in("model", "quantize/rtn-w2", "dataset", ds)),
		spec("evaluate/adaround-w2", "evaluate", nil, in("model", "quantize/adaround-w2", "dataset", ds)),
		spec("evaluate/ccea-w2-s1", "evaluate", nil, in("model", "evolve/ccea-w2-s1", "dataset", ds)),
		spec("evaluate/ccea-adaround-w2-s1", "evaluate", nil, in("model", "evolve/ccea-adaround-w2-s1", "dataset", ds)),
		spec("report", "report", nil, in("a", "evaluate/float", "b", "evaluate/rtn-w2", "c", "evaluate/adaround-w2",
			"d", "evaluate/ccea-w2-s1", "e", "evaluate/ccea-adaround-w2-s1")),
	}
}

// expEnv registers a recording touch kind under each kind name of expShaped.
func expEnv(t *testing.T, rec *testkinds.Recorder) *env {
	var kinds []pipeline.Kind
	for _, k := range []string{"dataset", "pretrain", "quantize", "evolve", "evaluate", "report"} {
		kinds = append(kinds, testkinds.Touch{KindName: k, Runs: rec})
	}
	return newEnv(t, kinds...)
}

var scorers = []string{"evaluate"}

func selectedNames(t *testing.T, g *pipeline.Graph, patterns ...string) []string {
	t.Helper()
	sel, err := g.Select(patterns, scorers)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for n, ok := range sel {
		if ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func TestSelectTakesInputsAndScorersOfMatchedStages(t *testing.T) {
	g, err := pipeline.NewGraph(expShaped())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		patterns []string
		want     []string
	}{
		// An evolve run brings its start, what that needs, and its
		// evaluate stage; not the evaluate stages of its inputs.
		{[]string{"evolve/ccea-adaround-*"}, []string{"dataset/mnist", "evaluate/ccea-adaround-w2-s1",
			"evolve/ccea-adaround-w2-s1", "pretrain/lenet5", "quantize/adaround-w2"}},
		// A quantizer brings its evaluate stage, not the evolve runs from it.
		{[]string{"quantize/adaround*"}, []string{"dataset/mnist", "evaluate/adaround-w2", "pretrain/lenet5", "quantize/adaround-w2"}},
		// The example of the help: both patterns together.
		{[]string{"quantize/adaround*", "evolve/ccea-adaround-*"}, []string{"dataset/mnist", "evaluate/adaround-w2",
			"evaluate/ccea-adaround-w2-s1", "evolve/ccea-adaround-w2-s1", "pretrain/lenet5", "quantize/adaround-w2"}},
		// The pretrained model is scored by evaluate/float.
		{[]string{"pretrain/lenet5"}, []string{"dataset/mnist", "evaluate/float", "pretrain/lenet5"}},
		// Every evaluate stage reads the dataset, but none scores it.
		{[]string{"dataset"}, []string{"dataset/mnist"}},
		// An evaluate stage alone brings the model it scores.
		{[]string{"evaluate/rtn-w2"}, []string{"dataset/mnist", "evaluate/rtn-w2", "pretrain/lenet5", "quantize/rtn-w2"}},
	} {
		if got := selectedNames(t, g, c.patterns...); !reflect.DeepEqual(got, c.want) {
			t.Errorf("--only %q selects %v, want %v", c.patterns, got, c.want)
		}
	}
	if got := selectedNames(t, g, "report"); len(got) != len(g.Stages) {
		t.Errorf("--only report selects %d of %d stages (the report reads everything)", len(got), len(g.Stages))
	}
}

func TestOnlyPatternMatchingNothingIsAnError(t *testing.T) {
	e := expEnv(t, nil)
	g, _ := pipeline.NewGraph(expShaped())
	for _, pat := range []string{"quantize/nope*", "["} {
		_, err := pipeline.MakePlan(g, pipeline.PlanOptions{Registry: e.reg, Store: e.store,
			Only: []string{"evolve/*", pat}, Scorers: scorers})
		if err == nil || !strings.Contains(err.Error(), "--only") || !strings.Contains(err.Error(), pat) {
			t.Errorf("--only %q: error %v, want one naming --only and the pattern", pat, err)
		}
	}
}

// A run with --only runs the selection and nothing else, ends ok, records
// the other stages as unselected, and a later run without --only reuses
// every entry the first one stored.
func TestOnlyRunsTheSelectionAndTheRestLater(t *testing.T) {
	rec := &testkinds.Recorder{}
	e := expEnv(t, rec)
	only := func(o *pipeline.PlanOptions) {
		o.Only, o.Scorers = []string{"quantize/adaround*", "evolve/ccea-adaround-*"}, scorers
	}
	p := e.plan(expShaped(), only)
	want := []string{"dataset/mnist", "evaluate/adaround-w2", "evaluate/ccea-adaround-w2-s1",
		"evolve/ccea-adaround-w2-s1", "pretrain/lenet5", "quantize/adaround-w2"}
	var toRun []string
	for _, s := range p.Stages {
		switch s.Status {
		case pipeline.StatusToRun:
			toRun = append(toRun, s.Name)
		case pipeline.StatusUnselected:
			if !strings.HasPrefix(s.Reason, pipeline.NotSelected) || !strings.Contains(s.Reason, "would run: not in the store") {
				t.Errorf("%s: reason %q", s.Name, s.Reason)
			}
		default:
			t.Errorf("%s is %s", s.Name, s.Status)
		}
	}
	sort.Strings(toRun)
	if !reflect.DeepEqual(toRun, want) {
		t.Fatalf("to run %v, want %v", toRun, want)
	}
	if p.Selected != len(want) || p.Selection() != "--only: 6 of 12 stages selected" {
		t.Errorf("selected %d, %q", p.Selected, p.Selection())
	}
	if _, _, unknown := p.Work(); unknown != 0 {
		t.Errorf("work counts %d stages without estimate", unknown)
	}

	sum := e.run(context.Background(), p, nil)
	if got := rec.Names(); !reflect.DeepEqual(got, want) {
		t.Fatalf("ran %v, want %v", got, want)
	}
	if sum.Outcome != "ok" || sum.Err() != nil || sum.Counts[pipeline.StatusDone] != 6 || sum.Counts[pipeline.StatusUnselected] != 6 {
		t.Fatalf("summary: outcome %s, counts %v, err %v", sum.Outcome, sum.Counts, sum.Err())
	}
	if !slices.Equal(sum.Only, []string{"quantize/adaround*", "evolve/ccea-adaround-*"}) || sum.Selected != 6 {
		t.Errorf("summary selection %q %d", sum.Only, sum.Selected)
	}
	st, err := pipeline.ReadState(e.results.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Outcome != "ok" || st.Counts[pipeline.StatusUnselected] != 6 || st.Selected != 6 || len(st.Only) != 2 {
		t.Fatalf("state: outcome %s counts %v selected %d only %q", st.Outcome, st.Counts, st.Selected, st.Only)
	}
	if s := st.Stage("evolve/ccea-w2-s1"); s.Status != pipeline.StatusUnselected || s.Log != "" || !strings.HasPrefix(s.Reason, pipeline.NotSelected) {
		t.Errorf("state of an unselected stage: %+v", s)
	}
	if _, ok := e.results.History().Stages["report"]; ok {
		t.Error("keys.json records an unselected stage that never ran")
	}

	// The same selection again: nothing to do.
	rec.Reset()
	sum = e.run(context.Background(), e.plan(expShaped(), only), nil)
	if !sum.NothingToDo || sum.Outcome != "ok" || len(rec.Names()) != 0 {
		t.Fatalf("second --only run: nothing to do %v, outcome %s, ran %v", sum.NothingToDo, sum.Outcome, rec.Names())
	}

	// Without --only: exactly the rest runs, the selection is cached.
	rec.Reset()
	p = e.plan(expShaped(), nil)
	if c := p.Counts(); c[pipeline.StatusCached] != 6 || c[pipeline.StatusToRun] != 6 || p.Selection() != "" {
		t.Fatalf("plan without --only: %v %q", c, p.Selection())
	}
	sum = e.run(context.Background(), p, nil)
	rest := []string{"evaluate/ccea-w2-s1", "evaluate/float", "evaluate/rtn-w2", "evolve/ccea-w2-s1", "quantize/rtn-w2", "report"}
	if got := rec.Names(); sum.Outcome != "ok" || !reflect.DeepEqual(got, rest) {
		t.Fatalf("run without --only: %s, ran %v, want %v", sum.Outcome, got, rest)
	}
}

// Outside the selection, a stage in the store stays cached (a result),
// --force and --rerun do not rebuild it, and a stage that would be
// blocked does not fail the run.
func TestOnlyWithForceRerunAndBlockedStages(t *testing.T) {
	rec := &testkinds.Recorder{}
	e := expEnv(t, rec)
	e.run(context.Background(), e.plan(expShaped(), nil), nil)

	rec.Reset()
	p := e.plan(expShaped(), func(o *pipeline.PlanOptions) {
		o.Only, o.Scorers, o.Force, o.Rerun = []string{"evaluate/rtn-w2"}, scorers, true, []string{"evolve/*"}
	})
	for _, s := range p.Stages {
		in := slices.Contains([]string{"dataset/mnist", "pretrain/lenet5", "quantize/rtn-w2", "evaluate/rtn-w2"}, s.Name)
		if in && (s.Status != pipeline.StatusToRun || !s.Forced) || !in && (s.Status != pipeline.StatusCached || s.Forced) {
			t.Errorf("%s: %s forced=%v (selected %v)", s.Name, s.Status, s.Forced, in)
		}
	}
	sum := e.run(context.Background(), p, nil)
	if got := rec.Names(); sum.Outcome != "ok" || len(got) != 4 || slices.Contains(got, "evolve/ccea-w2-s1") {
		t.Fatalf("--force --rerun evolve/* --only evaluate/rtn-w2: %s, ran %v", sum.Outcome, got)
	}
	if sum.Counts[pipeline.StatusCached] != 8 || sum.Counts[pipeline.StatusUnselected] != 0 {
		t.Errorf("counts %v: the unselected stages in the store are cached", sum.Counts)
	}

	// A stage of a kind this ccq does not have, outside the selection.
	specs := append(expShaped(), spec("evolve/plugin-w2-s1", "nokind", nil, map[string]string{"start": "quantize/rtn-w2"}))
	p = e.plan(specs, func(o *pipeline.PlanOptions) { o.Only, o.Scorers = []string{"quantize/*"}, scorers })
	if s := p.Stage("evolve/plugin-w2-s1"); s.Status != pipeline.StatusUnselected || !strings.Contains(s.Reason, "would be blocked: ") {
		t.Fatalf("unselected stage of an unknown kind: %s %q", s.Status, s.Reason)
	}
	if sum := e.run(context.Background(), p, nil); sum.Outcome != "ok" || len(sum.Blocked) != 0 {
		t.Fatalf("a blocked stage outside the selection failed the run: %s %v", sum.Outcome, sum.Blocked)
	}
}

// keys.json keeps the last record of an unselected stage, so a plan can
// still say what changed in it.
func TestOnlyKeepsTheHistoryOfUnselectedStages(t *testing.T) {
	e := expEnv(t, nil)
	e.run(context.Background(), e.plan(expShaped(), nil), nil)
	changed := expShaped()
	for i := range changed {
		if changed[i].Name == "evolve/ccea-w2-s1" {
			changed[i].Params = pipeline.MustParams(map[string]any{"seed": 2})
		}
	}
	p := e.plan(changed, func(o *pipeline.PlanOptions) { o.Only, o.Scorers = []string{"quantize/adaround*"}, scorers })
	if r := p.Stage("evolve/ccea-w2-s1").Reason; !strings.Contains(r, "would run: param seed: 1 -> 2") {
		t.Fatalf("reason %q", r)
	}
	e.run(context.Background(), p, nil)
	if r := e.plan(changed, nil).Stage("evolve/ccea-w2-s1").Reason; r != "param seed: 1 -> 2" {
		t.Fatalf("after the --only run, reason %q: the stage's history was lost", r)
	}
}
