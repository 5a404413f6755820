package main

import (
	"context"
	"fmt"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/quant"
)

func init() { modelEvaluators[quant.FormatKBit] = evaluateQuantizedFile }

// evaluateQuantizedFile scores a k-bit model file (ccq.format "kbit") on the
// requested split with the quantized forward path (fake-quantized
// activations when the model has them). The model size, bits per weight and
// level histogram are in quant.EvaluateModel's report; quantizedSummary
// returns them for the caller to print.
func evaluateQuantizedFile(ctx context.Context, r evalRequest) (nn.EvalResult, error) {
	m, err := quant.Decode(r.file)
	if err != nil {
		return nn.EvalResult{}, fmt.Errorf("%s: %w", r.path, err)
	}
	x, y, err := quant.SplitData(m.Graph, r.data, r.split, 0)
	if err != nil {
		return nn.EvalResult{}, fmt.Errorf("%s: %w", r.path, err)
	}
	rep, err := quant.EvaluateModel(ctx, m, x, y, r.threads)
	if err != nil {
		return nn.EvalResult{}, fmt.Errorf("%s: %w", r.path, err)
	}
	res := nn.EvalResult{N: rep.N, Accuracy: rep.Accuracy, Loss: rep.Loss, Confusion: rep.Confusion}
	for _, c := range rep.PerClass {
		res.PerClass = append(res.PerClass, c.Accuracy)
		res.Count = append(res.Count, c.N)
	}
	return res, nil
}

// quantizedSummary describes a k-bit model file: bits, activation bits,
// method, whether full-precision gradients were used, packed size, bits per
// weight and the fraction of each level (for `ccq evaluate` to print next to
// the accuracy).
func quantizedSummary(r evalRequest) (*quant.Report, error) {
	m, err := quant.Decode(r.file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.path, err)
	}
	rep := &quant.Report{Bits: m.Bits, ActBits: m.ActBits, Weights: m.NumVars(), Levels: quant.LevelHistogram(m),
		Granularity: m.Granularity, Method: m.Method, UsedFPGrads: m.UsedFPGradients}
	rep.PackedBytes, rep.ModelBytes, rep.Float32Bytes = quant.Sizes(m)
	rep.BitsPerWeight = float64(rep.ModelBytes*8) / float64(max(rep.Weights, 1))
	return rep, nil
}
