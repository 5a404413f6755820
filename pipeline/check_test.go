package pipeline_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/testkinds"
)

// TestCheckFindsWhatBlocksAPlan: Check, which needs no store, reports every
// fault that blocks a stage at planning, with the plan's own message, the
// experiment's file and line, and the stages concerned; a fault shared by
// stages is reported once, and a stage whose input has a fault is checked
// too.
func TestCheckFindsWhatBlocksAPlan(t *testing.T) {
	e := newEnv(t, testkinds.Touch{}, testkinds.Steps{})
	dir := t.TempDir()
	for name, mode := range map[string]os.FileMode{"prog": 0o755, "data.bin": 0o644} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), mode); err != nil {
			t.Fatal(err)
		}
	}
	file := func(path, pin string, exe bool) map[string]pipeline.FileSpec {
		return map[string]pipeline.FileSpec{"plugin": {Path: path, SHA256: pin, Executable: exe}}
	}
	at := map[string]string{"": "x.toml:1", "files.plugin": "x.toml:2", "files.plugin.sha256": "x.toml:3", "steps": "x.toml:4"}
	specs := []pipeline.Spec{
		spec("ok", "touch", nil, nil),
		{Name: "prog", Kind: "touch", Files: file("prog", "", true), Origin: at},
		{Name: "unknown", Kind: "evolve", Origin: at},
		{Name: "bad-1", Kind: "steps", Params: pipeline.MustParams(map[string]any{"steps": 0}), Origin: at},
		{Name: "bad-2", Kind: "steps", Params: pipeline.MustParams(map[string]any{"steps": 0}), Origin: at, Inputs: map[string]string{"in": "unknown"}},
		{Name: "missing", Kind: "touch", Files: file("absent", "", true), Origin: at},
		{Name: "not-a-program", Kind: "touch", Files: file("data.bin", "", true), Origin: at},
		{Name: "pinned", Kind: "touch", Files: file("prog", strings.Repeat("0", 64), true), Origin: at},
		{Name: "after", Kind: "touch", Files: file("absent", "", false), Origin: at, Inputs: map[string]string{"in": "pinned"}},
	}
	g, err := pipeline.NewGraph(specs)
	if err != nil {
		t.Fatal(err)
	}
	got := pipeline.Check(context.Background(), g, pipeline.CheckOptions{Registry: e.reg, BaseDir: dir})
	want := []string{
		`x.toml:1: stage kind "evolve" is not built into this ccq (stage unknown)`,
		`x.toml:4: param steps: must be at least 1 (stages bad-1 and bad-2)`,
		`x.toml:2: file plugin: ` + filepath.Join(dir, "absent") + ` does not exist (stages missing and after)`,
		`x.toml:2: file plugin: ` + filepath.Join(dir, "data.bin") + ` is not executable (stage not-a-program)`,
		`x.toml:3: file plugin (` + filepath.Join(dir, "prog") + `) has SHA-256 `,
	}
	if got.OK() || len(got.Errors) != len(want) {
		t.Fatalf("Check found %d faults, want %d:\n%s", len(got.Errors), len(want), strings.Join(got.Errors, "\n"))
	}
	for i, w := range want {
		if !strings.HasPrefix(got.Errors[i], w) {
			t.Errorf("fault %d:\n got %s\nwant %s...", i, got.Errors[i], w)
		}
	}
	if !strings.HasSuffix(got.Errors[4], "the experiment pins "+strings.Repeat("0", 64)+" (stage pinned)") {
		t.Errorf("pin fault: %s", got.Errors[4])
	}

	// The plan blocks the same stages (those with a blocked input as
	// such), each with the message Check gives.
	p := e.plan(specs, func(o *pipeline.PlanOptions) { o.BaseDir = dir })
	blocked := map[string]string{}
	for _, sp := range p.Stages {
		if sp.Status == pipeline.StatusBlocked {
			blocked[sp.Name] = sp.Reason
		}
	}
	wantBlocked := map[string]int{"unknown": 0, "bad-1": 1, "missing": 2, "not-a-program": 3, "pinned": 4}
	for name, i := range wantBlocked {
		if r := blocked[name]; r == "" || !strings.HasPrefix(got.Errors[i], r+" (") {
			t.Errorf("plan blocks %s with %q, Check says %q", name, r, got.Errors[i])
		}
	}
	for _, name := range []string{"bad-2", "after"} {
		if !strings.Contains(blocked[name], "is blocked") {
			t.Errorf("plan: %s: %q, want blocked by its input", name, blocked[name])
		}
	}
	if len(blocked) != len(wantBlocked)+2 {
		t.Errorf("plan blocks %v", blocked)
	}

	// Without faults: OK, and nothing to report.
	good, err := pipeline.NewGraph(specs[:2])
	if err != nil {
		t.Fatal(err)
	}
	if r := pipeline.Check(context.Background(), good, pipeline.CheckOptions{Registry: e.reg, BaseDir: dir}); !r.OK() || !reflect.DeepEqual(r, pipeline.CheckResult{}) {
		t.Errorf("a good graph: %+v", r)
	}
}

// probed is a kind that asks something outside (Prober): it records the
// files it was given and refuses the parameter "bad".
type probed struct {
	testkinds.Touch
	calls *[]map[string]string
}

func (k probed) Name() string { return "probed" }

func (k probed) Probe(_ context.Context, p pipeline.Params, files map[string]string) error {
	*k.calls = append(*k.calls, files)
	if _, ok := p.Map()["bad"]; ok {
		return &pipeline.ParamError{Key: "bad", Msg: "refused by the outside:\n  | its last words"}
	}
	return nil
}

// TestCheckProbesWithAbsolutePaths: Check asks Prober kinds (planning
// does not) with the stage's files as absolute paths, also when the
// experiment's folder is given relative to the working folder, and reports
// their parameter errors with the experiment's line.
func TestCheckProbesWithAbsolutePaths(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "prog"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	var calls []map[string]string
	e := newEnv(t, probed{calls: &calls})
	files := map[string]pipeline.FileSpec{"plugin": {Path: "prog", Executable: true}}
	specs := []pipeline.Spec{
		{Name: "good", Kind: "probed", Files: files},
		{Name: "bad", Kind: "probed", Files: files, Params: pipeline.MustParams(map[string]any{"bad": 1}), Origin: map[string]string{"bad": "x.toml:9"}},
	}
	g, err := pipeline.NewGraph(specs)
	if err != nil {
		t.Fatal(err)
	}
	r := pipeline.Check(context.Background(), g, pipeline.CheckOptions{Registry: e.reg, BaseDir: "."})
	if want := []string{"x.toml:9: param bad: refused by the outside: (stage bad)\n  | its last words"}; !reflect.DeepEqual(r.Errors, want) {
		t.Errorf("Check: %q, want %q", r.Errors, want)
	}
	prog := filepath.Join(dir, "prog")
	if len(calls) != 2 || calls[0]["plugin"] != prog || calls[1]["plugin"] != prog {
		t.Errorf("Probe calls %v, want two with plugin=%s", calls, prog)
	}
	calls = nil
	p := e.plan(specs, func(o *pipeline.PlanOptions) { o.BaseDir = "." })
	if len(calls) != 0 {
		t.Errorf("planning probed %d times", len(calls))
	}
	if f := p.Stage("good").Files["plugin"]; f.Path != prog {
		t.Errorf("planned file path %q, want %q", f.Path, prog)
	}
}
