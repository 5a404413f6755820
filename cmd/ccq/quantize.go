package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/quant"
	"github.com/spf13/cobra"
)

func init() { rootCmd.AddCommand(quantizeCmd()) }

// quantizeReport is what `ccq quantize` prints.
type quantizeReport struct {
	Out             string               `json:"out"`
	Source          string               `json:"source"`
	SourceDigest    string               `json:"source_digest"`
	Arch            string               `json:"arch"`
	Dataset         string               `json:"dataset"`
	Method          string               `json:"method"`
	Bits            int                  `json:"bits"`
	Granularity     string               `json:"granularity"`
	ActBits         int                  `json:"act_bits"`
	UsedFPGradients bool                 `json:"used_fp_gradients"`
	CalibSamples    int                  `json:"calib_samples"`
	FloatAccuracy   *float64             `json:"float_test_accuracy,omitempty"`
	FloatLoss       *float64             `json:"float_test_loss,omitempty"`
	Test            *quant.Report        `json:"test,omitempty"`
	IntegerTest     *quant.IntegerResult `json:"integer_test,omitempty"`
	Layout          []quant.Var          `json:"layout"`
	Levels          []quant.LevelCount   `json:"levels"`
}

func quantizeCmd() *cobra.Command {
	var (
		method, gran, dataset, out, arch string
		bits, actBits, calib, threads    int
		steEpochs, steBatch              int
		steWeights, bcScales             string
		pct, actPct, steLR               float64
		seed                             uint64
		ada                              quant.AdaRoundOptions
		noEval, asJSON, offline, integer bool
	)
	cmd := &cobra.Command{
		Use:   "quantize MODEL",
		Short: "Quantize a float model to k-bit weights with a baseline quantizer",
		Long: `Quantize a float32 model (written by ccq train, or a PyTorch state_dict with
--model ARCH) to k-bit weights. Batch norm is folded into the convolutions
first. Methods (all gradient-free except ste-qat and adaround):
  rtn         round to nearest, scale = max |w| / (2^(k-1)-1)
  mse         scale searched to minimise the squared weight error
  percentile  scale from a percentile of |w| (--percentile, default 99.9)
  bias-corr   rtn (or --bias-corr-scales mse|percentile), then each layer's bias
              corrected so that its mean output per channel on the calibration
              batch matches the float network's
  ste-qat     quantization-aware fine-tuning with a straight-through estimator
              with DoReFa-style weights and, with --act-bits below 32,
              activations quantized during fine-tuning (uses full-precision
              gradients: --epochs, --lr, --batch, --seed, --ste-weights)
  adaround    AdaRound (Nagel et al., ICML 2020): mse scales, then layer by
              layer each weight's rounding up or down learnt by Adam on the
              layer's output reconstruction error over the calibration batch,
              the input coming from the already rounded layers (uses gradients
              of that local loss: --iters, --lr, --batch, --lambda,
              --beta-start, --beta-end, --warm-up, --seed; paper defaults)
With --act-bits below 32 every quantized layer's input is quantized too, with a
scale calibrated on the calibration batch (training images). The output is
written atomically; nothing is written on error.`,
		Example: `  ccq quantize lenet5.safetensors --method mse --bits 2 --dataset fashion-mnist --out lenet5-w2.safetensors
  ccq quantize lenet5.safetensors --method rtn --bits 4 --act-bits 4 --granularity channel --out q.safetensors --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			path := args[0]
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			if err := quant.CheckBits(bits); err != nil {
				return fmt.Errorf("--bits: %w", err)
			}
			if err := quant.CheckActBits(actBits); err != nil {
				return fmt.Errorf("--act-bits: %w", err)
			}
			g, err := quant.ParseGranularity(gran)
			if err != nil {
				return fmt.Errorf("--granularity: %w", err)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(raw)
			digest := hex.EncodeToString(sum[:])
			raw = nil
			var fm *nn.Model
			var md map[string]string
			if arch == "" {
				fm, md, err = nn.Load(path)
			} else {
				if dataset == "" {
					return fmt.Errorf("--model %s needs --dataset (it gives the input shape)", arch)
				}
			}
			if err != nil {
				return err
			}
			if dataset == "" {
				dataset = md[nn.MetaDataset]
			}
			if dataset == "" {
				return fmt.Errorf("%s records no dataset: give --dataset (%s)", path, strings.Join(datasets.Names(), ", "))
			}
			d, err := datasets.Load(ctx, dataset, datasets.Options{CacheDir: globals.dataDir, Offline: offline, Logger: slog.Default()})
			if err != nil {
				return err
			}
			if fm == nil {
				fm, md, err = nn.Import(path, arch, nn.DatasetShape(d))
				if err != nil {
					return err
				}
			}
			defer fm.Close()
			if err := useRecordedNormalisation(d, md, path); err != nil {
				return err
			}
			f := quant.FromNN(fm)
			calX, calY, err := quant.SplitData(f.Graph, d, &d.Train, calib)
			if err != nil {
				return fmt.Errorf("calibration set: %w", err)
			}
			var m *quant.Model
			if method == "ste-qat" {
				m, err = quant.QuantizeSTE(ctx, f, nn.SplitSource{D: d, S: &d.Train}, quant.STEOptions{Bits: bits, Granularity: g,
					ActBits: actBits, ActPercentile: actPct, Epochs: steEpochs, LR: steLR, BatchSize: steBatch, Seed: seed, Weights: steWeights, CalibX: calX, CalibLabels: calY,
					SourceDigest: digest, Workers: threads, Progress: func(e int, loss float64) {
						slog.Info("ste-qat epoch", "epoch", e, "train_loss", loss)
					}})
			} else {
				// --lr and --batch default to ste-qat's values; adaround
				// takes its own defaults unless they are given.
				ada.Seed = seed
				if cmd.Flags().Changed("lr") {
					ada.LR = steLR
				}
				if cmd.Flags().Changed("batch") {
					ada.BatchSize = steBatch
				}
				if _, err := ada.WithDefaults(); err != nil && method == "adaround" {
					return adaRoundFlagError(err)
				}
				ada.Progress = func(done, total int, name string) {
					slog.Info("adaround layer", "layer", name, "done", done, "of", total)
				}
				m, err = quant.Quantize(ctx, f, quant.Options{Method: method, Bits: bits, Granularity: g, ActBits: actBits,
					CalibX: calX, CalibLabels: calY, Percentile: pct, ActPercentile: actPct, SourceDigest: digest, Workers: threads,
					BiasCorrScales: bcScales, AdaRound: ada})
			}
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if m.Extra == nil {
				m.Extra = map[string]string{}
			}
			m.Extra[nn.MetaDataset] = d.Name
			m.Extra[nn.MetaMean] = nn.FormatFloats(d.Mean)
			m.Extra[nn.MetaStd] = nn.FormatFloats(d.Std)
			rep := quantizeReport{Out: out, Source: path, SourceDigest: digest, Arch: m.Graph.Arch, Dataset: d.Name, Method: m.Method,
				Bits: m.Bits, Granularity: string(m.Granularity), ActBits: m.ActBits, UsedFPGradients: m.UsedFPGradients,
				CalibSamples: len(calY), Layout: m.Layout(), Levels: quant.LevelHistogram(m)}
			if !noEval {
				tx, ty, err := quant.SplitData(m.Graph, d, &d.Test, 0)
				if err != nil {
					return fmt.Errorf("test set: %w", err)
				}
				fl, fa, err := quant.EvaluateFloat(ctx, f, tx, ty, threads)
				if err != nil {
					return err
				}
				rep.FloatAccuracy, rep.FloatLoss = &fa, &fl
				if rep.Test, err = quant.EvaluateModel(ctx, m, tx, ty, threads); err != nil {
					return err
				}
				if integer {
					im, err := quant.NewIntegerBatch(m)
					if err != nil {
						return fmt.Errorf("--integer: %w", err)
					}
					if rep.IntegerTest, err = im.Evaluate(ctx, tx, ty, threads); err != nil {
						return err
					}
				}
			}
			if err := m.Save(out); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), rep)
			}
			return printQuantize(cmd.OutOrStdout(), rep)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&method, "method", "rtn", "quantizer: "+strings.Join(quant.Methods, ", "))
	fl.IntVar(&bits, "bits", 4, "weight bits, 1..8")
	fl.StringVar(&gran, "granularity", "tensor", "weight scales: tensor (one per layer) or channel (one per output channel)")
	fl.IntVar(&actBits, "act-bits", 32, "activation bits: 32 (float activations) or 1..8")
	fl.StringVar(&dataset, "dataset", "", "dataset for calibration and the test evaluation (default: the one recorded in the model)")
	fl.StringVar(&out, "out", "", "output file (k-bit model, safetensors)")
	fl.StringVar(&arch, "model", "", "architecture of a file without ccq metadata (a PyTorch state_dict): "+strings.Join(nn.Archs, ", "))
	fl.IntVar(&calib, "calib", 1024, "calibration images (evenly spaced through the training split)")
	fl.StringVar(&bcScales, "bias-corr-scales", "rtn", "bias-corr: the weight scales it starts from: rtn, mse or percentile")
	fl.Float64Var(&pct, "percentile", 99.9, "percentile of |w| the percentile method clips at")
	fl.Float64Var(&actPct, "act-percentile", 0, "calibrate activation scales at this percentile instead of the maximum (0: maximum)")
	fl.IntVar(&steEpochs, "epochs", 1, "ste-qat: fine-tuning epochs over the training split")
	fl.Float64Var(&steLR, "lr", 0.01, fmt.Sprintf("ste-qat: base learning rate (cosine decay); adaround: Adam's (default %g)", quant.DefaultAdaRoundLR))
	fl.IntVar(&steBatch, "batch", 128, fmt.Sprintf("ste-qat: batch size; adaround: calibration images per step (default %d)", quant.DefaultAdaRoundBatch))
	fl.IntVar(&ada.Iters, "iters", quant.DefaultAdaRoundIters, "adaround: Adam steps per layer")
	fl.Float64Var(&ada.Lambda, "lambda", quant.DefaultAdaRoundLambda, "adaround: weight of the rounding regulariser (0: the default)")
	fl.Float64Var(&ada.BetaStart, "beta-start", quant.DefaultAdaRoundBetaStart, "adaround: the regulariser's exponent when it switches on (annealed linearly to --beta-end)")
	fl.Float64Var(&ada.BetaEnd, "beta-end", quant.DefaultAdaRoundBetaEnd, "adaround: the regulariser's exponent at the last step")
	fl.Float64Var(&ada.WarmUp, "warm-up", quant.DefaultAdaRoundWarmUp, "adaround: fraction of the steps before the regulariser switches on (0: the default; 1e-9 for practically none)")
	fl.StringVar(&steWeights, "ste-weights", "dorefa", "ste-qat: weight quantizer while fine-tuning: dorefa (tanh-normalised) or mse")
	fl.Uint64Var(&seed, "seed", 1, "ste-qat: seed of the shuffling; adaround: of the images of each step")
	fl.IntVar(&threads, "threads", 0, "threads (default GOMAXPROCS)")
	fl.BoolVar(&integer, "integer", false, "also evaluate with integer-only inference (needs --act-bits below 32)")
	fl.BoolVar(&noEval, "no-eval", false, "skip the test-set evaluation of the float and quantized models")
	fl.BoolVar(&offline, "offline", false, "never download the dataset")
	fl.BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

// adaRoundFlagError names the flag of a bad AdaRound parameter.
func adaRoundFlagError(err error) error {
	var fe *quant.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	flag := "--" + strings.ReplaceAll(fe.Field, "_", "-")
	if fe.Field == "batch_size" {
		flag = "--batch"
	}
	return fmt.Errorf("%s: adaround %w", flag, err)
}

func printQuantize(w io.Writer, r quantizeReport) error {
	fmt.Fprintf(w, "%s: %s %d-bit weights (%s scales), activations %s, from %s (%s)\n", r.Out, r.Method, r.Bits, r.Granularity, actLabel(r.ActBits), r.Source, r.Arch)
	if r.Test != nil {
		fmt.Fprintf(w, "test accuracy %.2f%% (float %.2f%%), loss %.4f (float %.4f) on %d %s images\n",
			100*r.Test.Accuracy, 100**r.FloatAccuracy, r.Test.Loss, *r.FloatLoss, r.Test.N, r.Dataset)
		if r.IntegerTest != nil {
			fmt.Fprintf(w, "integer-only inference: test accuracy %.2f%%, loss %.4f\n", 100*r.IntegerTest.Accuracy, r.IntegerTest.Loss)
		}
		fmt.Fprintf(w, "size %d bytes packed levels, %d bytes with scales and biases (%.2f bits/weight; float32 %d bytes)\n",
			r.Test.PackedBytes, r.Test.ModelBytes, r.Test.BitsPerWeight, r.Test.Float32Bytes)
	}
	fmt.Fprint(w, "levels:")
	for _, l := range r.Levels {
		fmt.Fprintf(w, " %d:%.1f%%", l.Level, 100*l.Fraction)
	}
	fmt.Fprintln(w)
	return nil
}

func actLabel(bits int) string {
	if bits == quant.FloatActBits {
		return "float32"
	}
	return fmt.Sprintf("%d-bit", bits)
}
