package evalbench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ccq-project/ccq/quant/engine"
	"github.com/ccq-project/ccq/quant/internal/quanttest"
)

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration { return quanttest.CPUTime() }

// benchChunk reads the chunk size from CCQ_BENCH_CHUNK (0: default).
func benchChunk() int { return quanttest.BenchChunk() }

// BenchmarkEvaluator scores 32 candidates per iteration (batch 1024, 2000
// changed weights each) incrementally and, for comparison, by full forward
// passes; it reports candidates per second. ResNet-20 uses a batch of 256
// to keep the run short.
func BenchmarkEvaluator(b *testing.B) {
	cases := []BenchConfig{
		{Arch: "lenet5", Layer: "fc1"},
		{Arch: "lenet5", Layer: "conv2"},
		{Arch: "lenet5", Layer: "all"},
		{Arch: "lenet5", Layer: "fc1", ActBits: 8},
		{Arch: "lenet5", Layer: "all", ActBits: 8},
		{Arch: "mlp", Layer: "fc2"},
		{Arch: "resnet20", Layer: "linear", Batch: 256, Candidates: 4},
		{Arch: "resnet20", Layer: "layer3.2.conv2", Batch: 256, Candidates: 4},
		{Arch: "resnet20", Layer: "all", Batch: 256, Candidates: 4},
		{Arch: "resnet20", Layer: "all", Batch: 256, Candidates: 4, ActBits: 8},
	}
	for _, cfg := range cases {
		for _, full := range []bool{false, true} {
			name := fmt.Sprintf("%s/%s/a%d", cfg.Arch, cfg.Layer, max(cfg.ActBits, 32))
			if cfg.ActBits != 0 {
				name = fmt.Sprintf("%s/%s/a%d", cfg.Arch, cfg.Layer, cfg.ActBits)
			}
			if full {
				name += "/full"
			} else {
				name += "/incremental"
			}
			b.Run(name, func(b *testing.B) {
				c := cfg
				m, x, y, cands, err := BenchSetup(&c)
				if err != nil {
					b.Fatal(err)
				}
				ev, err := engine.NewEvaluator(m, engine.EvalOptions{FullForward: full, Chunk: benchChunk()})
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				if _, err := ev.Prepare(ctx, x, y); err != nil {
					b.Fatal(err)
				}
				out := make([]engine.Score, len(cands))
				b.ReportAllocs()
				b.ResetTimer()
				cpu0 := cpuTime()
				for i := 0; i < b.N; i++ {
					if err := ev.Score(ctx, cands, out); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*len(cands))/b.Elapsed().Seconds(), "cands/s")
				b.ReportMetric((cpuTime()-cpu0).Seconds()*1000/float64(b.N*len(cands)), "cpu-ms/cand")
			})
		}
	}
}

// BenchmarkPrepare measures the base forward pass that fills the cache
// (once per mini-batch: a generation's overhead on top of its candidates'
// scoring), in CPU milliseconds per pass of 1,024 images.
func BenchmarkPrepare(b *testing.B) {
	for _, c := range []BenchConfig{
		{Arch: "lenet5", ActBits: 32, Candidates: 1},
		{Arch: "resnet20", ActBits: 4, Candidates: 1},
		{Arch: "resnet20", ActBits: 32, Candidates: 1},
	} {
		b.Run(fmt.Sprintf("%s/a%d", c.Arch, c.ActBits), func(b *testing.B) {
			m, x, y, _, err := BenchSetup(&c)
			if err != nil {
				b.Fatal(err)
			}
			ev, err := engine.NewEvaluator(m, engine.EvalOptions{})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				if _, err := ev.Prepare(context.Background(), x, y); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric((cpuTime()-cpu0).Seconds()*1000/float64(b.N), "cpu-ms/prepare")
		})
	}
}
