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
// start while there are any.
func (s *Session) Check(ctx context.Context) pipeline.CheckResult {
	return pipeline.Check(ctx, s.Graph, pipeline.CheckOptions{Registry: s.Registry, BaseDir: filepath.Dir(s.Exp.File)})
}

// Plan resolves the graph against the store.
func (s *Session) Plan(st *store.Store, rerun []string, force, verify bool) (*pipeline.Plan, error) {
	return pipeline.MakePlan(s.Graph, pipeline.PlanOptions{Registry: s.Registry, Store: st, History: s.History(),
		Rerun: rerun, Force: force, Verify: verify, BaseDir: filepath.Dir(s.Exp.File)})
}

// Settings are the run-wide settings for stages.
func (s *Session) Settings() pipeline.Settings {
	abs, _ := filepath.Abs(filepath.Dir(s.Exp.File))
	return pipeline.Settings{Experiment: s.Exp.Name, DataDir: s.Loc.DataDir, BaseDir: abs}
}
