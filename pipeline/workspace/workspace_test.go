package workspace

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/testkinds"
)

const exp = `
name = "tiny"
[dataset]
name = "mnist"
[pretrain]
model = "lenet5"
epochs = 1
[[quantize]]
method = "rtn"
bits = [2, 4]
[[optimizers]]
plugin = "ccea"
start = "rtn"
bits = [2]
seeds = [1, 2]
budget = { evaluations = 100 }
[report]
reference = "rtn"
`

// fakeRegistry registers touch stages under the real kind names.
func fakeRegistry(rec *testkinds.Recorder) *pipeline.Registry {
	reg := &pipeline.Registry{}
	for _, k := range []string{"dataset", "pretrain", "quantize", "evolve", "evaluate", "report"} {
		reg.MustRegister(testkinds.Touch{KindName: k, Runs: rec})
	}
	return reg
}

func writeExp(t *testing.T, dir, src string) string {
	t.Helper()
	p := filepath.Join(dir, "tiny.toml")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func runOnce(t *testing.T, file string, loc Locations, reg *pipeline.Registry) (*Session, *pipeline.Plan, *pipeline.Summary) {
	t.Helper()
	return runWith(t, file, loc, reg, PlanFlags{})
}

func runWith(t *testing.T, file string, loc Locations, reg *pipeline.Registry, flags PlanFlags) (*Session, *pipeline.Plan, *pipeline.Summary) {
	t.Helper()
	s, err := Load(file, loc, reg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.OpenStore()
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Plan(st, flags)
	if err != nil {
		t.Fatal(err)
	}
	res, err := pipeline.OpenResults(s.ResultsDir())
	if err != nil {
		t.Fatal(err)
	}
	sum, err := pipeline.Run(context.Background(), p, pipeline.RunOptions{Registry: reg, Store: st, Results: res, Jobs: 2,
		Settings: s.Settings(), ExperimentFile: s.Exp.File, ExperimentSource: s.Exp.Source})
	if err != nil {
		t.Fatal(err)
	}
	return s, p, sum
}

func TestExperimentEndToEnd(t *testing.T) {
	dir := t.TempDir()
	file := writeExp(t, dir, exp)
	loc := Resolve(filepath.Join(dir, "results"), "", "")
	if loc.Store != filepath.Join(dir, "results", ".store") {
		t.Fatalf("default store %s", loc.Store)
	}
	rec := &testkinds.Recorder{}
	reg := fakeRegistry(rec)
	s, _, sum := runOnce(t, file, loc, reg)
	// dataset, pretrain, 2 quantize, 2 evolve, 5 evaluate, report
	if sum.Outcome != "ok" || sum.Counts[pipeline.StatusDone] != 12 {
		t.Fatalf("first run: %s %v", sum.Outcome, sum.Counts)
	}
	frozen, _ := os.ReadFile(filepath.Join(s.ResultsDir(), "experiment.toml"))
	if string(frozen) != exp {
		t.Error("experiment not frozen in the results folder")
	}
	if _, err := os.Stat(filepath.Join(s.ResultsDir(), "stages", "report", "out.txt")); err != nil {
		t.Errorf("report link: %v", err)
	}
	var out bytes.Buffer
	WriteSummary(&out, sum)
	if !strings.HasPrefix(out.String(), "ok in ") {
		t.Errorf("summary %q", out.String())
	}

	// Unchanged: nothing to do.
	rec.Reset()
	_, _, sum = runOnce(t, file, loc, reg)
	out.Reset()
	WriteSummary(&out, sum)
	if !sum.NothingToDo || len(rec.Names()) != 0 || !strings.HasPrefix(out.String(), "nothing to do: all 12 stages are cached") {
		t.Fatalf("second run: %v ran %v: %s", sum.NothingToDo, rec.Names(), out.String())
	}

	// One optimizer parameter changes: exactly its evolve stages, their
	// evaluations and the report rerun, and the plan says why.
	rec.Reset()
	changed := strings.Replace(exp, "evaluations = 100", "evaluations = 200", 1)
	writeExp(t, dir, changed)
	s2, err := Load(file, loc, reg)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := s2.OpenStore()
	p, err := s2.Plan(st, PlanFlags{})
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := WritePlan(&out, "tiny", p, 2, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"to-run  evolve/ccea-w2-s1", "param budget.evaluations: 100 -> 200", "input model (evolve/ccea-w2-s1) changed", "(7 cached stages not shown", "report               1        1ms       4 inputs changed (evaluate/ccea-w2-s1, evaluate/ccea-w2-s2, ...)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, out.String())
		}
	}
	_, _, sum = runOnce(t, file, loc, reg)
	want := []string{"evaluate/ccea-w2-s1", "evaluate/ccea-w2-s2", "evolve/ccea-w2-s1", "evolve/ccea-w2-s2", "report"}
	got := rec.Names()
	sort.Strings(got)
	if sum.Outcome != "ok" || !reflect.DeepEqual(got, want) {
		t.Fatalf("after a change ran %v", got)
	}

	// Status of the finished run.
	st2, err := pipeline.ReadState(s.ResultsDir())
	if err != nil {
		t.Fatal(err)
	}
	res := &pipeline.Results{Dir: s.ResultsDir()}
	if res.Live(st2) {
		t.Error("a finished run looks live")
	}
	out.Reset()
	if err := WriteState(&out, s.ResultsDir(), st2, false, true, time.Now()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "tiny ("+s.ResultsDir()+"): ok") || !strings.Contains(out.String(), "5 done, 7 cached") {
		t.Errorf("status:\n%s", out.String())
	}
}

func TestGraphOutputs(t *testing.T) {
	dir := t.TempDir()
	s, err := Load(writeExp(t, dir, exp), Locations{}, fakeRegistry(nil))
	if err != nil {
		t.Fatal(err)
	}
	var m, d bytes.Buffer
	Mermaid(&m, s.Graph, map[string]pipeline.Status{"dataset/mnist": pipeline.StatusCached})
	DOT(&d, s.Graph, nil)
	if !strings.HasPrefix(m.String(), "flowchart LR\n") || !strings.Contains(m.String(), `s0["dataset/mnist"]`) ||
		!strings.Contains(m.String(), "class s0 cached") || strings.Count(m.String(), " --> ") != countEdges(s.Graph) {
		t.Errorf("mermaid:\n%s", m.String())
	}
	if !strings.Contains(d.String(), `"quantize/rtn-w2-tensor-a32" -> "evolve/ccea-w2-s1" [label="start"];`) ||
		strings.Count(d.String(), " -> ") != countEdges(s.Graph) {
		t.Errorf("dot:\n%s", d.String())
	}
}

func countEdges(g *pipeline.Graph) int {
	n := 0
	for _, s := range g.Stages {
		n += len(s.Inputs)
	}
	return n
}

func TestResolvePrecedence(t *testing.T) {
	t.Setenv("CCQ_RESULTS", "/env/results")
	t.Setenv("CCQ_STORE", "")
	t.Setenv("CCQ_DATA", "/env/data")
	l := Resolve("", "", "")
	if l.ResultsRoot != "/env/results" || l.Store != "/env/results/.store" || l.DataDir != "/env/data" {
		t.Errorf("env: %+v", l)
	}
	t.Setenv("CCQ_STORE", "/env/store")
	l = Resolve("/flag/results", "", "/flag/data")
	if l.ResultsRoot != "/flag/results" || l.Store != "/env/store" || l.DataDir != "/flag/data" {
		t.Errorf("flags: %+v", l)
	}
	if l := Resolve("", "/flag/store", ""); l.Store != "/flag/store" {
		t.Errorf("store flag: %+v", l)
	}
	// Without flag or environment, outputs go to runs/, not to the results
	// package's source folder.
	t.Setenv("CCQ_RESULTS", "")
	t.Setenv("CCQ_STORE", "")
	if l := Resolve("", "", ""); l.ResultsRoot != "runs" || l.Store != filepath.Join("runs", ".store") {
		t.Errorf("defaults: %+v", l)
	}
}
