package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/stages/evaluate"
)

func init() { modelEvaluators[quant.FormatKBit] = evaluateQuantizedFile }

// evaluateQuantizedFile scores a k-bit model file (ccq.format "kbit") on the
// requested split with the quantized forward path (fake-quantized
// activations when the model has them). The bits per weight, packed size and
// level histogram of the model are in engine.EvaluateModel's report
// (quant.Sizes, quant.LevelHistogram); evalReport has no fields for them
// yet, so they are logged (stderr) at info level, as is integer-only
// inference (integer.CheckInteger) of a model with quantized activations.
func evaluateQuantizedFile(ctx context.Context, r evalRequest) (nn.EvalResult, error) {
	m, err := quant.Decode(r.file)
	if err != nil {
		return nn.EvalResult{}, fmt.Errorf("%s: %w", r.path, err)
	}
	rep, err := evaluate.Quantized(ctx, m, r.data, r.split, r.threads)
	if err != nil {
		return nn.EvalResult{}, fmt.Errorf("%s: %w", r.path, err)
	}
	levels := make([]string, len(rep.Levels))
	for i, l := range rep.Levels {
		levels[i] = fmt.Sprintf("%d:%.1f%%", l.Level, 100*l.Fraction)
	}
	slog.Info("k-bit model", "bits", rep.Bits, "act_bits", rep.ActBits, "method", rep.Method, "granularity", rep.Granularity,
		"used_fp_gradients", rep.UsedFPGrads, "weights", rep.Weights, "packed_bytes", rep.PackedBytes,
		"model_bytes", rep.ModelBytes, "bits_per_weight", fmt.Sprintf("%.2f", rep.BitsPerWeight), "levels", strings.Join(levels, " "))
	if m.ActBits != quant.FloatActBits {
		c, skipped, err := evaluate.Integer(ctx, m, r.data, r.split, r.params, r.threads)
		switch {
		case err != nil:
			return nn.EvalResult{}, fmt.Errorf("%s: %w", r.path, err)
		case skipped == evaluate.IntegerNoVNNI:
			slog.Info("integer-only inference skipped: no AVX-512 VNNI on this CPU (ccq quantize --integer runs the pure-Go kernels)")
		case c != nil:
			slog.Info(c.String(), "fake_quant_accuracy", fmt.Sprintf("%.2f%%", 100*rep.Accuracy))
		}
	}
	res := nn.EvalResult{N: rep.N, Accuracy: rep.Accuracy, Loss: rep.Loss, Confusion: rep.Confusion}
	for _, c := range rep.PerClass {
		res.PerClass = append(res.PerClass, c.Accuracy)
		res.Count = append(res.Count, c.N)
	}
	return res, nil
}
