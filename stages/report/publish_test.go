package report

import (
	"context"
	"path/filepath"
	"slices"
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
