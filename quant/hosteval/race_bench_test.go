package hosteval

import (
	"context"
	"os"
	"testing"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/plugins/builtin"
	"github.com/ccq-project/ccq/plugins/host"
	"github.com/ccq-project/ccq/plugins/optimizer"
	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/engine"
)

// BenchmarkRace runs ccea (default parameters, seed 1) for 5,000
// evaluations on 1,024-image batches without racing and with race = "z"
// (fraction 0.25, z 3, keep mu + 2), from the start model in
// $CCQ_BENCH_MODEL (a model.safetensors, for example an mse start from the
// store) on $CCQ_BENCH_DATASET's training split (default fashion-mnist).
// Both follow the same trajectory; it reports the time per run and the
// share of candidate-images the race skipped. Skipped without the model.
//
//	CCQ_BENCH_MODEL=.../model.safetensors go test -run - -bench Race -benchtime 2x ./quant/hosteval
func BenchmarkRace(b *testing.B) {
	path := os.Getenv("CCQ_BENCH_MODEL")
	if path == "" {
		b.Skip("set CCQ_BENCH_MODEL to a start model (model.safetensors)")
	}
	name := os.Getenv("CCQ_BENCH_DATASET")
	if name == "" {
		name = "fashion-mnist"
	}
	ctx := context.Background()
	m, err := quant.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	d, err := datasets.Load(ctx, name, datasets.Options{})
	if err != nil {
		b.Skipf("dataset %s: %v", name, err)
	}
	keep, err := builtin.RaceKeep("ccea", nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		race *host.Race
	}{{"off", nil}, {"z", &host.Race{Fraction: 0.25, Z: 3, Keep: keep}}} {
		b.Run(bc.name, func(b *testing.B) {
			var skipped, images int64
			for b.Loop() {
				ev, err := engine.NewEvaluator(m, engine.EvalOptions{})
				if err != nil {
					b.Fatal(err)
				}
				hev, err := New(ev, &SplitSampler{D: d, S: &d.Train}, 1024)
				if err != nil {
					b.Fatal(err)
				}
				opt, err := builtin.New("ccea")
				if err != nil {
					b.Fatal(err)
				}
				cfg := host.Config{Problem: benchProblem(m), Evaluator: hev, Budget: host.Budget{Evaluations: 5000}, Race: bc.race,
					OnGeneration: func(_ context.Context, r *host.Row) error {
						skipped += r.RaceSkippedImages
						images += int64(r.Candidates) * 1024
						return nil
					}}
				if _, err := host.Run(ctx, opt, cfg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(100*float64(skipped)/float64(images), "skipped-images-%")
		})
	}
}

// benchProblem is the evolve stage's problem for a start model, seed 1.
func benchProblem(m *quant.Model) *optimizer.Problem {
	start := m.Flat()
	lo, hi := quant.LevelRange(m.Bits)
	pr := &optimizer.Problem{Start: start, Lo: make([]int8, len(start)), Hi: make([]int8, len(start)), Seed: 1}
	for i := range start {
		pr.Lo[i], pr.Hi[i] = int8(lo), int8(hi)
	}
	for _, v := range m.Layout() {
		pr.Layers = append(pr.Layers, optimizer.Layer{Name: v.Name, Offset: v.Offset, Count: v.Count, Shape: v.Shape})
	}
	return pr
}
