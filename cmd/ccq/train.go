package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/nn"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
)

func init() { rootCmd.AddCommand(trainCmd()) }

func trainCmd() *cobra.Command {
	var (
		dataset, arch, out, schedule, augment, milestones, initPath string
		cfg                                                         nn.TrainConfig
		threads, valSize, limit                                     int
		asJSON, offline                                             bool
	)
	cmd := &cobra.Command{
		Use:   "train --dataset NAME --model ARCH --out FILE",
		Short: "Train a float32 model (mlp, lenet5, resnet20) with SGD and save it as safetensors",
		Long: `Train a float32 model on a dataset's training split, selecting the epoch with
the best validation accuracy (the validation split is carved from the official
training set). The best model is written to --out (safetensors, PyTorch
state_dict names) whenever validation accuracy improves, and the training log
(per-epoch loss, validation accuracy, learning rate, time, and the final test
result) to <out>.log.json. Progress goes to stderr.

Defaults: SGD lr 0.05 (0.1 for resnet20), momentum 0.9, batch 128, weight decay
5e-4, one epoch of linear warm-up then a cosine schedule, augmentation
crop-flip on cifar10 and none otherwise.`,
		Example: `  ccq train --dataset mnist --model lenet5 --epochs 8 --seed 1 --out lenet5.safetensors
  ccq train --dataset fashion-mnist --model resnet20 --epochs 30 --lr 0.1 --wd 5e-4 --out r20.safetensors`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dataset == "" || arch == "" || out == "" {
				return fmt.Errorf("--dataset, --model and --out are required")
			}
			if !cmd.Flags().Changed("lr") && arch == "resnet20" {
				cfg.LR = 0.1
			}
			if cfg.WarmupEpochs > float64(cfg.Epochs) && !cmd.Flags().Changed("warmup") {
				cfg.WarmupEpochs = float64(cfg.Epochs)
			}
			cfg.Schedule = schedule
			cfg.Augment = augment
			if augment == "auto" {
				cfg.Augment = nn.AugmentNone
				if dataset == "cifar10" {
					cfg.Augment = nn.AugmentCropFlip
				}
			}
			ms, err := nn.ParseMilestones(milestones)
			if err != nil {
				return fmt.Errorf("--milestones: %w", err)
			}
			cfg.Milestones = ms
			ctx := cmd.Context()
			d, err := datasets.Load(ctx, dataset, datasets.Options{CacheDir: globals.dataDir, ValSize: valSize, Offline: offline, Logger: slog.Default()})
			if err != nil {
				return err
			}
			o := nn.RunOptions{Arch: arch, Config: cfg, Threads: threads, Out: out, TrainLimit: limit}
			if initPath != "" {
				m, err := loadInitModel(initPath, arch, nn.DatasetShape(d))
				if err != nil {
					return err
				}
				o.Init = m
			}
			pr := newTrainProgress(cmd.ErrOrStderr())
			o.Progress = pr.report
			fmt.Fprintf(cmd.ErrOrStderr(), "training %s on %s (%d train, %d val, %d test images), %d epochs, %d threads\n",
				arch, d.Name, min(d.Train.N, limitOr(limit, d.Train.N)), d.Val.N, d.Test.N, cfg.Epochs, threadsOr(threads))
			_, log, err := nn.TrainRun(ctx, d, o)
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
	f.StringVar(&arch, "model", "", "architecture: "+strings.Join(nn.Archs, ", "))
	f.StringVar(&out, "out", "", "output model file (safetensors); the log goes to <out>.log.json")
	f.IntVar(&cfg.Epochs, "epochs", d.Epochs, "epochs")
	f.Uint64Var(&cfg.Seed, "seed", d.Seed, "seed of the initial weights, shuffling and augmentation")
	f.Float64Var(&cfg.LR, "lr", d.LR, "base learning rate; 0.1 for resnet20 unless given")
	f.Float64Var(&cfg.Momentum, "momentum", d.Momentum, "SGD momentum")
	f.BoolVar(&cfg.Nesterov, "nesterov", false, "Nesterov momentum")
	f.Float64Var(&cfg.WeightDecay, "wd", d.WeightDecay, "weight decay (L2, on every parameter)")
	f.IntVar(&cfg.BatchSize, "batch", d.BatchSize, "batch size")
	f.StringVar(&schedule, "schedule", d.Schedule, "learning-rate schedule: constant, step or cosine")
	f.StringVar(&milestones, "milestones", "", "step schedule: comma-separated epochs where lr *= --gamma (default 50% and 75% of --epochs)")
	f.Float64Var(&cfg.Gamma, "gamma", d.Gamma, "step schedule: decay factor")
	f.Float64Var(&cfg.WarmupEpochs, "warmup", d.WarmupEpochs, "epochs of linear learning-rate warm-up")
	f.StringVar(&augment, "augment", "auto", "augmentation: none, crop-flip, crop, or auto (crop-flip on cifar10, else none)")
	f.IntVar(&threads, "threads", 0, "threads (default GOMAXPROCS); results are deterministic for a given seed and thread count")
	f.IntVar(&valSize, "val-size", 0, fmt.Sprintf("validation images carved from the training set (default %d; negative for none)", datasets.DefaultValSize))
	f.IntVar(&limit, "limit", 0, "train on the first N training images only (quick checks)")
	f.StringVar(&initPath, "init", "", "start from this model (a ccq model, or a PyTorch state_dict in safetensors)")
	f.BoolVar(&offline, "offline", false, "never download the dataset")
	f.BoolVar(&asJSON, "json", false, "print the training log as JSON on stdout")
	return cmd
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
