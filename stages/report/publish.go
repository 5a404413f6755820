package report

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/ccq-project/ccq/internal/version"
	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/results"
	resreport "github.com/ccq-project/ccq/results/report"
)

// PublishOptions say what to publish where.
type PublishOptions struct {
	// ResultsDir is runs/<experiment>/.
	ResultsDir string
	// Run is the finished (or interrupted) run's summary.
	Run *pipeline.Summary
	// ExperimentFile and ExperimentSHA256 identify the experiment.
	ExperimentFile, ExperimentSHA256 string
	// ExperimentCommit and ExperimentModified are the git state of the
	// experiment file's work tree (empty outside one).
	ExperimentCommit   string
	ExperimentModified bool
	// CCQ is the running ccq's version and commit; zero means version.Get().
	CCQ version.Info
	// Command is the command line that ran the experiment.
	Command []string
	// Executor is "local" or "slurm".
	Executor string
	// Report are the experiment's [report] options.
	Report Params
}

// Publish makes runs/<experiment>/ the experiment's complete, current
// result: runs.parquet gathered from every finished evaluate stage,
// generations/<run id>/ copied from every finished evolve stage,
// stages.parquet and provenance.json for this run, and the report built over
// them (marked partial when the run did not finish or --only left stages
// not in the store out). It works on whatever
// finished, so an interrupted or failing run still leaves a usable report.
func Publish(ctx context.Context, o PublishOptions) (resreport.Summary, error) {
	var sources []Source
	var stages []results.StageRow
	hits, ran, failed := 0, 0, 0
	for _, st := range o.Run.Stages {
		finished := st.Status == pipeline.StatusDone || st.Status == pipeline.StatusCached
		if finished && st.Entry != "" && (st.Kind == "evaluate" || st.Kind == "evolve") {
			sources = append(sources, Source{Stage: st.Name, Kind: st.Kind, Dir: st.Entry})
		}
		switch st.Status {
		case pipeline.StatusCached:
			hits++
		case pipeline.StatusDone:
			ran++
		case pipeline.StatusFailed:
			failed++
		}
		stages = append(stages, stageRow(st))
	}
	if err := Gather(sources, o.ResultsDir); err != nil {
		return resreport.Summary{}, err
	}
	if err := results.WriteStages(filepath.Join(o.ResultsDir, results.StagesFile), stages); err != nil {
		return resreport.Summary{}, fmt.Errorf("publishing stages: %w", err)
	}
	vi := o.CCQ
	if vi.Version == "" {
		vi = version.Get()
	}
	status := "ok"
	if o.Run.Outcome != "ok" {
		status = "failed"
	}
	ended := time.Now()
	prov := results.Provenance{
		Experiment: o.Run.Experiment, ExperimentFile: o.ExperimentFile, ExperimentSHA256: o.ExperimentSHA256,
		ExperimentCommit: o.ExperimentCommit, ExperimentModified: o.ExperimentModified,
		CCQVersion: vi.Version, CCQCommit: vi.Commit, CCQModified: vi.Modified, CCQCommitFrom: vi.CommitFrom, GoVersion: vi.GoVersion,
		Command: o.Command, Machine: results.CurrentMachine(), Executor: o.Executor,
		Started: ended.Add(-o.Run.Elapsed), Ended: ended, WallTime: o.Run.Elapsed.Seconds(), Status: status,
		Stages: len(o.Run.Stages), CacheHits: hits, StagesRun: ran, StageFailed: failed,
		Only: o.Run.Only, StagesSelected: o.Run.Selected,
	}
	if err := results.WriteProvenance(filepath.Join(o.ResultsDir, results.ProvenanceFile), prov); err != nil {
		return resreport.Summary{}, fmt.Errorf("publishing provenance: %w", err)
	}
	sum, err := resreport.Build(ctx, o.ResultsDir, resreport.Options{
		Reference: o.Report.Reference, Alpha: o.Report.Alpha, Pairs: TablePairs(o.Report), NoPNG: o.Report.NoPNG, Partial: o.Run.Outcome != "ok",
	})
	if err != nil {
		return sum, fmt.Errorf("building the report: %w", err)
	}
	return sum, nil
}

// stageRow turns a stage's run state into a row of stages.parquet.
func stageRow(st *pipeline.StageState) results.StageRow {
	r := results.StageRow{
		Name: st.Name, Kind: st.Kind, Key: st.Key, Status: string(st.Status), Cached: st.Status == pipeline.StatusCached,
		WallTime: st.Seconds, Started: st.Started, Threads: int32(st.Threads),
	}
	if !st.Finished.IsZero() {
		f := st.Finished
		r.Ended = &f
	}
	if st.BuiltSeconds > 0 { // set by the run for done and cached stages only
		r.BuildWallTime = results.Float64(st.BuiltSeconds)
	}
	if st.Error != "" {
		r.Error = results.String(st.Error)
	} else if st.Reason != "" && st.Status != pipeline.StatusDone && st.Status != pipeline.StatusCached {
		r.Error = results.String(st.Reason)
	}
	return r
}
