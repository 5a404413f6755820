package pipeline_test

import (
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
	got := pipeline.Check(g, pipeline.CheckOptions{Registry: e.reg, BaseDir: dir})
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
	if r := pipeline.Check(good, pipeline.CheckOptions{Registry: e.reg, BaseDir: dir}); !r.OK() || !reflect.DeepEqual(r, pipeline.CheckResult{}) {
		t.Errorf("a good graph: %+v", r)
	}
}
