package stagecost

import (
	"context"
	"fmt"
	"time"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/quant"
)

// probeTime is how long a probe measures after its warm-up.
const probeTime = 400 * time.Millisecond

// Probe measures the seconds per image of w on this machine with the code
// path the stages use: nn's training step and forward pass on random data
// (OpTrain, OpInfer), and the quantized evaluator scoring candidates of
// 2,000 changed weights spread over every layer on a random network
// (OpScore).
func Probe(ctx context.Context, w Work) (float64, error) {
	switch w.Op {
	case OpTrain, OpInfer:
		return probeFloat(ctx, w)
	case OpScore:
		return probeScore(ctx, w)
	}
	return 0, fmt.Errorf("probe: unknown operation %q", w.Op)
}

func probeFloat(ctx context.Context, w Work) (float64, error) {
	o := nn.BenchOptions{Threads: w.Threads, MinTime: probeTime, Reps: 1, TrainBatch: 128, InferBatch: 256}
	if w.Op == OpTrain && w.Batch > 0 {
		o.TrainBatch = w.Batch
	}
	r, err := nn.Bench(ctx, w.Arch, o)
	if err != nil {
		return 0, err
	}
	rate := r.TrainImagesPerSec
	if w.Op == OpInfer {
		rate = r.InferImagesPerSec
	}
	if rate <= 0 {
		return 0, fmt.Errorf("probe %s: no throughput measured", w.key())
	}
	return 1 / rate, nil
}

func probeScore(ctx context.Context, w Work) (float64, error) {
	cfg := quant.BenchConfig{Arch: w.Arch, Batch: w.Batch, Delta: 2000, Layer: "all", Candidates: 2,
		Bits: w.Bits, ActBits: w.ActBits, Workers: w.Threads, Seed: 1}
	m, x, y, cands, err := quant.BenchSetup(&cfg)
	if err != nil {
		return 0, fmt.Errorf("probe %s: %w", w.key(), err)
	}
	ev, err := quant.NewEvaluator(m, quant.EvalOptions{Workers: w.Threads})
	if err != nil {
		return 0, fmt.Errorf("probe %s: %w", w.key(), err)
	}
	if _, err := ev.Prepare(ctx, x, y); err != nil {
		return 0, fmt.Errorf("probe %s: %w", w.key(), err)
	}
	out := make([]quant.Score, len(cands))
	if err := ev.Score(ctx, cands[:1], out); err != nil { // warm-up: buffers
		return 0, fmt.Errorf("probe %s: %w", w.key(), err)
	}
	start := time.Now()
	n := 0
	for time.Since(start) < probeTime || n == 0 {
		if err := ev.Score(ctx, cands, out); err != nil {
			return 0, fmt.Errorf("probe %s: %w", w.key(), err)
		}
		n += len(cands)
	}
	return time.Since(start).Seconds() / float64(n*cfg.Batch), nil
}
