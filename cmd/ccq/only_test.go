package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/workspace"
)

// `ccq plan --only` plans the selection (an optimizer this machine lacks,
// outside it, is unselected, not blocked), and `ccq run --only` with a
// pattern matching nothing stops before creating anything.
func TestOnlyFlag(t *testing.T) {
	dir, file := tinyExperiment(t, "only", `[[quantize]]
method = "rtn"
bits = [2, 4]
[[optimizers]]
plugin = "no-such-optimizer"
start = "rtn"
seeds = [1]
budget = { evaluations = 10 }
`)
	results := filepath.Join(dir, "results")
	out, err := runCCQ(t, "plan", file, "--only", "quantize/*", "--json", "--estimates", "reference",
		"--results", results, "--store", filepath.Join(dir, "store"))
	if err != nil {
		t.Fatalf("plan: %v\n%s", err, out)
	}
	var rep workspace.PlanReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// dataset, pretrain, 2 quantize and their 2 evaluate stages; not the
	// evolve runs, their evaluate stages, the float evaluation or the report.
	if rep.Counts[pipeline.StatusToRun] != 6 || rep.Counts[pipeline.StatusUnselected] != 6 || rep.Counts[pipeline.StatusBlocked] != 0 ||
		rep.Selected != 6 || len(rep.Only) != 1 {
		t.Fatalf("counts %v, selected %d, only %q", rep.Counts, rep.Selected, rep.Only)
	}
	for _, s := range rep.Stages {
		if strings.HasPrefix(s.Name, "evolve/") && (s.Status != pipeline.StatusUnselected || !strings.Contains(s.Reason, "would be blocked: ")) {
			t.Errorf("%s: %s %q", s.Name, s.Status, s.Reason)
		}
	}

	// validate --only checks what run --only would check.
	if out, err := runCCQ(t, "validate", file); err == nil || !strings.Contains(out, "no-such-optimizer") {
		t.Errorf("validate of the whole file: %v\n%s", err, out)
	}
	if out, err := runCCQ(t, "validate", file, "--only", "quantize/*"); err != nil || !strings.Contains(out, "ok (6 stages selected by --only)") {
		t.Errorf("validate --only quantize/*: %v\n%s", err, out)
	}
	if out, err := runCCQ(t, "validate", file, "--only", "evolve/*"); err == nil || !strings.Contains(out, "no-such-optimizer") {
		t.Errorf("validate --only evolve/*: %v\n%s", err, out)
	}
	if out, err := runCCQ(t, "validate", file, "--only", "nope"); err == nil || !strings.Contains(out, `--only: pattern "nope" matches no stage`) {
		t.Errorf("validate --only nope: %v\n%s", err, out)
	}

	out, err = runCCQ(t, "run", file, "--only", "quantize/*", "--only", "quantize/nope*", "--results", results, "--progress", "none")
	if err == nil || !strings.Contains(err.Error(), `--only: pattern "quantize/nope*" matches no stage`) {
		t.Fatalf("run with a pattern matching nothing: %v\n%s", err, out)
	}
	if _, err := os.Stat(results); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("run created %s before failing (%v)", results, err)
	}
}
