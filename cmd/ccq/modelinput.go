package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/nn/withdata"
	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/stages/dataset"
	"github.com/spf13/pflag"
)

// splitFlags choose how train, quantize and evaluate load a dataset: the
// same options a dataset stage records, so that a command given the
// experiment's val_size and split_seed sees the stage's splits.
type splitFlags struct {
	offline   bool
	valSize   int
	splitSeed uint64
}

func (f *splitFlags) register(fl *pflag.FlagSet) {
	fl.BoolVar(&f.offline, "offline", false, "never download the dataset")
	fl.IntVar(&f.valSize, "val-size", 0, fmt.Sprintf("validation images carved from the training set (default %d; negative for none)", datasets.DefaultValSize))
	fl.Uint64Var(&f.splitSeed, "split-seed", 0, "seed that carves the validation split (default 1)")
}

// params are the dataset stage's parameters these flags give for the
// named dataset (--val-size 0 is the default size, negative none;
// --split-seed 0 the default seed).
func (f *splitFlags) params(name string) dataset.Params {
	p := dataset.Params{Name: name}
	switch {
	case f.valSize < 0:
		p.ValSize = new(int) // none
	case f.valSize > 0:
		p.ValSize = &f.valSize
	}
	if f.splitSeed != 0 {
		p.SplitSeed = &f.splitSeed
	}
	return p
}

// load loads the named dataset as the dataset stage does.
func (f *splitFlags) load(ctx context.Context, name string) (*datasets.Dataset, error) {
	d, err := dataset.Load(ctx, f.params(name), dataset.LoadOptions{CacheDir: globals.dataDir, Offline: f.offline, Logger: slog.Default()})
	var pe *pipeline.ParamError
	if errors.As(err, &pe) && pe.Key == "name" {
		return nil, fmt.Errorf("--dataset: %s", pe.Msg)
	}
	return d, err
}

// loadFloatModel reads a float model (a ccq file, or a PyTorch state dict
// with arch) and the dataset it is used with (dataset, else the one it
// records), normalised as the model records, if it does.
func loadFloatModel(ctx context.Context, path, arch, dataset string, sf splitFlags) (*nn.Model, *datasets.Dataset, error) {
	var fm *nn.Model
	var md map[string]string
	if arch == "" {
		var err error
		if fm, md, err = nn.Load(path); err != nil {
			return nil, nil, err
		}
		if dataset == "" {
			dataset = md[nn.MetaDataset]
		}
	} else if dataset == "" {
		return nil, nil, fmt.Errorf("--model %s needs --dataset (it gives the input shape)", arch)
	}
	if dataset == "" {
		fm.Close()
		return nil, nil, fmt.Errorf("%s records no dataset: give --dataset (%s)", path, strings.Join(datasets.Names(), ", "))
	}
	d, err := sf.load(ctx, dataset)
	if err == nil && fm == nil {
		fm, md, err = nn.Import(path, arch, withdata.Shape(d))
	}
	if err == nil {
		err = withdata.UseRecordedNormalisation(d, md, path)
	}
	if err != nil {
		if fm != nil {
			fm.Close()
		}
		return nil, nil, err
	}
	return fm, d, nil
}
