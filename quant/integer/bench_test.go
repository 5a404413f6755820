package integer

import (
	"context"
	"fmt"
	"testing"

	"github.com/ccq-project/ccq/quant/engine"
	"github.com/ccq-project/ccq/quant/evalbench"
)

// BenchmarkIntegerOnly compares batched integer-only inference
// (IntegerBatch) with the fake-quantized EvaluateModel and the per-sample
// reference IntegerModel on the same model and batch (W4A8; ResNet-20 on
// 256 images): images per second and CPU milliseconds per image.
func BenchmarkIntegerOnly(b *testing.B) {
	for _, cfg := range []evalbench.BenchConfig{
		{Arch: "lenet5", ActBits: 8, Candidates: 1},
		{Arch: "resnet20", ActBits: 8, Batch: 256, Candidates: 1},
	} {
		for _, path := range []string{"integer", "fakequant", "reference"} {
			b.Run(fmt.Sprintf("%s/a%d/%s", cfg.Arch, cfg.ActBits, path), func(b *testing.B) {
				c := cfg
				m, x, y, _, err := evalbench.BenchSetup(&c)
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
						_, err = engine.EvaluateModel(ctx, m, x, y, 0)
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
