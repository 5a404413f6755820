package report

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/internal/version"
	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/results"
)

// Publish records where the experiment and ccq came from in provenance.json.
func TestPublishRecordsSources(t *testing.T) {
	dir := t.TempDir()
	cmd := []string{"ccq", "run", "experiments/x.toml"}
	_, err := Publish(context.Background(), PublishOptions{
		ResultsDir: dir, Run: &pipeline.Summary{Experiment: "x", Outcome: "ok"},
		ExperimentFile: "experiments/x.toml", ExperimentSHA256: "00ff",
		ExperimentCommit: "0123456789abcdef0123456789abcdef01234567", ExperimentModified: true,
		CCQ:     version.Info{Version: "9.9.9", Commit: "fedcba9876543210fedcba9876543210fedcba98", Modified: true, CommitFrom: version.FromGit},
		Command: cmd, Executor: "local",
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := results.ReadProvenance(filepath.Join(dir, results.ProvenanceFile))
	if err != nil {
		t.Fatal(err)
	}
	if p.ExperimentCommit != "0123456789abcdef0123456789abcdef01234567" || !p.ExperimentModified {
		t.Errorf("experiment commit %q modified %v", p.ExperimentCommit, p.ExperimentModified)
	}
	if p.CCQVersion != "9.9.9" || p.CCQCommit != "fedcba9876543210fedcba9876543210fedcba98" || !p.CCQModified || p.CCQCommitFrom != version.FromGit {
		t.Errorf("ccq %q commit %q modified %v from %q", p.CCQVersion, p.CCQCommit, p.CCQModified, p.CCQCommitFrom)
	}
	if !slices.Equal(p.Command, cmd) {
		t.Errorf("command %q, want %q", p.Command, cmd)
	}
}

// A run that --only left stages out of is ok, but its report is partial and
// says so; stages outside the selection that are cached are results.
func TestPublishMarksAnOnlyRunPartial(t *testing.T) {
	stage := func(name string, st pipeline.Status) *pipeline.StageState {
		return &pipeline.StageState{Name: name, Kind: "quantize", Key: "k-" + name, Status: st}
	}
	publish := func(stages ...*pipeline.StageState) (string, []string) {
		t.Helper()
		dir := t.TempDir()
		sum, err := Publish(context.Background(), PublishOptions{ResultsDir: dir, Executor: "local",
			Run: &pipeline.Summary{Experiment: "x", Outcome: "ok", Only: []string{"quantize/a*"}, Selected: 1, Stages: stages}})
		if err != nil {
			t.Fatal(err)
		}
		return dir, sum.PartialReasons
	}
	dir, reasons := publish(stage("quantize/a", pipeline.StatusDone), stage("quantize/b", pipeline.StatusCached),
		stage("quantize/c", pipeline.StatusUnselected))
	const want = "--only: 1 of 3 stages selected (quantize/a*); 1 stages outside the selection are not in the store and did not run"
	if !slices.ContainsFunc(reasons, func(r string) bool { return strings.HasPrefix(r, want) }) {
		t.Fatalf("partial reasons %q lack %q", reasons, want)
	}
	md, err := os.ReadFile(filepath.Join(dir, results.ReportMarkdown))
	if err != nil || !strings.Contains(string(md), want) {
		t.Errorf("report.md does not give the reason (%v)", err)
	}
	p, err := results.ReadProvenance(filepath.Join(dir, results.ProvenanceFile))
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != "ok" || !slices.Equal(p.Only, []string{"quantize/a*"}) || p.StagesSelected != 1 {
		t.Errorf("provenance: status %s only %q selected %d", p.Status, p.Only, p.StagesSelected)
	}
	rows, err := results.ReadStages(filepath.Join(dir, results.StagesFile))
	if err != nil || len(rows) != 3 || rows[2].Status != results.StatusUnselected {
		t.Fatalf("stages.parquet: %v %+v", err, rows)
	}

	// Every stage outside the selection is in the store: complete.
	_, reasons = publish(stage("quantize/a", pipeline.StatusDone), stage("quantize/b", pipeline.StatusCached))
	if slices.ContainsFunc(reasons, func(r string) bool { return strings.Contains(r, "--only") }) {
		t.Errorf("partial reasons %q: the stages outside the selection are cached", reasons)
	}
}

// stages.parquet records the time each stage's result took to build, as
// its store entry says, for done and cached stages; the report sums the
// results' times (a shared entry once) and says how many are unknown.
func TestPublishRecordsBuildTimes(t *testing.T) {
	dir := t.TempDir()
	stages := []*pipeline.StageState{
		{Name: "quantize/a", Kind: "quantize", Key: "ka", Status: pipeline.StatusDone, Seconds: 12, BuiltSeconds: 11},
		{Name: "quantize/b", Kind: "quantize", Key: "kb", Status: pipeline.StatusCached, BuiltSeconds: 30},
		{Name: "quantize/b2", Kind: "quantize", Key: "kb", Status: pipeline.StatusCached, BuiltSeconds: 30},
		{Name: "evolve/c", Kind: "evolve", Key: "kc", Status: pipeline.StatusCached},
		{Name: "evolve/d", Kind: "evolve", Key: "kd", Status: pipeline.StatusSkipped},
		{Name: "evaluate/e", Kind: "evaluate", Key: "ke", Status: pipeline.StatusDone, Seconds: 5},
	}
	if _, err := Publish(context.Background(), PublishOptions{ResultsDir: dir, Executor: "local",
		Run: &pipeline.Summary{Experiment: "x", Outcome: "ok", Stages: stages}}); err != nil {
		t.Fatal(err)
	}
	rows, err := results.ReadStages(filepath.Join(dir, results.StagesFile))
	if err != nil || len(rows) != len(stages) {
		t.Fatalf("stages.parquet: %v %+v", err, rows)
	}
	want := []float64{11, 30, 30, -1, -1, -1}
	for i, r := range rows {
		got := -1.0
		if r.BuildWallTime != nil {
			got = *r.BuildWallTime
		}
		if got != want[i] {
			t.Errorf("%s: build wall time %v, want %v (-1: none)", r.Name, got, want[i])
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, results.ReportMarkdown))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"41.0 s to build every stage's result, cached ones included (2 results without a recorded time)",
		"| quantize | 3 | 2 | 0 | 12.0 s | 41.0 s |", "| evolve | 2 | 1 | 0 | 0.0 s | ? |", "| evaluate | 1 | 0 | 0 | 5.0 s | ? |"} {
		if !strings.Contains(string(md), s) {
			t.Errorf("report.md lacks %q", s)
		}
	}
}
