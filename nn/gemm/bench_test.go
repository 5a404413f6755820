package gemm

import (
	"math/rand/v2"
	"testing"
)

// benchShape is one Sgemm shape to benchmark.
type benchShape struct {
	name           string
	transA, transB bool
	m, n, k        int
}

// benchShapes are square products and the products ccq's models run. Batch
// 128 (training); conv layers fold the batch into N (N = outH*outW*batch).
var benchShapes = []benchShape{
	{name: "square256", m: 256, n: 256, k: 256},
	{name: "square512", m: 512, n: 512, k: 512},
	{name: "square1024", m: 1024, n: 1024, k: 1024},
	{name: "square2048", m: 2048, n: 2048, k: 2048},
	// LeNet-5: conv1 (6 x 25 weights, 28x28 outputs), conv2 (16 x 150,
	// 10x10 outputs), fc1 at inference batch 1024 (y = x W^T).
	{name: "lenet-conv1", m: 6, n: 784 * 128, k: 25},
	{name: "lenet-conv2", m: 16, n: 100 * 128, k: 150},
	{name: "lenet-fc1", transB: true, m: 1024, n: 120, k: 400},
	// ResNet-20 3x3 convolutions of the three stages, forward.
	{name: "resnet-conv16", m: 16, n: 32 * 32 * 128, k: 9 * 16},
	{name: "resnet-conv32", m: 32, n: 16 * 16 * 128, k: 9 * 32},
	{name: "resnet-conv64", m: 64, n: 8 * 8 * 128, k: 9 * 64},
	// ResNet-20 stage 2 backward: weight gradient dW = dY col^T and input
	// gradient dcol = W^T dY.
	{name: "resnet-conv32-dW", transB: true, m: 32, n: 9 * 32, k: 16 * 16 * 128},
	{name: "resnet-conv32-dX", transA: true, m: 9 * 32, n: 16 * 16 * 128, k: 32},
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

func reportGflops(b *testing.B, s benchShape) {
	flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkSgemm measures Sgemm on every benchmark shape with the active
// kernel.
func BenchmarkSgemm(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) {
			a, bb, c, lda, ldb := benchOperands(s)
			for b.Loop() {
				Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
			}
			reportGflops(b, s)
		})
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
				withKernel(kr, func() {
					b.ResetTimer()
					for b.Loop() {
						Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
					}
				})
				reportGflops(b, s)
			})
		}
	}
}

// BenchmarkReference measures the triple loop for the fast/reference ratio.
func BenchmarkReference(b *testing.B) {
	for _, s := range benchShapes[:2] {
		b.Run(s.name, func(b *testing.B) {
			a, bb, c, lda, ldb := benchOperands(s)
			for b.Loop() {
				Reference(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
			}
			reportGflops(b, s)
		})
	}
}
