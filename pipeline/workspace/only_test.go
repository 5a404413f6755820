package workspace

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/testkinds"
)

// --only on an expanded experiment: the evaluate stage of a selected evolve
// run comes along, and plan, summary and status say what was left out.
func TestOnlyOnAnExperiment(t *testing.T) {
	dir := t.TempDir()
	file := writeExp(t, dir, exp)
	loc := Resolve(filepath.Join(dir, "results"), "", "")
	rec := &testkinds.Recorder{}
	reg := fakeRegistry(rec)
	s, err := Load(file, loc, reg)
	if err != nil {
		t.Fatal(err)
	}
	only := []string{"evolve/ccea-w2-s1"}
	sel, err := s.Select(only)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"dataset/mnist", "pretrain/lenet5", "quantize/rtn-w2-tensor-a32", "evolve/ccea-w2-s1", "evaluate/ccea-w2-s1"} {
		if !sel[n] {
			t.Errorf("%s not selected", n)
		}
	}
	if len(sel) != 5 {
		t.Errorf("selected %d stages, want 5: %v", len(sel), sel)
	}
	if _, err := s.Select([]string{"evolve/nope"}); err == nil || !strings.Contains(err.Error(), `--only: pattern "evolve/nope" matches no stage`) {
		t.Errorf("unknown pattern: %v", err)
	}

	st, _ := s.OpenStore()
	p, err := s.Plan(st, PlanFlags{Only: only})
	if err != nil {
		t.Fatal(err)
	}
	if h := Headline("tiny", p); h != "experiment tiny: 12 stages: 0 cached, 5 to run, 7 unselected (--only: 5 of 12 stages selected)" {
		t.Errorf("headline %q", h)
	}
	var out bytes.Buffer
	if err := WritePlan(&out, "tiny", p, 2, false); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "unselected  ") || !strings.Contains(out.String(), "(7 unselected stages not shown; --all shows them)") {
		t.Errorf("plan:\n%s", out.String())
	}
	out.Reset()
	if err := WritePlan(&out, "tiny", p, 2, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "unselected  evolve/ccea-w2-s2") || !strings.Contains(out.String(), "not selected by --only; would run: not in the store (new stage)") {
		t.Errorf("plan --all:\n%s", out.String())
	}
	var m bytes.Buffer
	Mermaid(&m, s.Graph, map[string]pipeline.Status{"report": pipeline.StatusUnselected})
	if !strings.Contains(m.String(), "classDef unselected") || !strings.Contains(m.String(), " unselected\n") {
		t.Errorf("mermaid does not colour unselected stages:\n%s", m.String())
	}

	_, _, sum := runWith(t, file, loc, reg, PlanFlags{Only: only})
	if sum.Outcome != "ok" || len(rec.Names()) != 5 {
		t.Fatalf("run: %s, ran %v", sum.Outcome, rec.Names())
	}
	out.Reset()
	WriteSummary(&out, sum)
	for _, want := range []string{"ok in ", "5 done, 0 cached, 0 failed, 0 skipped, 0 blocked, 0 cancelled, 7 unselected",
		"--only: 5 of 12 stages selected; 7 stages outside it are not in the store and not run"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	state, err := pipeline.ReadState(s.ResultsDir())
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := WriteState(&out, s.ResultsDir(), state, false, false, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{": ok\n", "5 done, 7 unselected", "(patterns: evolve/ccea-w2-s1)", "(7 unselected stages not shown"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}

	// Again: nothing to do, and the summary still says what is left out.
	rec.Reset()
	_, _, sum = runWith(t, file, loc, reg, PlanFlags{Only: only})
	out.Reset()
	WriteSummary(&out, sum)
	if !sum.NothingToDo || !strings.HasPrefix(out.String(), "nothing to do: every selected stage is cached") || !strings.Contains(out.String(), "--only: 5 of 12") {
		t.Errorf("second run: %s", out.String())
	}
}

// A fault in a stage outside the selection does not stop a run with --only.
func TestCheckCoversTheSelection(t *testing.T) {
	reg := &pipeline.Registry{}
	for _, k := range []string{"dataset", "pretrain", "quantize", "evolve", "evaluate"} { // no report kind
		reg.MustRegister(testkinds.Touch{KindName: k})
	}
	s, err := Load(writeExp(t, t.TempDir(), exp), Locations{}, reg)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Check(context.Background(), nil); r.OK() || !strings.Contains(r.Errors[0], `"report" is not built into this ccq`) {
		t.Fatalf("whole file: %v", r.Errors)
	}
	sel, err := s.Select([]string{"quantize/*"})
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Check(context.Background(), sel); !r.OK() {
		t.Fatalf("selection without the report: %v", r.Errors)
	}
}
