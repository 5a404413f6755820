package pipeline_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/store"
)

// env is a store, a results folder and a registry in a temporary folder.
type env struct {
	t       testing.TB
	dir     string
	store   *store.Store
	results *pipeline.Results
	reg     *pipeline.Registry
	jobs    int
}

func newEnv(t testing.TB, kinds ...pipeline.Kind) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := pipeline.OpenResults(filepath.Join(dir, "results", "exp"))
	if err != nil {
		t.Fatal(err)
	}
	reg := &pipeline.Registry{}
	for _, k := range kinds {
		reg.MustRegister(k)
	}
	return &env{t: t, dir: dir, store: st, results: res, reg: reg, jobs: 2}
}

func (e *env) plan(specs []pipeline.Spec, mod func(*pipeline.PlanOptions)) *pipeline.Plan {
	e.t.Helper()
	g, err := pipeline.NewGraph(specs)
	if err != nil {
		e.t.Fatal(err)
	}
	opt := pipeline.PlanOptions{Registry: e.reg, Store: e.store, History: e.results.History()}
	if mod != nil {
		mod(&opt)
	}
	p, err := pipeline.MakePlan(g, opt)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) run(ctx context.Context, p *pipeline.Plan, mod func(*pipeline.RunOptions)) *pipeline.Summary {
	e.t.Helper()
	opt := pipeline.RunOptions{Registry: e.reg, Store: e.store, Results: e.results, Jobs: e.jobs,
		Settings: pipeline.Settings{Experiment: "exp"}}
	if mod != nil {
		mod(&opt)
	}
	sum, err := pipeline.Run(ctx, p, opt)
	if err != nil {
		e.t.Fatal(err)
	}
	return sum
}

func statuses(p *pipeline.Plan) map[string]pipeline.Status {
	m := map[string]pipeline.Status{}
	for _, s := range p.Stages {
		m[s.Name] = s.Status
	}
	return m
}

func finalStatuses(s *pipeline.Summary) map[string]pipeline.Status {
	m := map[string]pipeline.Status{}
	for _, st := range s.Stages {
		m[st.Name] = st.Status
	}
	return m
}

func spec(name, kind string, params map[string]any, inputs map[string]string) pipeline.Spec {
	return pipeline.Spec{Name: name, Kind: kind, Params: pipeline.MustParams(params), Inputs: inputs}
}

// tree is a small experiment-shaped DAG of touch stages:
// data -> model -> q2, q4 -> e2 (from q2), e4 (from q4) -> report (all).
func tree(epochs int) []pipeline.Spec {
	return []pipeline.Spec{
		spec("data/mnist", "touch", map[string]any{"name": "mnist"}, nil),
		spec("model/lenet", "touch", map[string]any{"epochs": epochs}, map[string]string{"data": "data/mnist"}),
		spec("q/w2", "touch", map[string]any{"bits": 2}, map[string]string{"model": "model/lenet"}),
		spec("q/w4", "touch", map[string]any{"bits": 4}, map[string]string{"model": "model/lenet"}),
		spec("ev/w2", "touch", map[string]any{"seed": 1}, map[string]string{"start": "q/w2", "data": "data/mnist"}),
		spec("ev/w4", "touch", map[string]any{"seed": 1}, map[string]string{"start": "q/w4", "data": "data/mnist"}),
		spec("report", "touch", nil, map[string]string{"a": "ev/w2", "b": "ev/w4", "c": "q/w2", "d": "q/w4"}),
	}
}
