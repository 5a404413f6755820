package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/internal/version"
	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/store"
	"github.com/ccq-project/ccq/pipeline/testkinds"
)

func TestKeyRecipeIsStable(t *testing.T) {
	// This digest pins the documented recipe: if it changes, bump
	// KeyRecipeVersion and update this value deliberately.
	k := pipeline.Key(pipeline.KeyInput{Kind: "quantize", KindVersion: "1", CCQVersion: "0.0.0",
		Params: pipeline.MustParams(map[string]any{"method": "rtn", "bits": 4}),
		Inputs: map[string]string{"model": "abc"}, Files: map[string]string{"f": "00"}})
	// Computed outside Go from the documented recipe:
	// printf 'ccq-stage-key/v1\nkind=quantize\nkind_version=1\nccq_version=0.0.0\nparams={"bits":4,"method":"rtn"}\ninput model=abc\nfile f=sha256:00\n' | sha256sum | cut -c1-32
	const want = "35d2b0df7a891dc910ae95b8d91d6794"
	if k != want {
		t.Fatalf("key recipe changed: got %s, want %s", k, want)
	}
}

func TestKeyIgnoresOrderAndNumberSpelling(t *testing.T) {
	a := pipeline.MustParams(map[string]any{"b": 4, "a": []any{1.0, "x"}, "m": map[string]any{"z": 1, "y": 2.5}})
	b, err := pipeline.ParseParams([]byte(`{ "m": {"y": 2.5, "z": 1.0}, "a": [1, "x"], "b": 4.0 }`))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Equal(b) {
		t.Fatalf("canonical forms differ: %s vs %s", a, b)
	}
	if got := a.String(); got != `{"a":[1,"x"],"b":4,"m":{"y":2.5,"z":1}}` {
		t.Fatalf("canonical form %s", got)
	}
	c := pipeline.MustParams(map[string]any{"b": 5, "a": []any{1, "x"}, "m": map[string]any{"z": 1, "y": 2.5}})
	ki := func(p pipeline.Params) string {
		return pipeline.Key(pipeline.KeyInput{Kind: "k", KindVersion: "1", CCQVersion: version.Version, Params: p})
	}
	if ki(a) != ki(b) || ki(a) == ki(c) {
		t.Fatal("key does not follow canonical params")
	}
}

func TestParamsRejectsBadValues(t *testing.T) {
	for _, b := range []string{`[1]`, `{"a":1} x`, `{"a":`} {
		if _, err := pipeline.ParseParams([]byte(b)); err == nil {
			t.Errorf("ParseParams(%s) accepted", b)
		}
	}
	if _, err := pipeline.NewParams(map[string]any{"x": struct{}{}}); err == nil {
		t.Error("struct value accepted")
	}
}

func TestParamsDecodeStrict(t *testing.T) {
	type P struct {
		Bits   int               `json:"bits"`
		Budget pipeline.Duration `json:"budget"`
	}
	var p P
	err := pipeline.MustParams(map[string]any{"bits": 4, "bitz": 3}).Decode(&p)
	var pe *pipeline.ParamError
	if !errors.As(err, &pe) || pe.Key != "bitz" {
		t.Fatalf("unknown key: got %v", err)
	}
	err = pipeline.MustParams(map[string]any{"bits": "four"}).Decode(&p)
	if !errors.As(err, &pe) || pe.Key != "bits" {
		t.Fatalf("wrong type: got %v", err)
	}
	if err := pipeline.MustParams(map[string]any{"bits": 4, "budget": "90m"}).Decode(&p); err != nil || p.Bits != 4 || p.Budget.String() != "1h30m0s" {
		t.Fatalf("decode: %v %+v", err, p)
	}
}

func TestSecondRunDoesNothing(t *testing.T) {
	rec := &testkinds.Recorder{}
	e := newEnv(t, testkinds.Touch{Runs: rec})
	sum := e.run(context.Background(), e.plan(tree(1), nil), nil)
	if sum.Outcome != "ok" || sum.Counts[pipeline.StatusDone] != 7 {
		t.Fatalf("first run: %+v", sum)
	}
	// A stage that ran carries the time its entry took to build.
	if st1, err := pipeline.ReadState(e.results.Dir); err != nil || st1.Stage("q/w2") == nil || st1.Stage("q/w2").BuiltSeconds <= 0 {
		t.Errorf("first run's state of q/w2: %v %+v", err, st1)
	}
	rec.Reset()
	p := e.plan(tree(1), nil)
	for n, s := range statuses(p) {
		if s != pipeline.StatusCached {
			t.Errorf("%s is %s on the second plan", n, s)
		}
	}
	sum = e.run(context.Background(), p, nil)
	if !sum.NothingToDo || sum.Outcome != "ok" || len(rec.Names()) != 0 {
		t.Fatalf("second run did work: %+v ran %v", sum, rec.Names())
	}
	// Results folder: links, logs, state.
	if _, err := os.Stat(filepath.Join(e.results.LinkPath("report"), "manifest.json")); err != nil {
		t.Error(err)
	}
	if _, err := os.Lstat(e.results.LinkPath("q/w2")); err == nil {
		t.Error("an intermediate stage was linked")
	}
	st, err := pipeline.ReadState(e.results.Dir)
	if err != nil || st.Outcome != "ok" || st.Counts[pipeline.StatusCached] != 7 {
		t.Fatalf("state: %v %+v", err, st)
	}
	if s := st.Stage("q/w2"); s == nil || s.Entry == "" || s.Key == "" {
		t.Fatalf("state of q/w2: %+v", s)
	}
	mb, err := os.ReadFile(filepath.Join(st.Stage("q/w2").Entry, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m store.Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		t.Fatal(err)
	}
	// A cached stage carries the time its entry took to build.
	if got := st.Stage("q/w2").BuiltSeconds; got != m.Seconds || got <= 0 {
		t.Errorf("built seconds of cached q/w2 = %v, manifest says %v", got, m.Seconds)
	}
}

func TestSharedStoreAcrossExperiments(t *testing.T) {
	rec := &testkinds.Recorder{}
	e := newEnv(t, testkinds.Touch{Runs: rec})
	e.run(context.Background(), e.plan(tree(1), nil), nil)
	rec.Reset()
	// Another experiment (another results folder) with the same stages under other names.
	other, err := pipeline.OpenResults(filepath.Join(e.dir, "results", "other"))
	if err != nil {
		t.Fatal(err)
	}
	specs := tree(1)
	specs[0].Name = "dataset/mnist"
	for i := range specs {
		for k, v := range specs[i].Inputs {
			if v == "data/mnist" {
				specs[i].Inputs[k] = "dataset/mnist"
			}
		}
	}
	e.results = other
	p := e.plan(specs, nil)
	if c := p.Counts(); c[pipeline.StatusCached] != 7 {
		t.Fatalf("renamed stages not shared: %v", c)
	}
}

func TestChangedParamRerunsExactlyDependents(t *testing.T) {
	rec := &testkinds.Recorder{}
	e := newEnv(t, testkinds.Touch{Runs: rec})
	e.run(context.Background(), e.plan(tree(1), nil), nil)
	rec.Reset()
	specs := tree(1)
	specs[2].Params = pipeline.MustParams(map[string]any{"bits": 3}) // q/w2
	p := e.plan(specs, nil)
	want := []string{"ev/w2", "q/w2", "report"}
	var got []string
	for n, s := range statuses(p) {
		if s == pipeline.StatusToRun {
			got = append(got, n)
		}
	}
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("to run %v, want %v", got, want)
	}
	if r := p.Stage("q/w2").Reason; r != "param bits: 2 -> 3" {
		t.Errorf("reason for q/w2: %q", r)
	}
	if r := p.Stage("ev/w2").Reason; r != "input start (q/w2) changed" {
		t.Errorf("reason for ev/w2: %q", r)
	}
	cpu, crit, unknown := p.Work()
	if unknown != 0 || cpu <= 0 || crit <= 0 || crit > cpu {
		t.Errorf("work estimate cpu %v critical %v unknown %d", cpu, crit, unknown)
	}
	sum := e.run(context.Background(), p, nil)
	if sum.Outcome != "ok" || !reflect.DeepEqual(rec.Names(), want) {
		t.Fatalf("ran %v (outcome %s), want %v", rec.Names(), sum.Outcome, want)
	}
	// Changing it back finds the old entries again.
	if c := e.plan(tree(1), nil).Counts(); c[pipeline.StatusCached] != 7 {
		t.Fatalf("old entries not reused: %v", c)
	}
}

func TestKindVersionChangeReruns(t *testing.T) {
	e := newEnv(t, testkinds.Touch{})
	e.run(context.Background(), e.plan(tree(1), nil), nil)
	e.reg = &pipeline.Registry{}
	e.reg.MustRegister(testkinds.Touch{Ver: "2"})
	p := e.plan(tree(1), nil)
	if r := p.Stage("data/mnist").Reason; r != "touch version 1 -> 2" {
		t.Fatalf("reason %q", r)
	}
}

func TestFailureIsolation(t *testing.T) {
	rec := &testkinds.Recorder{}
	e := newEnv(t, testkinds.Touch{Runs: rec}, testkinds.Fail{Runs: rec}, testkinds.Panic{})
	specs := []pipeline.Spec{
		spec("a", "touch", nil, nil),
		spec("bad", "fail", map[string]any{"msg": "no good"}, map[string]string{"in": "a"}),
		spec("after-bad", "touch", nil, map[string]string{"in": "bad"}),
		spec("after-after", "touch", nil, map[string]string{"in": "after-bad"}),
		spec("boom", "panic", nil, map[string]string{"in": "a"}),
		spec("after-boom", "touch", nil, map[string]string{"in": "boom"}),
		spec("fine", "touch", map[string]any{"x": 1}, map[string]string{"in": "a"}),
		spec("fine2", "touch", map[string]any{"x": 2}, map[string]string{"in": "fine"}),
	}
	sum := e.run(context.Background(), e.plan(specs, nil), nil)
	want := map[string]pipeline.Status{"a": "done", "bad": "failed", "after-bad": "skipped", "after-after": "skipped",
		"boom": "failed", "after-boom": "skipped", "fine": "done", "fine2": "done"}
	if got := finalStatuses(sum); !reflect.DeepEqual(got, want) {
		t.Fatalf("statuses %v", got)
	}
	if sum.Outcome != "failed" {
		t.Fatalf("outcome %s", sum.Outcome)
	}
	err := sum.Err()
	if err == nil || !strings.Contains(err.Error(), "no good") || !strings.Contains(err.Error(), e.results.LogPath("bad")) ||
		!strings.Contains(err.Error(), "panic") {
		t.Fatalf("summary error: %v", err)
	}
	for _, s := range sum.Stages {
		if s.Name == "after-after" && !strings.Contains(s.Reason, "after-bad") {
			t.Errorf("skip reason %q", s.Reason)
		}
	}
	log, _ := os.ReadFile(e.results.LogPath("bad"))
	if !strings.Contains(string(log), "no good") {
		t.Errorf("log of the failed stage: %s", log)
	}
	log, _ = os.ReadFile(e.results.LogPath("boom"))
	if !strings.Contains(string(log), "goroutine") {
		t.Errorf("panic stack not logged: %s", log)
	}
	// Nothing of the failed stage is accepted, and no temporary folder is left.
	p := e.plan(specs, nil)
	if p.Stage("bad").Status != pipeline.StatusToRun || p.Stage("fine2").Status != pipeline.StatusCached {
		t.Fatalf("replan: %v", statuses(p))
	}
	if !strings.Contains(p.Stage("bad").Reason, "did not finish") {
		t.Errorf("reason %q", p.Stage("bad").Reason)
	}
	tmps, _ := os.ReadDir(filepath.Join(e.store.Root(), "fail", ".tmp"))
	if len(tmps) != 0 {
		t.Errorf("temporary folders left: %v", tmps)
	}
}

func TestRerunAndForce(t *testing.T) {
	rec := &testkinds.Recorder{}
	e := newEnv(t, testkinds.Touch{Runs: rec})
	e.run(context.Background(), e.plan(tree(1), nil), nil)
	rec.Reset()
	p := e.plan(tree(1), func(o *pipeline.PlanOptions) { o.Rerun = []string{"q/*"} })
	e.run(context.Background(), p, nil)
	if want := []string{"ev/w2", "ev/w4", "q/w2", "q/w4", "report"}; !reflect.DeepEqual(rec.Names(), want) {
		t.Fatalf("--rerun q/* ran %v", rec.Names())
	}
	rec.Reset()
	e.run(context.Background(), e.plan(tree(1), func(o *pipeline.PlanOptions) { o.Force = true }), nil)
	if len(rec.Names()) != 7 {
		t.Fatalf("--force ran %v", rec.Names())
	}
	g, _ := pipeline.NewGraph(tree(1))
	if _, err := pipeline.MakePlan(g, pipeline.PlanOptions{Registry: e.reg, Store: e.store, Rerun: []string{"nothing/*"}}); err == nil {
		t.Fatal("a pattern matching nothing was accepted")
	}
}

func TestBlockedStages(t *testing.T) {
	e := newEnv(t, testkinds.Touch{}, testkinds.Steps{})
	specs := []pipeline.Spec{
		spec("a", "touch", nil, nil),
		spec("unknown", "evolve", nil, map[string]string{"in": "a"}),
		spec("after", "touch", nil, map[string]string{"in": "unknown"}),
		spec("badparam", "steps", map[string]any{"steps": 0}, nil),
		{Name: "file", Kind: "touch", Files: map[string]pipeline.FileSpec{"model": {Path: "missing.safetensors"}}},
	}
	specs[3].Origin = map[string]string{"steps": "x.toml:7"}
	p := e.plan(specs, nil)
	want := map[string]pipeline.Status{"a": "to-run", "unknown": "blocked", "after": "blocked", "badparam": "blocked", "file": "blocked"}
	if got := statuses(p); !reflect.DeepEqual(got, want) {
		t.Fatalf("statuses %v", got)
	}
	if r := p.Stage("badparam").Reason; r != "x.toml:7: param steps: must be at least 1" {
		t.Errorf("reason %q", r)
	}
	if r := p.Stage("unknown").Reason; !strings.Contains(r, `"evolve" is not built into this ccq`) {
		t.Errorf("reason %q", r)
	}
	sum := e.run(context.Background(), p, nil)
	if sum.Outcome != "failed" || sum.Counts[pipeline.StatusDone] != 1 || len(sum.Blocked) != 4 {
		t.Fatalf("%+v", sum)
	}
}

func TestExternalFilesEnterKeyByContent(t *testing.T) {
	e := newEnv(t, testkinds.Touch{})
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.bin", "weights")
	write("b.bin", "weights")
	key := func(path, pin string) *pipeline.StagePlan {
		return e.plan([]pipeline.Spec{{Name: "m", Kind: "touch", Files: map[string]pipeline.FileSpec{"model": {Path: path, SHA256: pin}}}},
			func(o *pipeline.PlanOptions) { o.BaseDir = dir }).Stage("m")
	}
	a, b := key("a.bin", ""), key(filepath.Join(dir, "b.bin"), "")
	if a.Key == "" || a.Key != b.Key {
		t.Fatalf("same content, different keys %q %q", a.Key, b.Key)
	}
	write("b.bin", "other weights")
	if key("b.bin", "").Key == a.Key {
		t.Fatal("content change kept the key")
	}
	if s := key("a.bin", strings.Repeat("0", 64)); s.Status != pipeline.StatusBlocked || !strings.Contains(s.Reason, "pins") {
		t.Fatalf("pin mismatch: %s %s", s.Status, s.Reason)
	}
}

func TestGraphErrors(t *testing.T) {
	cases := map[string][]pipeline.Spec{
		"cycle":         {spec("a", "touch", nil, map[string]string{"x": "b"}), spec("b", "touch", nil, map[string]string{"x": "a"})},
		"missing":       {spec("a", "touch", nil, map[string]string{"x": "nope"})},
		"duplicate":     {spec("a", "touch", nil, nil), spec("a", "touch", nil, nil)},
		"bad name":      {spec("../a", "touch", nil, nil)},
		"self":          {spec("a", "touch", nil, map[string]string{"x": "a"})},
		"no kind":       {spec("a", "", nil, nil)},
		"absolute":      {spec("/a", "touch", nil, nil)},
		"empty segment": {spec("a//b", "touch", nil, nil)},
	}
	for name, specs := range cases {
		if _, err := pipeline.NewGraph(specs); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestGraphMatch(t *testing.T) {
	g, err := pipeline.NewGraph(tree(1))
	if err != nil {
		t.Fatal(err)
	}
	for pat, want := range map[string][]string{"q/*": {"q/w2", "q/w4"}, "touch": nil, "report": {"report"}, "ev/w?": {"ev/w2", "ev/w4"}} {
		got, err := g.Match(pat)
		if err != nil {
			t.Fatal(err)
		}
		if pat == "touch" {
			if len(got) != 7 {
				t.Errorf("kind pattern matched %v", got)
			}
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s matched %v", pat, got)
		}
	}
	if deps := g.Dependents("model/lenet"); !reflect.DeepEqual(deps, []string{"q/w2", "q/w4"}) {
		t.Errorf("dependents %v", deps)
	}
}

func TestStagesSharingAKeyRunOnce(t *testing.T) {
	rec := &testkinds.Recorder{}
	e := newEnv(t, testkinds.Touch{Runs: rec})
	specs := []pipeline.Spec{
		spec("a", "touch", map[string]any{"x": 1}, nil),
		spec("b", "touch", map[string]any{"x": 1}, nil),
		spec("c", "touch", nil, map[string]string{"in": "b"}),
	}
	p := e.plan(specs, nil)
	if p.Stage("a").Key != p.Stage("b").Key {
		t.Fatal("identical stages have different keys")
	}
	sum := e.run(context.Background(), p, nil)
	if sum.Outcome != "ok" || sum.Counts[pipeline.StatusDone] != 3 || rec.Count("a")+rec.Count("b") != 1 {
		t.Fatalf("outcome %s counts %v, ran %v", sum.Outcome, sum.Counts, rec.Names())
	}
}
