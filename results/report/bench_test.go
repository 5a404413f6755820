package report

import (
	"context"
	"os"
	"sync"
	"testing"
)

var (
	benchOnce sync.Once
	benchDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// BenchmarkBuild100x5000 measures ccq report on a synthetic experiment of
// 100 evolve runs x 5,000 generations (2 models x 2 bit widths x 5 variants
// x 5 seeds; 500 generation parts of 1,000 rows; validation every 50
// generations), generated once per process. The bar: under 5 s on
// 2 cores, SVG and PNG plots included.
func BenchmarkBuild100x5000(b *testing.B) {
	benchOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ccq-report-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchDir = dir
		writeSynthetic(b, dir, synth{datasets: []string{"mnist"}, models: []string{"lenet5", "mlp"}, bits: []int32{2, 4},
			variants: []string{"ccea", "ccea-random", "ccea-layer", "eda", "mutation-ea"}, seeds: 5, generations: 5000,
			valEvery: 50, lambda: 32})
	})
	b.ResetTimer()
	for b.Loop() {
		sum, err := Build(context.Background(), benchDir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if sum.EvolveRuns != 100 || sum.Generations != 500000 {
			b.Fatalf("summary: %d runs, %d generations", sum.EvolveRuns, sum.Generations)
		}
	}
}
