// Package dataset is the "dataset" stage kind: it makes sure a dataset's
// files are in the cache (verifying their checksums), decodes them once to
// check them and carve the validation split, and records the dataset's
// summary (counts, normalisation, source, checksums) for later stages.
package dataset

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/stages/stageio"
	"github.com/ccq-project/ccq/stages/stageparams"
)

func init() { pipeline.Register(Kind{}) }

// Params are the dataset stage's parameters (see stageparams.Dataset).
type Params = stageparams.Dataset

// Validate checks p and that it names a dataset package datasets knows.
func Validate(p *Params) error {
	if err := p.Validate(); err != nil {
		return err
	}
	for _, n := range datasets.Names() {
		if n == p.Name {
			return nil
		}
	}
	return &pipeline.ParamError{Key: "name", Msg: fmt.Sprintf("unknown dataset %q (expected one of %s)", p.Name, strings.Join(datasets.Names(), ", "))}
}

// decode reads and checks the parameters.
func decode(pp pipeline.Params) (Params, error) {
	var p Params
	if err := pp.Decode(&p); err != nil {
		return p, err
	}
	return p, Validate(&p)
}

// Kind is the dataset stage kind.
type Kind struct{}

// Name is "dataset".
func (Kind) Name() string { return "dataset" }

// Version changes when the stage computes something different.
func (Kind) Version() string { return "1" }

// Threads: decoding is single-threaded.
func (Kind) Threads(pipeline.Params) int { return 1 }

// Estimate is a couple of seconds (decoding MNIST-sized data).
func (Kind) Estimate(pipeline.Params) time.Duration { return 2 * time.Second }

// CheckParams validates parameters without running.
func (Kind) CheckParams(p pipeline.Params) error {
	_, err := decode(p)
	return err
}

// Run fetches and decodes the dataset and writes dataset.json.
func (Kind) Run(ctx context.Context, sc *pipeline.StageContext) error {
	p, err := decode(sc.Params)
	if err != nil {
		return err
	}
	rec := stageio.DatasetRecord{Name: p.Name, Source: sc.Hints["source"]}
	rec.ValSize, rec.SplitSeed = p.Split()
	sc.Progress(0, "loading "+p.Name)
	d, err := Load(ctx, p, LoadOptions{Dir: rec.Source, CacheDir: sc.Settings.DataDir, Logger: sc.Log})
	if err != nil {
		return err
	}
	rec.Summary = d.Summary()
	sc.Log.Info("dataset ready", "name", d.Name, "train", d.Train.N, "val", d.Val.N, "test", d.Test.N, "source", d.Source)
	sc.SetMeta("train", d.Train.N)
	sc.SetMeta("val", d.Val.N)
	sc.SetMeta("test", d.Test.N)
	return stageio.WriteJSON(sc.OutDir, stageio.DatasetFile, rec)
}

// LoadOptions say where Load finds a dataset's files, not what it loads.
type LoadOptions struct {
	// Dir is a folder holding the files, tried first.
	Dir string
	// CacheDir is the dataset cache ("": datasets' default).
	CacheDir string
	// Offline never uses the network.
	Offline bool
	Logger  *slog.Logger
}

// Load loads the dataset p names with the validation split p describes:
// the one operation behind the dataset stage and the commands' --dataset,
// --val-size and --split-seed (`ccq train`, `ccq quantize`, `ccq
// evaluate`, `ccq data info`).
func Load(ctx context.Context, p Params, o LoadOptions) (*datasets.Dataset, error) {
	if err := Validate(&p); err != nil {
		return nil, err
	}
	valSize, seed := p.Split()
	return datasets.Load(ctx, p.Name, datasets.Options{Dir: o.Dir, CacheDir: o.CacheDir, ValSize: valSize, SplitSeed: seed,
		Offline: o.Offline, Logger: o.Logger})
}
