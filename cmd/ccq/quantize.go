package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"

	"github.com/ccq-project/ccq/internal/digest"
	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/nn/withdata"
	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/engine"
	"github.com/ccq-project/ccq/quant/integer"
	"github.com/ccq-project/ccq/quant/ptq"
	"github.com/ccq-project/ccq/stages/quantize"
	"github.com/spf13/cobra"
)

func init() { rootCmd.AddCommand(quantizeCmd()) }

// quantizeReport is what `ccq quantize` prints.
type quantizeReport struct {
	Out             string                 `json:"out"`
	Source          string                 `json:"source"`
	SourceDigest    string                 `json:"source_digest"`
	Arch            string                 `json:"arch"`
	Dataset         string                 `json:"dataset"`
	Method          string                 `json:"method"`
	Bits            int                    `json:"bits"`
	Granularity     string                 `json:"granularity"`
	ActBits         int                    `json:"act_bits"`
	UsedFPGradients bool                   `json:"used_fp_gradients"`
	CalibSamples    int                    `json:"calib_samples"`
	FloatAccuracy   *float64               `json:"float_test_accuracy,omitempty"`
	FloatLoss       *float64               `json:"float_test_loss,omitempty"`
	Test            *engine.Report         `json:"test,omitempty"`
	IntegerTest     *integer.IntegerResult `json:"integer_test,omitempty"`
	Layout          []quant.Var            `json:"layout"`
	Levels          []quant.LevelCount     `json:"levels"`
}

func quantizeCmd() *cobra.Command {
	var (
		dataset, out, arch string
		p                  quantize.Params
		data               splitFlags
		threads            int
		noEval, asJSON     bool
		withInteger        bool
	)
	cmd := &cobra.Command{
		Use:   "quantize MODEL",
		Short: "Quantize a float model to k-bit weights with a baseline quantizer",
		Long: `Quantize a float32 model (written by ccq train, or a PyTorch state_dict with
--model ARCH) to k-bit weights. Batch norm is folded into the convolutions
first. Methods (all gradient-free except ste-qat and adaround), with the
experiment's method_params keys they read (flags: dashes for underscores,
--calib for calib_size, --batch for batch_size):
` + quantize.MethodHelp() + `With --act-bits below 32 every quantized layer's input is quantized too, with a
scale calibrated on the calibration batch (training images drawn at random
with --calib-seed).

This is the quantize stage's operation: with the same parameters, dataset split
(--val-size, --split-seed) and --threads, the tensors written are bit-identical
to the stage's model.safetensors; the file here also records the dataset and
its normalisation. The output is written atomically; nothing is written on
error.`,
		Example: `  ccq quantize lenet5.safetensors --method mse --bits 2 --dataset fashion-mnist --out lenet5-w2.safetensors
  ccq quantize lenet5.safetensors --method rtn --bits 4 --act-bits 4 --granularity channel --out q.safetensors --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			path := args[0]
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			// --lr and --batch default to ste-qat's values; adaround takes
			// its own defaults unless they are given.
			if !cmd.Flags().Changed("lr") {
				p.MethodParams.LR = 0
			}
			if !cmd.Flags().Changed("batch") {
				p.MethodParams.BatchSize = 0
			}
			if err := quantize.Validate(&p); err != nil {
				return quantizeFlagError(err)
			}
			srcDigest, err := digest.File(path)
			if err != nil {
				return err
			}
			fm, d, err := loadFloatModel(ctx, path, arch, dataset, data)
			if err != nil {
				return err
			}
			defer fm.Close()
			m, calibN, err := quantize.Quantize(ctx, fm, srcDigest, d, p, quantize.Options{Workers: threads})
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if m.Extra == nil {
				m.Extra = map[string]string{}
			}
			maps.Copy(m.Extra, withdata.Metadata(d))
			rep := quantizeReport{Out: out, Source: path, SourceDigest: srcDigest, Arch: m.Graph.Arch, Dataset: d.Name, Method: m.Method,
				Bits: m.Bits, Granularity: string(m.Granularity), ActBits: m.ActBits, UsedFPGradients: m.UsedFPGradients,
				CalibSamples: calibN, Layout: m.Layout(), Levels: quant.LevelHistogram(m)}
			if !noEval {
				f := quant.FromNN(fm)
				tx, ty, err := engine.SplitData(m.Graph, d, &d.Test, 0)
				if err != nil {
					return fmt.Errorf("test set: %w", err)
				}
				fl, fa, err := engine.EvaluateFloat(ctx, f, tx, ty, threads)
				if err != nil {
					return err
				}
				rep.FloatAccuracy, rep.FloatLoss = &fa, &fl
				if rep.Test, err = engine.EvaluateModel(ctx, m, tx, ty, threads); err != nil {
					return err
				}
				if withInteger {
					im, err := integer.NewIntegerBatch(m)
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
	mp := &p.MethodParams
	fl := cmd.Flags()
	fl.StringVar(&p.Method, "method", "rtn", "quantizer: "+strings.Join(ptq.Methods, ", "))
	fl.IntVar(&p.Bits, "bits", 4, "weight bits, 1..8")
	fl.StringVar(&p.Granularity, "granularity", "tensor", "weight scales: tensor (one per layer) or channel (one per output channel)")
	fl.IntVar(&p.ActBits, "act-bits", 32, "activation bits: 32 (float activations) or 1..8")
	fl.StringVar(&dataset, "dataset", "", "dataset for calibration and the test evaluation (default: the one recorded in the model)")
	data.register(fl)
	fl.StringVar(&out, "out", "", "output file (k-bit model, safetensors)")
	fl.StringVar(&arch, "model", "", "architecture of a file without ccq metadata (a PyTorch state_dict): "+strings.Join(nn.Archs, ", "))
	fl.IntVar(&mp.CalibSize, "calib", quantize.DefaultCalibSize, "calibration images (drawn at random from the training split)")
	fl.Uint64Var(&mp.CalibSeed, "calib-seed", quantize.DefaultCalibSeed, "seed that draws the calibration images")
	fl.StringVar(&mp.BiasCorrScales, "bias-corr-scales", "rtn", "bias-corr: the weight scales it starts from: rtn, mse or percentile")
	fl.Float64Var(&mp.Percentile, "percentile", 99.9, "percentile of |w| the percentile method clips at")
	fl.Float64Var(&mp.ActPercentile, "act-percentile", 0, "calibrate activation scales at this percentile instead of the maximum (0: maximum)")
	fl.IntVar(&mp.Epochs, "epochs", 1, "ste-qat: fine-tuning epochs over the training split")
	fl.Float64Var(&mp.LR, "lr", 0.01, fmt.Sprintf("ste-qat: base learning rate (cosine decay); adaround: Adam's (default %g)", ptq.DefaultAdaRoundLR))
	fl.IntVar(&mp.BatchSize, "batch", 128, fmt.Sprintf("ste-qat: batch size; adaround: calibration images per step (default %d)", ptq.DefaultAdaRoundBatch))
	fl.IntVar(&mp.Iters, "iters", ptq.DefaultAdaRoundIters, "adaround: Adam steps per layer")
	fl.Float64Var(&mp.Lambda, "lambda", ptq.DefaultAdaRoundLambda, "adaround: weight of the rounding regulariser (0: the default)")
	fl.Float64Var(&mp.BetaStart, "beta-start", ptq.DefaultAdaRoundBetaStart, "adaround: the regulariser's exponent when it switches on (annealed linearly to --beta-end)")
	fl.Float64Var(&mp.BetaEnd, "beta-end", ptq.DefaultAdaRoundBetaEnd, "adaround: the regulariser's exponent at the last step")
	fl.Float64Var(&mp.WarmUp, "warm-up", ptq.DefaultAdaRoundWarmUp, "adaround: fraction of the steps before the regulariser switches on (0: the default; 1e-9 for practically none)")
	fl.StringVar(&mp.STEWeights, "ste-weights", "dorefa", "ste-qat: weight quantizer while fine-tuning: dorefa (tanh-normalised) or mse")
	fl.Uint64Var(&mp.Seed, "seed", 1, "ste-qat: seed of the shuffling; adaround: of the images of each step")
	fl.IntVar(&threads, "threads", 0, "threads (default GOMAXPROCS; ste-qat's result depends on it, as training's does)")
	fl.BoolVar(&withInteger, "integer", false, "also evaluate with integer-only inference (needs --act-bits below 32)")
	fl.BoolVar(&noEval, "no-eval", false, "skip the test-set evaluation of the float and quantized models")
	fl.BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

// quantizeFlagError names the flag of a bad quantize parameter.
func quantizeFlagError(err error) error {
	var pe *pipeline.ParamError
	if !errors.As(err, &pe) {
		return err
	}
	key := strings.TrimPrefix(pe.Key, "method_params.")
	flag, ok := map[string]string{"calib_size": "calib", "batch_size": "batch", "method_params": "epochs, --batch or --lr"}[key]
	if !ok {
		flag = strings.ReplaceAll(key, "_", "-")
	}
	return fmt.Errorf("--%s: %s", flag, pe.Msg)
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
