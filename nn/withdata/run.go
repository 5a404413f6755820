package withdata

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/internal/atomicfile"
	"github.com/ccq-project/ccq/nn"
)

// RunOptions describe a complete training run on a dataset (see TrainRun).
type RunOptions struct {
	Arch    string         // mlp, lenet5 or resnet20
	Config  nn.TrainConfig // the recipe; Config.Seed also seeds the initial weights
	Threads int            // goroutines (GOMAXPROCS when 0)
	// Init, when set, is the starting model (for example imported from
	// PyTorch); it must fit the dataset's shape and classes. Otherwise the
	// model is freshly initialised from Config.Seed.
	Init *nn.Model
	// Out, when set, is where the model is written (safetensors), each time
	// the validation accuracy improves; the log goes to Out + ".log.json"
	// after every epoch and at the end.
	Out string
	// TrainLimit, when positive, trains on the first TrainLimit training
	// examples only (quick tests).
	TrainLimit int
	// Progress receives the trainer's progress reports.
	Progress func(nn.Progress)
	// Resume and OnCheckpoint are the trainer's (nn.Trainer): a state to
	// continue from, and a function receiving the state after every epoch.
	// When resuming with Out set, the restored best model is written to
	// Out again before training goes on.
	Resume       *nn.TrainState
	OnCheckpoint func(*nn.TrainState) error
}

// RunLog is the JSON training log TrainRun writes: the trainer's log plus
// what was trained on what, and the final test result.
type RunLog struct {
	Model   string `json:"model"`
	Dataset string `json:"dataset"`
	Out     string `json:"out,omitempty"`
	*nn.TrainLog
	Test *nn.EvalResult `json:"test,omitempty"`
}

// TrainRun trains a model on dataset d (training split; validation split
// for model selection), evaluates the best model on the test split, and,
// when o.Out is set, writes the model and the log. On cancellation it
// returns what it has (the best model so far is already on disk) with the
// context's error.
func TrainRun(ctx context.Context, d *datasets.Dataset, o RunOptions) (*nn.Model, *RunLog, error) {
	shape := Shape(d)
	g, err := nn.BuildGraph(o.Arch, shape, len(d.Classes))
	if err != nil {
		return nil, nil, err
	}
	m := o.Init
	if m != nil {
		mg := m.Graph()
		if mg.Arch != g.Arch || mg.Input != g.Input || mg.Classes != g.Classes {
			return nil, nil, fmt.Errorf("initial model is a %s for %v inputs and %d classes; %s needs a %s for %v and %d",
				mg.Arch, mg.Input, mg.Classes, d.Name, g.Arch, g.Input, g.Classes)
		}
	} else if m, err = nn.NewModel(g, o.Config.Seed); err != nil {
		return nil, nil, err
	}
	if o.Threads > 0 {
		m.SetThreads(o.Threads)
	}
	var train nn.Source = SplitSource{d, &d.Train}
	if o.TrainLimit > 0 {
		train = nn.Subset{Src: train, N: o.TrainLimit}
	}
	var val nn.Source
	if d.Val.N > 0 {
		val = SplitSource{d, &d.Val}
	}
	rl := &RunLog{Model: o.Arch, Dataset: d.Name, Out: o.Out}
	meta := Metadata(d)
	logPath := o.Out + ".log.json"
	tr := &nn.Trainer{Model: m, Config: o.Config, Progress: o.Progress, Resume: o.Resume, OnCheckpoint: o.OnCheckpoint}
	if o.Out != "" {
		if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
			return nil, nil, fmt.Errorf("train: %w", err)
		}
		tr.OnBest = func(m *nn.Model, e nn.EpochLog) error {
			md := maps.Clone(meta)
			md["ccq.epoch"] = strconv.Itoa(e.Epoch)
			md["ccq.val_acc"] = strconv.FormatFloat(e.ValAcc, 'g', 6, 64)
			md["ccq.seed"] = strconv.FormatUint(o.Config.Seed, 10)
			return m.Save(o.Out, md)
		}
		tr.OnEpoch = func(l *nn.TrainLog) {
			rl.TrainLog = l
			_ = writeJSONAtomic(logPath, rl) // best effort mid-run; the final write reports errors
		}
	}
	log, terr := tr.Train(ctx, train, val)
	rl.TrainLog = log
	if terr == nil {
		res, err := nn.Evaluate(ctx, m, SplitSource{d, &d.Test}, 0)
		if err != nil {
			terr = err
		} else {
			rl.Test = &res
		}
	}
	if o.Out != "" && rl.TrainLog != nil {
		if err := writeJSONAtomic(logPath, rl); err != nil && terr == nil {
			terr = err
		}
	}
	return m, rl, terr
}

// writeJSONAtomic writes v as indented JSON to path (package atomicfile).
func writeJSONAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return atomicfile.Write(path, append(b, '\n'))
}
