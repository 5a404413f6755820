package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchShape is one Sgemm shape to benchmark.
type benchShape struct {
	name           string
	transA, transB bool
	m, n, k        int
}

// benchShapes are square products and the products ccq's models run.
// Convolutions as GEMM: C[Cout, outH*outW] = W[Cout, Cin*K*K] x col; "-img"
// is one image (N = outH*outW, col fresh in cache), "-b128" folds a batch of
// 128 images into N (col far larger than the caches: memory-bound).
var benchShapes = []benchShape{
	{name: "square256", m: 256, n: 256, k: 256},
	{name: "square512", m: 512, n: 512, k: 512},
	{name: "square1024", m: 1024, n: 1024, k: 1024},
	{name: "square2048", m: 2048, n: 2048, k: 2048},
	// LeNet-5: conv1 (6 x 25 weights, 28x28 outputs), conv2 (16 x 150,
	// 10x10 outputs); fc1 at inference batch 1024 (y = x W^T).
	{name: "lenet-conv1-img", m: 6, n: 784, k: 25},
	{name: "lenet-conv1-b128", m: 6, n: 784 * 128, k: 25},
	{name: "lenet-conv2-img", m: 16, n: 100, k: 150},
	{name: "lenet-conv2-b128", m: 16, n: 100 * 128, k: 150},
	{name: "lenet-fc1-b1024", transB: true, m: 1024, n: 120, k: 400},
	// ResNet-20 3x3 convolutions of the three stages, forward.
	{name: "resnet-conv16-img", m: 16, n: 32 * 32, k: 9 * 16},
	{name: "resnet-conv32-img", m: 32, n: 16 * 16, k: 9 * 32},
	{name: "resnet-conv64-img", m: 64, n: 8 * 8, k: 9 * 64},
	{name: "resnet-conv16-b128", m: 16, n: 32 * 32 * 128, k: 9 * 16},
	{name: "resnet-conv32-b128", m: 32, n: 16 * 16 * 128, k: 9 * 32},
	{name: "resnet-conv64-b128", m: 64, n: 8 * 8 * 128, k: 9 * 64},
	// ResNet-20 stage 2 backward, one image: weight gradient dW += dY col^T
	// and column gradient dcol = W^T dY.
	{name: "resnet-conv32-dW-img", transB: true, m: 32, n: 9 * 32, k: 16 * 16},
	{name: "resnet-conv32-dX-img", transA: true, m: 9 * 32, n: 16 * 16, k: 32},
}

func benchOperands(s benchShape) (a, b, c []float32, lda, ldb int) {
	rng := rand.New(rand.NewPCG(1, 1))
	a = make([]float32, s.m*s.k)
	b = make([]float32, s.k*s.n)
	c = make([]float32, s.m*s.n)
	fillRandom(rng, a)
	fillRandom(rng, b)
	lda, ldb = s.k, s.n
	if s.transA {
		lda = s.m
	}
	if s.transB {
		ldb = s.k
	}
	return a, b, c, lda, ldb
}

// reportGflops reports GFLOP/s by wall-clock time and, for single-threaded
// runs (cpu > 0), by the CPU time of the benchmark's thread: on a machine
// shared with other work the second figure is not lowered by time slices
// spent on other processes (cache and memory contention still count).
func reportGflops(b *testing.B, s benchShape, cpu float64) {
	flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if cpu > 0 {
		b.ReportMetric(flops/cpu/1e9, "cpu-GFLOP/s")
	}
}

// timeLoop runs f b.N times (via b.Loop) and returns the CPU time of the
// calling thread spent in it (0 if unknown).
func timeLoop(b *testing.B, f func()) float64 {
	defer lockThread()()
	t0 := threadCPUTime()
	for b.Loop() {
		f()
	}
	return threadCPUTime() - t0
}

// BenchmarkSgemm measures Sgemm on every benchmark shape on one thread and
// on Threads() threads (when more than one).
func BenchmarkSgemm(b *testing.B) {
	threads := []int{1}
	if t := Threads(); t > 1 {
		threads = append(threads, t)
	}
	for _, s := range benchShapes {
		for _, t := range threads {
			b.Run(fmt.Sprintf("%s/threads=%d", s.name, t), func(b *testing.B) {
				a, bb, c, lda, ldb := benchOperands(s)
				saved := threadSetting.Load()
				SetThreads(t)
				defer threadSetting.Store(saved)
				cpu := timeLoop(b, func() {
					Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
				})
				if t > 1 {
					cpu = 0 // other threads' time is not counted
				}
				reportGflops(b, s, cpu)
			})
		}
	}
}

// BenchmarkKernels measures every kernel this CPU can run on every
// benchmark shape but the largest.
func BenchmarkKernels(b *testing.B) {
	for _, kr := range kernels() {
		for _, s := range benchShapes {
			if s.name == "square2048" {
				continue
			}
			b.Run(kr.name+"/"+s.name, func(b *testing.B) {
				a, bb, c, lda, ldb := benchOperands(s)
				saved := threadSetting.Load()
				SetThreads(1)
				defer threadSetting.Store(saved)
				var cpu float64
				withKernel(kr, func() {
					cpu = timeLoop(b, func() {
						Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
					})
				})
				reportGflops(b, s, cpu)
			})
		}
	}
}

// BenchmarkReference measures the triple loop for the fast/reference ratio.
func BenchmarkReference(b *testing.B) {
	for _, s := range benchShapes[:2] {
		b.Run(s.name, func(b *testing.B) {
			a, bb, c, lda, ldb := benchOperands(s)
			cpu := timeLoop(b, func() {
				Reference(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
			})
			reportGflops(b, s, cpu)
		})
	}
}
