package nn

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// BenchOptions control Bench. Zero fields take the defaults in brackets.
type BenchOptions struct {
	Threads    int           // goroutines [GOMAXPROCS]
	TrainBatch int           // training batch [128]
	InferBatch int           // inference batch [1024]
	MinTime    time.Duration // minimum length of one timed repetition [1s]
	Reps       int           // timed repetitions; the median is reported [3]
}

// BenchResult is the throughput of one model on random data.
type BenchResult struct {
	Model             string    `json:"model"`
	Input             string    `json:"input"` // C,H,W
	Params            int       `json:"params"`
	Threads           int       `json:"threads"`
	TrainBatch        int       `json:"train_batch"`
	TrainImagesPerSec float64   `json:"train_images_per_sec"` // median over repetitions
	TrainRuns         []float64 `json:"train_runs"`
	InferBatch        int       `json:"infer_batch"`
	InferImagesPerSec float64   `json:"infer_images_per_sec"` // median over repetitions
	InferRuns         []float64 `json:"infer_runs"`
}

// BenchInput is the input shape Bench uses for each architecture
// (ArchSpec.BenchInput), as in the PyTorch comparison script
// scripts/pytorch/throughput.py: 1x28x28 for mlp and lenet5, 3x32x32 for
// the CIFAR ResNets.
func BenchInput(arch string) Shape {
	if spec, ok := LookupArch(arch); ok {
		return spec.BenchInput
	}
	return Shape{1, 28, 28}
}

// Bench measures training throughput (a full SGD step with momentum 0.9:
// forward, cross-entropy, backward, update) and inference throughput
// (eval-mode forward) of an architecture on random data with 10 classes.
func Bench(ctx context.Context, arch string, o BenchOptions) (BenchResult, error) {
	if o.Threads <= 0 {
		o.Threads = defaultThreads()
	}
	if o.TrainBatch <= 0 {
		o.TrainBatch = 128
	}
	if o.InferBatch <= 0 {
		o.InferBatch = 1024
	}
	if o.MinTime <= 0 {
		o.MinTime = time.Second
	}
	if o.Reps <= 0 {
		o.Reps = 3
	}
	in := BenchInput(arch)
	g, err := BuildGraph(arch, in, 10)
	if err != nil {
		return BenchResult{}, fmt.Errorf("bench: %w", err)
	}
	m, err := NewModel(g, 1)
	if err != nil {
		return BenchResult{}, fmt.Errorf("bench: %w", err)
	}
	defer m.Close()
	m.SetThreads(o.Threads)
	r := BenchResult{Model: arch, Input: fmt.Sprintf("%d,%d,%d", in.C, in.H, in.W), Params: m.NumParams(),
		Threads: o.Threads, TrainBatch: o.TrainBatch, InferBatch: o.InferBatch}
	rng := rand.New(rand.NewPCG(1, 2))
	n := max(o.TrainBatch, o.InferBatch)
	x := make([]float32, n*in.Size())
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]uint8, o.TrainBatch)
	for i := range y {
		y[i] = uint8(rng.IntN(10))
	}
	dl := make([]float32, o.TrainBatch*10)
	opt := newSGD(m, TrainConfig{Momentum: 0.9})
	step := func() {
		logits := m.Forward(x[:o.TrainBatch*in.Size()], o.TrainBatch, true)
		SoftmaxCrossEntropy(logits, y, o.TrainBatch, 10, dl)
		m.Backward(dl)
		opt.step(0.001)
	}
	infer := func() { m.Forward(x[:o.InferBatch*in.Size()], o.InferBatch, false) }
	measure := func(f func(), batch int) ([]float64, float64, error) {
		f() // warm up: allocates the buffers
		f()
		var runs []float64
		for rep := 0; rep < o.Reps; rep++ {
			if err := ctx.Err(); err != nil {
				return nil, 0, err
			}
			t0 := time.Now()
			k := 0
			for time.Since(t0) < o.MinTime {
				f()
				k++
			}
			runs = append(runs, float64(k*batch)/time.Since(t0).Seconds())
		}
		s := slices.Clone(runs)
		slices.Sort(s)
		return runs, s[len(s)/2], nil
	}
	if r.TrainRuns, r.TrainImagesPerSec, err = measure(step, o.TrainBatch); err != nil {
		return r, err
	}
	if r.InferRuns, r.InferImagesPerSec, err = measure(infer, o.InferBatch); err != nil {
		return r, err
	}
	return r, nil
}
