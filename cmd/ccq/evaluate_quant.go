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
// activations when the model has them). The bits per weight, packed size and
// level histogram of the model are in quant.EvaluateModel's report
// (quant.Sizes, quant.LevelHistogram) but evalReport has no fields for them
// yet.
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
