package integer

import (
	"context"
	"fmt"

	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/engine"
	"github.com/ccq-project/ccq/quant/internal/kernels"
)

// IntegerCheck is integer-only inference (IntegerBatch) of a model with
// quantized activations next to its fake-quantized evaluation.
type IntegerCheck struct {
	// Representable is false when the model cannot run integer-only;
	// Reason then says why and nothing else is set.
	Representable bool    `json:"representable"`
	Reason        string  `json:"reason,omitempty"`
	N             int     `json:"n"`
	Correct       int     `json:"correct"`
	Accuracy      float64 `json:"accuracy"`
	Loss          float64 `json:"loss"`
	// Agree is the number of samples whose integer-only prediction equals
	// the fake-quantized path's.
	Agree int `json:"agree"`
}

// String is one line for logs and reports.
func (c *IntegerCheck) String() string {
	if !c.Representable {
		return "integer-only: not representable (" + c.Reason + ")"
	}
	return fmt.Sprintf("integer-only: accuracy %.2f%%, loss %.4f, predictions agree with fake-quant on %d of %d images", 100*c.Accuracy, c.Loss, c.Agree, c.N)
}

// IntegerFast reports whether integer-only inference runs on the int8
// micro-kernels (AVX-512 VNNI) rather than their pure-Go twins, which are
// 100-140x slower than the fake-quantized path (LeNet-5: about 1.3 CPU-ms
// per image, ResNet-20: about 55; `-tags purego` benchmarks, 2026-12-02).
func IntegerFast() bool { return kernels.UseVNNI }

// CheckInteger runs integer-only inference of m on samples (NCHW float32,
// normalized) and compares its predictions with the float32
// fake-quantized forward pass's (one more forward pass). A
// model integer-only inference cannot represent gives a check with
// Representable false, not an error.
func CheckInteger(ctx context.Context, m *quant.Model, x []float32, labels []uint8, workers int) (*IntegerCheck, error) {
	b, err := NewIntegerBatch(m)
	if why, ok := IsNotRepresentable(err); ok {
		return &IntegerCheck{Reason: why}, nil
	}
	if err != nil {
		return nil, err
	}
	return b.Check(ctx, x, labels, workers)
}

// Check is CheckInteger on a compiled model.
func (b *IntegerBatch) Check(ctx context.Context, x []float32, labels []uint8, workers int) (*IntegerCheck, error) {
	res, err := b.Evaluate(ctx, x, labels, workers)
	if err != nil {
		return nil, err
	}
	fq, err := engine.FakeQuantPredictions(ctx, b.m, x, labels, workers)
	if err != nil {
		return nil, err
	}
	c := &IntegerCheck{Representable: true, N: res.N, Correct: res.Correct, Accuracy: res.Accuracy, Loss: res.Loss}
	for i, p := range fq {
		if p == res.Predictions[i] {
			c.Agree++
		}
	}
	return c, nil
}
