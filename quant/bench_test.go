package quant

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time (less sensitive than wall
// time to other processes on a shared machine).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchChunk reads the chunk size from CCQ_BENCH_CHUNK (0: default).
func benchChunk() int {
	c, _ := strconv.Atoi(os.Getenv("CCQ_BENCH_CHUNK"))
	return c
}

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
				ev, err := NewEvaluator(m, EvalOptions{FullForward: full, Chunk: benchChunk()})
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				if _, err := ev.Prepare(ctx, x, y); err != nil {
					b.Fatal(err)
				}
				out := make([]Score, len(cands))
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

// BenchmarkPrepare measures the base forward pass that fills the cache.
func BenchmarkPrepare(b *testing.B) {
	c := BenchConfig{Arch: "lenet5", Candidates: 1}
	m, x, y, _, err := BenchSetup(&c)
	if err != nil {
		b.Fatal(err)
	}
	ev, err := NewEvaluator(m, EvalOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		if _, err := ev.Prepare(context.Background(), x, y); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIntegerOnly compares batched integer-only inference
// (IntegerBatch) with the fake-quantized EvaluateModel and the per-sample
// reference IntegerModel on the same model and batch (W4A8; ResNet-20 on
// 256 images): images per second and CPU milliseconds per image.
func BenchmarkIntegerOnly(b *testing.B) {
	for _, cfg := range []BenchConfig{
		{Arch: "lenet5", ActBits: 8, Candidates: 1},
		{Arch: "resnet20", ActBits: 8, Batch: 256, Candidates: 1},
	} {
		for _, path := range []string{"integer", "fakequant", "reference"} {
			b.Run(fmt.Sprintf("%s/a%d/%s", cfg.Arch, cfg.ActBits, path), func(b *testing.B) {
				c := cfg
				m, x, y, _, err := BenchSetup(&c)
				if err != nil {
					b.Fatal(err)
				}
				ib, err := NewIntegerBatch(m)
				if err != nil {
					b.Fatal(err)
				}
				if c := benchChunk(); c > 0 {
					ib.chunk = c
				}
				im, err := NewIntegerModel(m)
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				b.ResetTimer()
				cpu0 := cpuTime()
				for i := 0; i < b.N; i++ {
					switch path {
					case "integer":
						_, err = ib.Evaluate(ctx, x, y, 0)
					case "reference":
						_, err = im.Evaluate(ctx, x, y, 0)
					default:
						_, err = EvaluateModel(ctx, m, x, y, 0)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*len(y))/b.Elapsed().Seconds(), "img/s")
				b.ReportMetric((cpuTime()-cpu0).Seconds()*1000/float64(b.N*len(y)), "cpu-ms/img")
			})
		}
	}
}
