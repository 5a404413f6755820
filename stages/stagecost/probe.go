package stagecost

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/quant/engine"
	"github.com/ccq-project/ccq/quant/evalbench"
	"github.com/ccq-project/ccq/quant/integer"
)

// probeTime is how long a probe measures after its warm-up.
const probeTime = 400 * time.Millisecond

// Probe measures the seconds per image of w on this machine with the code
// path the stages use: nn's forward and backward passes on random data
// (OpTrain; the optimizer's update, a few operations per weight, is left
// out) and eval-mode forward passes (OpInfer), and the quantized evaluator
// scoring candidates of 2,000 changed weights spread over every layer on a
// random network (OpScore), and the integer-only check of a random network
// with quantized activations (OpInteger). It counts the process's CPU time over the timed
// loop divided by w's threads, not the wall time: the wall time of an
// otherwise idle machine, which other load does not change (a probe on a
// busy machine would otherwise inflate every later plan). Where CPU time is
// not available it falls back to the wall time.
func Probe(ctx context.Context, w Work) (float64, error) {
	var sec float64
	var err error
	switch w.Op {
	case OpTrain, OpInfer:
		sec, err = probeFloat(ctx, w)
	case OpScore:
		sec, err = probeScore(ctx, w)
	case OpInteger:
		sec, err = probeInteger(ctx, w)
	default:
		return 0, fmt.Errorf("probe: unknown operation %q", w.Op)
	}
	if err != nil {
		return 0, fmt.Errorf("probe %s: %w", w.key(), err)
	}
	return sec, nil
}

// timed runs step until probeTime has passed (at least once) and returns
// the seconds per image: CPU time over threads where known, else wall time.
func timed(ctx context.Context, threads, imagesPerStep int, step func() error) (float64, error) {
	cpu0, cpuOK := processCPU()
	start := time.Now()
	images := 0
	for images == 0 || time.Since(start) < probeTime {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if err := step(); err != nil {
			return 0, err
		}
		images += imagesPerStep
	}
	wall := time.Since(start)
	if cpu1, ok := processCPU(); ok && cpuOK {
		return (cpu1 - cpu0).Seconds() / float64(max(1, threads)) / float64(images), nil
	}
	return wall.Seconds() / float64(images), nil
}

// probeFloat times nn's training passes (OpTrain) or forward passes
// (OpInfer) of a randomly initialised network on random data.
func probeFloat(ctx context.Context, w Work) (float64, error) {
	batch := 256
	if w.Op == OpTrain {
		batch = 128
		if w.Batch > 0 {
			batch = w.Batch
		}
	}
	in := nn.BenchInput(w.Arch)
	g, err := nn.BuildGraph(w.Arch, in, 10)
	if err != nil {
		return 0, err
	}
	m, err := nn.NewModel(g, 1)
	if err != nil {
		return 0, err
	}
	defer m.Close()
	m.SetThreads(max(1, w.Threads))
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, batch*in.Size())
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]uint8, batch)
	for i := range y {
		y[i] = uint8(rng.IntN(10))
	}
	dl := make([]float32, batch*10)
	step := func() error {
		logits := m.Forward(x, batch, w.Op == OpTrain)
		if w.Op == OpTrain {
			nn.SoftmaxCrossEntropy(logits, y, batch, 10, dl)
			m.Backward(dl)
		}
		return nil
	}
	_ = step() // warm-up: buffers
	return timed(ctx, w.Threads, batch, step)
}

// probeScore times the quantized evaluator scoring candidates on a random
// network and batch.
func probeScore(ctx context.Context, w Work) (float64, error) {
	cfg := evalbench.BenchConfig{Arch: w.Arch, Batch: w.Batch, Delta: 2000, Layer: "all", Candidates: 2,
		Bits: w.Bits, ActBits: w.ActBits, Workers: w.Threads, Seed: 1}
	m, x, y, cands, err := evalbench.BenchSetup(&cfg)
	if err != nil {
		return 0, err
	}
	ev, err := engine.NewEvaluator(m, engine.EvalOptions{Workers: w.Threads})
	if err != nil {
		return 0, err
	}
	if _, err := ev.Prepare(ctx, x, y); err != nil {
		return 0, err
	}
	out := make([]engine.Score, len(cands))
	if err := ev.Score(ctx, cands[:1], out); err != nil { // warm-up: buffers
		return 0, err
	}
	return timed(ctx, w.Threads, len(cands)*cfg.Batch, func() error { return ev.Score(ctx, cands, out) })
}

// probeInteger times the evaluate stage's integer-only check
// (integer.IntegerBatch.Check) of a random network with w's bits on a
// random batch of 256 images; the model's compilation, once per stage, is
// left out.
func probeInteger(ctx context.Context, w Work) (float64, error) {
	cfg := evalbench.BenchConfig{Arch: w.Arch, Batch: 256, Candidates: 1, Bits: w.Bits, ActBits: w.ActBits, Workers: w.Threads, Seed: 1}
	m, x, y, _, err := evalbench.BenchSetup(&cfg)
	if err != nil {
		return 0, err
	}
	b, err := integer.NewIntegerBatch(m)
	if err != nil {
		return 0, err
	}
	step := func() error {
		_, err := b.Check(ctx, x, y, w.Threads)
		return err
	}
	if err := step(); err != nil { // warm-up: buffers
		return 0, err
	}
	return timed(ctx, w.Threads, cfg.Batch, step)
}
