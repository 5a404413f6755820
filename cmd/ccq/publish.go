package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ccq-project/ccq/internal/digest"
	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/workspace"
	"github.com/ccq-project/ccq/results"
	resreport "github.com/ccq-project/ccq/results/report"
	stagereport "github.com/ccq-project/ccq/stages/report"
)

// publishRun turns a run's store entries into runs/<experiment>/
// (runs.parquet, generations/, stages.parquet, provenance.json, the report)
// and prints the main table and the report's path. An unchanged experiment
// whose report exists is not rebuilt (unless this run or the published one
// left stages out with --only); its table is printed from runs.parquet.
// src is where the experiment and ccq came from, taken when the run started.
func publishRun(ctx context.Context, w io.Writer, s *workspace.Session, sum *pipeline.Summary, executor string, src sourceState) error {
	rp, perr := s.Exp.ReportParams()
	if perr != nil {
		return perr
	}
	dir := s.ResultsDir()
	reportPath := filepath.Join(dir, results.ReportMarkdown)
	var tables []resreport.Table
	reuse := sum.NothingToDo && sum.Counts[pipeline.StatusUnselected] == 0 && !publishedUnselected(dir)
	if _, err := os.Stat(reportPath); err == nil && reuse {
		runs, err := results.ReadRuns(filepath.Join(dir, results.RunsFile))
		if err != nil {
			return err
		}
		tables = resreport.MainTables(runs, resreport.TableOptions{Reference: rp.Reference, Alpha: rp.Alpha, Pairs: stagereport.TablePairs(rp)})
	} else {
		rs, err := stagereport.Publish(ctx, stagereport.PublishOptions{
			ResultsDir: dir, Run: sum, ExperimentFile: s.Exp.File, ExperimentSHA256: digest.Bytes(s.Exp.Source),
			ExperimentCommit: src.Experiment.Commit, ExperimentModified: src.Experiment.Modified, CCQ: src.CCQ,
			Command: typedCommand(os.Args), Executor: executor, Report: rp,
		})
		if err != nil {
			return err
		}
		tables = rs.MainTables
	}
	if len(tables) > 0 {
		fmt.Fprintln(w)
		if err := resreport.MainTableText(w, tables); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\nreport: %s\n        %s\n", reportPath, filepath.Join(dir, results.ReportHTML))
	return nil
}

// publishedUnselected reports whether the stages.parquet published in dir
// has stages --only left out: its report lacks their rows even when every
// stage is now in the store.
func publishedUnselected(dir string) bool {
	rows, err := results.ReadStages(filepath.Join(dir, results.StagesFile))
	if err != nil {
		return false
	}
	for _, r := range rows {
		if r.Status == results.StatusUnselected {
			return true
		}
	}
	return false
}
