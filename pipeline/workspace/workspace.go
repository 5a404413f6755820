// Package workspace connects the ccq commands to the pipeline: where the
// results and the store live (flags, environment, defaults), how an
// experiment file becomes a graph and a plan, and how plans, runs and
// states are printed.
//
// Locations, in order of precedence:
//
//	results root  --results DIR, $CCQ_RESULTS, else ./runs
//	store         --store DIR, $CCQ_STORE, else <results root>/.store
//	dataset cache --data-dir DIR, $CCQ_DATA, else <user cache dir>/ccq
//
// The store defaults to a hidden folder inside the results root, so every
// experiment run from the same folder shares it, it is git-ignored with the
// results, and on a cluster the shared results folder carries it along.
// An experiment's results go to <results root>/<experiment name>/.
package workspace

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/experiment"
	"github.com/ccq-project/ccq/pipeline/store"
)

// DefaultResultsRoot is the results root when neither --results nor
// $CCQ_RESULTS names one: a folder of run outputs, apart from the source
// tree's packages (results/ is the Go package of the tables' schemas).
const DefaultResultsRoot = "runs"

// Locations are the folders a command works with.
type Locations struct {
	ResultsRoot string `json:"results_root"`
	Store       string `json:"store"`
	DataDir     string `json:"data_dir"`
}

// Resolve applies flags, then environment variables, then defaults.
func Resolve(resultsFlag, storeFlag, dataDirFlag string) Locations {
	l := Locations{ResultsRoot: first(resultsFlag, os.Getenv("CCQ_RESULTS"), DefaultResultsRoot)}
	l.Store = first(storeFlag, os.Getenv("CCQ_STORE"), filepath.Join(l.ResultsRoot, ".store"))
	cache, err := os.UserCacheDir()
	def := ""
	if err == nil {
		def = filepath.Join(cache, "ccq")
	}
	l.DataDir = first(dataDirFlag, os.Getenv("CCQ_DATA"), def)
	return l
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// Session is an experiment loaded and expanded, with its folders.
type Session struct {
	Exp      *experiment.Experiment
	Graph    *pipeline.Graph
	Loc      Locations
	Registry *pipeline.Registry
}

// Load reads, checks and expands an experiment file, after applying the
// --set overrides sets (KEY=VALUE; see experiment.LoadWithOverrides).
func Load(file string, loc Locations, reg *pipeline.Registry, sets ...string) (*Session, error) {
	if reg == nil {
		reg = pipeline.DefaultRegistry
	}
	x, err := experiment.LoadWithOverrides(file, sets)
	if err != nil {
		return nil, err
	}
	specs, err := x.Expand()
	if err != nil {
		return nil, err
	}
	g, err := pipeline.NewGraph(specs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &Session{Exp: x, Graph: g, Loc: loc, Registry: reg}, nil
}

// ResultsDir is the experiment's results folder.
func (s *Session) ResultsDir() string { return filepath.Join(s.Loc.ResultsRoot, s.Exp.Name) }

// OpenStore opens (creating) the store.
func (s *Session) OpenStore() (*store.Store, error) { return store.Open(s.Loc.Store) }

// History reads the results folder's key history without creating the folder.
func (s *Session) History() *pipeline.History {
	r := &pipeline.Results{Dir: s.ResultsDir()}
	return r.History()
}

// Check finds, without a store and without running anything, every fault
// that would stop a stage of the experiment from running (see
// pipeline.Check): `ccq validate` reports them and `ccq run` refuses to
// start while there are any. selected, when not nil, limits the check to
// those stages (see Select): `ccq run --only` is not refused for a fault
// in a stage it will not run.
func (s *Session) Check(ctx context.Context, selected map[string]bool) pipeline.CheckResult {
	return pipeline.Check(ctx, s.Graph, pipeline.CheckOptions{Registry: s.Registry, BaseDir: filepath.Dir(s.Exp.File), Only: selected})
}

// scorers are the kinds of the stages that score a model: --only selects
// them along with the model they score.
var scorers = []string{experiment.KindEvaluate}

// Select returns the stages --only patterns select (see
// pipeline.Graph.Select; the evaluate stage of a matched stage comes
// along), or nil when there are no patterns.
func (s *Session) Select(only []string) (map[string]bool, error) {
	if len(only) == 0 {
		return nil, nil
	}
	sel, err := s.Graph.Select(only, scorers)
	if err != nil {
		return nil, fmt.Errorf("--only: %w", err)
	}
	return sel, nil
}

// PlanFlags are the command-line choices that shape a plan.
type PlanFlags struct {
	// Rerun are the --rerun patterns, Force is --force.
	Rerun []string
	Force bool
	// Verify is --verify: re-hash every file of the cached entries.
	Verify bool
	// Only are the --only patterns (see pipeline.PlanOptions.Only).
	Only []string
	// Threads sizes each stage as the executor will (see
	// pipeline.PlanOptions.Threads); nil keeps the kinds' thread counts.
	Threads func(kindThreads int) int
}

// Plan resolves the graph against the store.
func (s *Session) Plan(st *store.Store, f PlanFlags) (*pipeline.Plan, error) {
	return pipeline.MakePlan(s.Graph, pipeline.PlanOptions{Registry: s.Registry, Store: st, History: s.History(),
		Rerun: f.Rerun, Force: f.Force, Verify: f.Verify, Only: f.Only, Scorers: scorers, BaseDir: filepath.Dir(s.Exp.File), Threads: f.Threads})
}

// Settings are the run-wide settings for stages.
func (s *Session) Settings() pipeline.Settings {
	abs, _ := filepath.Abs(filepath.Dir(s.Exp.File))
	return pipeline.Settings{Experiment: s.Exp.Name, DataDir: s.Loc.DataDir, BaseDir: abs}
}
