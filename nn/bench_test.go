package nn

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Benchmarks of a training step (batch 128) and inference (batch 1024) per
// model on random data, with GOMAXPROCS threads; images/s is reported as a
// custom metric.

func benchModel(b *testing.B, arch string, train bool) {
	in := BenchInput(arch)
	g, err := BuildGraph(arch, in, 10)
	if err != nil {
		b.Fatal(err)
	}
	m, _ := NewModel(g, 1)
	defer m.Close()
	batch := 1024
	if train {
		batch = 128
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, batch*in.Size())
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]uint8, batch)
	dl := make([]float32, batch*10)
	opt := newSGD(m, TrainConfig{Momentum: 0.9})
	run := func() {
		if !train {
			m.Forward(x, batch, false)
			return
		}
		lg := m.Forward(x, batch, true)
		SoftmaxCrossEntropy(lg, y, batch, 10, dl)
		m.Backward(dl)
		opt.step(0.001)
	}
	run()
	b.ReportAllocs()
	c0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "img/s")
	// CPU time per image is less sensitive than wall time to other
	// processes on a shared machine.
	b.ReportMetric((cpuTime()-c0).Seconds()*1e6/float64(b.N*batch), "cpu-us/img")
}

func BenchmarkTrainLeNet5(b *testing.B)   { benchModel(b, "lenet5", true) }
func BenchmarkInferLeNet5(b *testing.B)   { benchModel(b, "lenet5", false) }
func BenchmarkTrainMLP(b *testing.B)      { benchModel(b, "mlp", true) }
func BenchmarkInferMLP(b *testing.B)      { benchModel(b, "mlp", false) }
func BenchmarkTrainResNet20(b *testing.B) { benchModel(b, "resnet20", true) }
func BenchmarkInferResNet20(b *testing.B) { benchModel(b, "resnet20", false) }

// BenchmarkIm2col measures im2col for ResNet-20's stage-1 and stage-3
// convolutions (one sample).
func BenchmarkIm2col(b *testing.B) {
	for _, s := range []Shape{{16, 32, 32}, {64, 8, 8}} {
		g := newConvGeom(s, s, 3, 1, 1)
		x := make([]float32, s.Size())
		col := make([]float32, g.ckk*g.ohw)
		b.Run(fmt.Sprintf("%dx%dx%d", s.C, s.H, s.W), func(b *testing.B) {
			b.SetBytes(int64(4 * len(col)))
			for b.Loop() {
				im2col(&g, x, col)
			}
		})
	}
}
