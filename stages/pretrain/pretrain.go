// Package pretrain is the "pretrain" stage kind: it trains a float32 model
// (an architecture of nn.Archs) on the dataset input, keeping the best
// validation checkpoint, or imports a user's model (the experiment's
// `from` file, PyTorch state-dict names) and optionally fine-tunes it.
// Output: model.safetensors and train.log.json. After every epoch it
// writes the training state to its checkpoint folder (CheckpointFile); a
// run of the same key continues from there with the next epoch and ends
// with the same model bytes as a run in one go.
package pretrain

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/nn/withdata"
	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/stages/stagecost"
	"github.com/ccq-project/ccq/stages/stageio"
	"github.com/ccq-project/ccq/stages/stageparams"
)

func init() { pipeline.Register(Kind{}) }

// Params are the pretrain stage's parameters (see stageparams.Pretrain):
// the model and the training recipe. `ccq train` builds them from its
// flags and calls Train as the stage does.
type Params = stageparams.Pretrain

// Validate checks p and that it names an architecture of nn.Archs.
func Validate(p *Params) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if !slices.Contains(nn.Archs, p.Model) {
		return &pipeline.ParamError{Key: "model", Msg: fmt.Sprintf("unknown model %q (expected one of %v)", p.Model, nn.Archs)}
	}
	return nil
}

// TrainConfig is the recipe as package nn takes it.
func TrainConfig(p Params) nn.TrainConfig { return nn.TrainConfig(p.Recipe) }

// decode reads and checks the parameters.
func decode(pp pipeline.Params) (Params, error) {
	var p Params
	if err := pp.Decode(&p); err != nil {
		return p, err
	}
	return p, Validate(&p)
}

// Kind is the pretrain stage kind.
type Kind struct{}

// Name is "pretrain".
func (Kind) Name() string { return "pretrain" }

// Version changes when the stage computes something different.
func (Kind) Version() string { return "1" }

// Threads: training uses two threads (the machine size we target); more
// would be wasted on these small models.
func (Kind) Threads(pipeline.Params) int { return 2 }

// EstimateAt implements pipeline.ThreadEstimator with the cost model:
// epochs times the training images times this machine's seconds per
// training image of the architecture on these threads, plus a validation
// pass per epoch.
func (Kind) EstimateAt(pp pipeline.Params, up pipeline.Upstream, threads int) time.Duration {
	p, err := decode(pp)
	if err != nil {
		return 0
	}
	plain := func() time.Duration {
		return pipeline.ScaleEstimate(Kind{}.Estimate(pp), Kind{}.Threads(pp), threads)
	}
	s := stagecost.SettingOf(up)
	if s.Train == 0 {
		return plain()
	}
	cfg, def := TrainConfig(p), nn.DefaultTrainConfig()
	if cfg.Epochs == 0 {
		cfg.Epochs = def.Epochs
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = def.BatchSize
	}
	train := s.Train
	if p.TrainLimit > 0 {
		train = min(train, p.TrainLimit)
	}
	threads = max(1, threads)
	m := stagecost.Default()
	tr, ok1 := m.Duration(stagecost.Work{Op: stagecost.OpTrain, Arch: p.Model, Batch: cfg.BatchSize, Threads: threads},
		float64(cfg.Epochs*train), time.Second)
	ev, ok2 := m.Duration(stagecost.Work{Op: stagecost.OpInfer, Arch: p.Model, Threads: threads},
		float64(cfg.Epochs*s.Val+s.Test), 0)
	if !ok1 || !ok2 {
		return plain()
	}
	return tr + ev
}

// Estimate is the estimate without the cost model: a fixed time per
// epoch of each architecture.
func (Kind) Estimate(pp pipeline.Params) time.Duration {
	p, err := decode(pp)
	if err != nil {
		return 0
	}
	perEpoch := map[string]time.Duration{"mlp": 3 * time.Second, "lenet5": 8 * time.Second, "resnet20": 120 * time.Second}[p.Model]
	epochs := p.Epochs
	if epochs == 0 {
		epochs = nn.DefaultTrainConfig().Epochs
	}
	return time.Duration(epochs) * perEpoch
}

// CheckParams validates parameters without running.
func (Kind) CheckParams(pp pipeline.Params) error {
	_, err := decode(pp)
	return err
}

// Run trains (or imports) the model.
func (Kind) Run(ctx context.Context, sc *pipeline.StageContext) error {
	p, err := decode(sc.Params)
	if err != nil {
		return err
	}
	d, err := stageio.LoadDataset(ctx, sc)
	if err != nil {
		return err
	}
	return run(ctx, sc, p, d)
}

// run is Run on the loaded dataset d.
func run(ctx context.Context, sc *pipeline.StageContext, p Params, d *datasets.Dataset) error {
	out := filepath.Join(sc.OutDir, stageio.ModelFile)
	start := time.Now()
	rec := stageio.ModelRecord{RunID: "float", Kind: "float", Method: "float", Dataset: d.Name, Model: p.Model,
		Bits: 32, ActBits: 32, Seed: int64(p.Seed), UsedFPGradients: true, Parameters: sc.Params.Map()}
	var init *nn.Model
	if from, ok := sc.Files["from"]; ok {
		m, _, err := nn.Import(from, p.Model, withdata.Shape(d))
		if err != nil {
			return fmt.Errorf("importing %s: %w", from, err)
		}
		init = m
		if p.Epochs == 0 {
			sc.Log.Info("imported model without fine-tuning", "from", from)
			if err := m.Save(out, withdata.Metadata(d)); err != nil {
				return err
			}
			rec.UsedFPGradients = false
			return stageio.WriteJSON(sc.OutDir, stageio.ModelRecordFile, rec)
		}
	}
	resumedAt := 0 // the epoch a resumed run continued with (progress messages say so)
	announce := false
	var o Options
	// announceResume logs the resumption once the trainer has accepted the
	// state (at its first report, or at the end when no epoch was left).
	announceResume := func() {
		if announce {
			announce = false
			sc.Log.Info(fmt.Sprintf("resumed at epoch %d", resumedAt), "epochs_done", resumedAt-1,
				"epochs", o.Resume.Log.Config.Epochs, "threads", o.Threads, "stage_threads", sc.Threads)
		}
	}
	o = Options{Init: init, Out: out, Threads: sc.Threads,
		Progress: func(pr nn.Progress) {
			if pr.Epochs == 0 || pr.Batches == 0 {
				return
			}
			announceResume()
			frac := (float64(pr.Epoch-1) + float64(pr.Batch)/float64(pr.Batches)) / float64(pr.Epochs)
			msg := fmt.Sprintf("epoch %d/%d loss %.4f %.0f img/s", pr.Epoch, pr.Epochs, pr.AvgLoss, pr.ImagesPerSec)
			if pr.EpochDone {
				msg = fmt.Sprintf("epoch %d/%d val acc %.2f%%", pr.Epoch, pr.Epochs, 100*pr.ValAcc)
				sc.Log.Info("epoch done", "epoch", pr.Epoch, "loss", pr.AvgLoss, "val_acc", pr.ValAcc, "lr", pr.LR, "best", pr.Best)
			}
			if resumedAt > 0 {
				msg += fmt.Sprintf(" (resumed at epoch %d)", resumedAt)
			}
			sc.Progress(frac, msg)
		},
		OnCheckpoint: func(s *nn.TrainState) error {
			if err := saveCheckpoint(sc, s); err != nil {
				// Training goes on; only a resumption would lose the epoch.
				sc.Log.Warn("could not write the checkpoint", "epoch", s.Epoch, "err", err)
			}
			return nil
		},
	}
	if sc.Resumed {
		o.Resume = resumeState(sc)
	}
	if o.Resume != nil {
		defer o.Resume.Close()
		o.Threads = o.Resume.Log.Threads // results depend on the thread count
		resumedAt, announce = o.Resume.Epoch+1, true
	}
	_, rl, err := Train(ctx, d, p, o)
	if o.Resume != nil && errors.Is(err, nn.ErrStateMismatch) {
		sc.Log.Warn("ignoring the checkpoint, training from epoch 1", "reason", err.Error())
		o.Resume, o.Threads, resumedAt, announce = nil, sc.Threads, 0, false
		_, rl, err = Train(ctx, d, p, o)
	}
	announceResume()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		return fmt.Errorf("training %s on %s: %w", p.Model, d.Name, err)
	}
	if rl != nil && rl.Test != nil {
		sc.SetMeta("test_accuracy", rl.Test.Accuracy)
		sc.Log.Info("trained", "model", p.Model, "test_acc", rl.Test.Accuracy, "test_loss", rl.Test.Loss)
	}
	// TrainRun writes its log next to the model; give it a stable name.
	if err := renameLog(out); err != nil {
		return err
	}
	rec.WallTime = time.Since(start).Seconds()
	return stageio.WriteJSON(sc.OutDir, stageio.ModelRecordFile, rec)
}

// Options are how Train runs: the starting model, where the output goes,
// threads (the result is deterministic for a given seed and thread count),
// progress, and the training state to continue from and to save.
type Options struct {
	// Init, when set, is the starting model (an imported one); otherwise
	// the model is initialised from the recipe's seed.
	Init *nn.Model
	// Out is the model file; the log goes to Out + ".log.json".
	Out      string
	Threads  int
	Progress func(nn.Progress)
	// Resume, when set, is the state after an epoch of an earlier run of
	// the same parameters, on the same data and thread count; training
	// continues with the next epoch and ends with the same model and log
	// (times aside) as a run in one go. A state that does not fit is an
	// error wrapping nn.ErrStateMismatch.
	Resume *nn.TrainState
	// OnCheckpoint, when set, receives the state after every epoch (see
	// nn.Trainer.OnCheckpoint).
	OnCheckpoint func(*nn.TrainState) error
}

// Train trains the model p describes on d: the one operation behind the
// pretrain stage and `ccq train`. Fields of p.Recipe left zero take
// nn.TrainConfig's meaning (the defaults of nn.DefaultTrainConfig, except
// momentum, weight decay and warm-up, where zero is none).
func Train(ctx context.Context, d *datasets.Dataset, p Params, o Options) (*nn.Model, *withdata.RunLog, error) {
	if err := Validate(&p); err != nil {
		return nil, nil, err
	}
	return withdata.TrainRun(ctx, d, withdata.RunOptions{
		Arch: p.Model, Config: TrainConfig(p), Threads: o.Threads, Init: o.Init, Out: o.Out, TrainLimit: p.TrainLimit,
		Progress: o.Progress, Resume: o.Resume, OnCheckpoint: o.OnCheckpoint,
	})
}

// resumeState is the training state the stage continues from, or nil (with
// a log line saying why) when its checkpoint folder holds none it may use.
// The run continues on the state's thread count, since results depend on
// it, unless that is more than both the threads the executor gave this
// stage and the threads its parameters ask for.
func resumeState(sc *pipeline.StageContext) *nn.TrainState {
	s, why := loadCheckpoint(sc)
	if s == nil {
		sc.Log.Warn("ignoring the checkpoint, training from epoch 1", "reason", why)
		return nil
	}
	if t := s.Log.Threads; t != sc.Threads && (t < 1 || t > max(sc.Threads, Kind{}.Threads(sc.Params))) {
		sc.Log.Warn("ignoring the checkpoint, training from epoch 1",
			"reason", fmt.Sprintf("it was trained on %d threads; this stage may use %d", t, sc.Threads))
		s.Close()
		return nil
	}
	return s
}

// renameLog moves TrainRun's "<model>.log.json" to train.log.json.
func renameLog(modelPath string) error {
	return stageio.Rename(modelPath+".log.json", filepath.Join(filepath.Dir(modelPath), "train.log.json"))
}
