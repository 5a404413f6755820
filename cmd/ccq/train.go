package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/nn/withdata"
	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/stages/pretrain"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
)

func init() { rootCmd.AddCommand(trainCmd()) }

func trainCmd() *cobra.Command {
	var (
		dataset, out, milestones, initPath string
		p                                  pretrain.Params
		data                               splitFlags
		threads                            int
		asJSON                             bool
	)
	cfg := &p.Recipe
	cmd := &cobra.Command{
		Use:   "train --dataset NAME --model ARCH --out FILE",
		Short: "Train a float32 model (" + strings.Join(nn.Archs, ", ") + ") with SGD and save it as safetensors",
		Long: `Train a float32 model on a dataset's training split, selecting the epoch with
the best validation accuracy (the validation split is carved from the official
training set). The best model is written to --out (safetensors, PyTorch
state_dict names) whenever validation accuracy improves, and the training log
(per-epoch loss, validation accuracy, learning rate, time, and the final test
result) to <out>.log.json. Progress goes to stderr.

Defaults: SGD lr 0.05, momentum 0.9, batch 128, weight decay 5e-4, one epoch
of linear warm-up then a cosine schedule, no augmentation (the CIFAR recipe
of experiments/paper-resnet20-cifar10.toml is --lr 0.1 --wd 1e-4 --schedule
step --milestones 90,135 --augment crop-flip).

This is the pretrain stage's operation: with the same recipe, dataset split
(--val-size, --split-seed), --limit (the stage's train_limit) and --threads,
the model written is bit-identical to the stage's model.safetensors. (An
experiment's [pretrain] table that leaves momentum, weight_decay or
warmup_epochs out means zero for them; here give --momentum 0, --wd 0 or
--warmup 0 to match.)`,
		Example: `  ccq train --dataset mnist --model lenet5 --epochs 8 --seed 1 --out lenet5.safetensors
  ccq train --dataset fashion-mnist --model resnet20 --epochs 30 --lr 0.1 --wd 5e-4 --out r20.safetensors`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dataset == "" || p.Model == "" || out == "" {
				return fmt.Errorf("--dataset, --model and --out are required")
			}
			ms, err := nn.ParseMilestones(milestones)
			if err != nil {
				return fmt.Errorf("--milestones: %w", err)
			}
			cfg.Milestones = ms
			if err := pretrain.Validate(&p); err != nil {
				return trainFlagError(err)
			}
			ctx := cmd.Context()
			d, err := data.load(ctx, dataset)
			if err != nil {
				return err
			}
			o := pretrain.Options{Threads: threads, Out: out}
			if initPath != "" {
				m, err := loadInitModel(initPath, p.Model, withdata.Shape(d))
				if err != nil {
					return err
				}
				o.Init = m
			}
			pr := newTrainProgress(cmd.ErrOrStderr())
			o.Progress = pr.report
			fmt.Fprintf(cmd.ErrOrStderr(), "training %s on %s (%d train, %d val, %d test images), %d epochs, %d threads\n",
				p.Model, d.Name, min(d.Train.N, limitOr(p.TrainLimit, d.Train.N)), d.Val.N, d.Test.N, cfg.Epochs, threadsOr(threads))
			_, log, err := pretrain.Train(ctx, d, p, o)
			pr.finish()
			if err != nil {
				if log != nil && log.TrainLog != nil && log.BestEpoch > 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "stopped; the best model so far (epoch %d) is in %s\n", log.BestEpoch, out)
				}
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), log)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "best epoch %d: validation accuracy %.2f%%\n", log.BestEpoch, 100*log.BestValAcc)
			if log.Test != nil {
				fmt.Fprintf(w, "test accuracy %.2f%%, test loss %.4f\n", 100*log.Test.Accuracy, log.Test.Loss)
			}
			fmt.Fprintf(w, "model: %s\nlog:   %s.log.json\ntime:  %s\n", out, out, time.Duration(log.Seconds*float64(time.Second)).Round(time.Second))
			return nil
		},
	}
	d := nn.DefaultTrainConfig()
	f := cmd.Flags()
	f.StringVar(&dataset, "dataset", "", "dataset: "+strings.Join(datasets.Names(), ", "))
	f.StringVar(&p.Model, "model", "", "architecture: "+strings.Join(nn.Archs, ", "))
	f.StringVar(&out, "out", "", "output model file (safetensors); the log goes to <out>.log.json")
	f.IntVar(&cfg.Epochs, "epochs", d.Epochs, "epochs")
	f.Uint64Var(&cfg.Seed, "seed", d.Seed, "seed of the initial weights, shuffling and augmentation")
	f.Float64Var(&cfg.LR, "lr", d.LR, "base learning rate")
	f.Float64Var(&cfg.Momentum, "momentum", d.Momentum, "SGD momentum")
	f.BoolVar(&cfg.Nesterov, "nesterov", false, "Nesterov momentum")
	f.Float64Var(&cfg.WeightDecay, "wd", d.WeightDecay, "weight decay (L2, on every parameter)")
	f.IntVar(&cfg.BatchSize, "batch", d.BatchSize, "batch size")
	f.StringVar(&cfg.Schedule, "schedule", d.Schedule, "learning-rate schedule: constant, step or cosine")
	f.StringVar(&milestones, "milestones", "", "step schedule: comma-separated epochs where lr *= --gamma (default 50% and 75% of --epochs)")
	f.Float64Var(&cfg.Gamma, "gamma", d.Gamma, "step schedule: decay factor")
	f.Float64Var(&cfg.WarmupEpochs, "warmup", d.WarmupEpochs, "epochs of linear learning-rate warm-up")
	f.StringVar(&cfg.Augment, "augment", d.Augment, "augmentation: none, crop-flip or crop")
	f.IntVar(&threads, "threads", 0, "threads (default GOMAXPROCS); results are deterministic for a given seed and thread count")
	data.register(f)
	f.IntVar(&p.TrainLimit, "limit", 0, "train on the first N training images only (quick checks)")
	f.StringVar(&initPath, "init", "", "start from this model (a ccq model, or a PyTorch state_dict in safetensors)")
	f.BoolVar(&asJSON, "json", false, "print the training log as JSON on stdout")
	return cmd
}

// trainFlagError names the flag of a bad pretrain parameter.
func trainFlagError(err error) error {
	var pe *pipeline.ParamError
	if !errors.As(err, &pe) {
		return err
	}
	flag, ok := map[string]string{"model": "model", "batch_size": "batch", "train_limit": "limit"}[pe.Key]
	if !ok {
		flag = pe.Key
	}
	return fmt.Errorf("--%s: %s", flag, pe.Msg)
}

// loadInitModel reads a starting model: a ccq file (with metadata) or a
// PyTorch state dict for the given architecture and input shape.
func loadInitModel(path, arch string, in nn.Shape) (*nn.Model, error) {
	m, _, err := nn.Load(path)
	if err == nil {
		return m, nil
	}
	if !errors.Is(err, nn.ErrNoArch) {
		return nil, fmt.Errorf("--init: %w", err)
	}
	m, _, ierr := nn.Import(path, arch, in)
	if ierr != nil {
		return nil, fmt.Errorf("--init: %w", ierr)
	}
	return m, nil
}

func limitOr(limit, n int) int {
	if limit > 0 {
		return limit
	}
	return n
}

func threadsOr(t int) int {
	if t > 0 {
		return t
	}
	return runtime.GOMAXPROCS(0)
}

// trainProgress prints training progress: one updating line on a terminal,
// a line every 10 seconds otherwise, and a line per epoch in both cases.
type trainProgress struct {
	w       io.Writer
	tty     bool
	last    time.Time
	pending bool
}

func newTrainProgress(w io.Writer) *trainProgress {
	p := &trainProgress{w: w}
	if f, ok := w.(*os.File); ok {
		p.tty = isatty.IsTerminal(f.Fd())
	}
	return p
}

func (p *trainProgress) report(r nn.Progress) {
	if r.EpochDone {
		if p.pending {
			fmt.Fprint(p.w, "\r\033[K")
			p.pending = false
		}
		best := ""
		if r.Best {
			best = "  *best"
		}
		fmt.Fprintf(p.w, "epoch %d/%d  loss %.4f  val acc %.2f%%  val loss %.4f  lr %.4g  %.0f img/s  ETA %s%s\n",
			r.Epoch, r.Epochs, r.AvgLoss, 100*r.ValAcc, r.ValLoss, r.LR, r.ImagesPerSec, r.ETA.Round(time.Second), best)
		return
	}
	interval := 10 * time.Second
	if p.tty {
		interval = 200 * time.Millisecond
	}
	if time.Since(p.last) < interval {
		return
	}
	p.last = time.Now()
	line := fmt.Sprintf("epoch %d/%d  batch %d/%d  loss %.4f (avg %.4f)  lr %.4g  %.0f img/s  ETA %s",
		r.Epoch, r.Epochs, r.Batch, r.Batches, r.Loss, r.AvgLoss, r.LR, r.ImagesPerSec, r.ETA.Round(time.Second))
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K"+line)
		p.pending = true
	} else {
		fmt.Fprintln(p.w, line)
	}
}

func (p *trainProgress) finish() {
	if p.pending {
		fmt.Fprintln(p.w)
		p.pending = false
	}
}
