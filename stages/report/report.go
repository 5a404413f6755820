// Package report is the "report" stage kind: it gathers the runs rows of
// every evaluate stage into runs.parquet, copies the generation parts of every
// evolve stage under generations/<run id>/, and builds the report (report.md,
// report.html, tables, plots) over them in its own entry. `ccq run` then
// publishes the entry into runs/<experiment>/ with the run's provenance
// and stage table (see Publish).
package report

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/results"
	resreport "github.com/ccq-project/ccq/results/report"
	"github.com/ccq-project/ccq/stages/stageio"
	"github.com/ccq-project/ccq/stages/stageparams"
)

func init() { pipeline.Register(Kind{}) }

// Params are the report stage's parameters (see stageparams.Report).
type Params = stageparams.Report

// TablePairs returns p's pairs as the report builder takes them.
func TablePairs(p Params) []resreport.Pair {
	var out []resreport.Pair
	for _, pr := range p.Pairs {
		if len(pr) == 2 {
			out = append(out, resreport.Pair{Method: pr[0], Against: pr[1]})
		}
	}
	return out
}

// Kind is the report stage kind.
type Kind struct{}

// Name is "report".
func (Kind) Name() string { return "report" }

// Version changes when the stage computes something different (2: gap-closed
// tables and sweep plots).
func (Kind) Version() string { return "2" }

// Threads: plots and scans use two threads.
func (Kind) Threads(pipeline.Params) int { return 2 }

// Estimate: a second or two.
func (Kind) Estimate(pipeline.Params) time.Duration { return 2 * time.Second }

// CheckParams validates parameters without running.
func (Kind) CheckParams(pp pipeline.Params) error {
	var p Params
	return pp.Decode(&p)
}

// GenerationsDir is where an evolve stage keeps its generation parts.
const GenerationsDir = results.GenerationsDir

// Run gathers the inputs and builds the report.
func (Kind) Run(ctx context.Context, sc *pipeline.StageContext) error {
	var p Params
	if err := sc.Decode(&p); err != nil {
		return err
	}
	if err := Gather(inputSources(sc.Inputs), sc.OutDir); err != nil {
		return err
	}
	_, err := resreport.Build(ctx, sc.OutDir, resreport.Options{Reference: p.Reference, Alpha: p.Alpha, Pairs: TablePairs(p), NoPNG: p.NoPNG, Logger: sc.Log})
	if err != nil {
		return fmt.Errorf("building the report: %w", err)
	}
	return nil
}

// Source is a finished stage whose outputs a report gathers.
type Source struct {
	Stage string // stage name, for example "evolve/ccea-w4-s1"
	Kind  string // "evaluate" or "evolve"
	Dir   string // its store entry
}

// Gather writes dir/runs.parquet from the evaluate sources' run files and
// copies the evolve sources' generation parts to dir/generations/<run id>/.
func Gather(sources []Source, dir string) error {
	sort.Slice(sources, func(i, j int) bool { return sources[i].Stage < sources[j].Stage })
	var runFiles []string
	for _, src := range sources {
		switch src.Kind {
		case "evaluate":
			runFiles = append(runFiles, filepath.Join(src.Dir, "run.parquet"))
		case "evolve":
			parts := filepath.Join(src.Dir, GenerationsDir)
			if _, err := os.Stat(parts); err != nil {
				continue // an evolve stage that wrote no generations
			}
			dst := filepath.Join(dir, GenerationsDir, stageio.RunID(src.Stage))
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return fmt.Errorf("report: %w", err)
			}
			if err := results.CopyParts(parts, dst); err != nil {
				return fmt.Errorf("report: generations of %s: %w", src.Stage, err)
			}
		}
	}
	if _, err := results.GatherRuns(filepath.Join(dir, results.RunsFile), runFiles); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// inputSources lists a stage's inputs as report sources.
func inputSources(inputs map[string]*pipeline.Input) []Source {
	var out []Source
	for name, in := range inputs {
		out = append(out, Source{Stage: name, Kind: in.Manifest.Kind, Dir: in.Dir})
	}
	return out
}
