package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// withThreads runs f with SetThreads(n) and every product, however small,
// split across goroutines.
func withThreads(n int, f func()) {
	saved, savedMin := threadSetting.Load(), parallelMinWork
	SetThreads(n)
	parallelMinWork = 0
	defer func() { threadSetting.Store(saved); parallelMinWork = savedMin }()
	f()
}

// TestThreadsBitIdentical checks that 1, 2 and 3 threads give bit-identical
// results (and correct ones), splitting along M and along N, for every
// transpose combination and with k spanning several k blocks.
func TestThreadsBitIdentical(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	kr := pickKernel(&problem{m: 1000, n: 1000, k: 1000, ldb: 1000})
	for _, sh := range [][3]int{
		{5 * kr.mr, 3, 40},            // split along M
		{3, 7*kr.nr + 5, 40},          // split along N
		{4*kr.mr + 1, 4*kr.nr + 3, 9}, // either
		{2*kr.mr + 3, 3*kr.nr + 1, 2*kr.kc + 7},
	} {
		for tr := 0; tr < 4; tr++ {
			tc := randomCase(rng, tr&1 != 0, tr&2 != 0, sh[0], sh[1], sh[2])
			tc.alpha, tc.beta, tc.nanC = 1.5, -0.5, false
			ga, gb, gc := gemmOperands(rng, tc)
			want, mag := exact(tc, ga.data(), gb.data(), gc.data())
			var first []float32
			for _, threads := range []int{1, 2, 3} {
				what := fmt.Sprintf("threads=%d", threads)
				if threads > 1 {
					if n := splitCount(tc.m, tc.n, 0, kr); n != 1 {
						t.Fatalf("splitCount with no work = %d, want 1", n)
					}
				}
				c := append([]float32(nil), gc.data()...)
				before := workerParts.Load()
				withThreads(threads, func() {
					if got := splitCount(tc.m, tc.n, tc.k, pickKernel(tc.problem())); got != threads {
						t.Fatalf("%s %v: split into %d parts", what, tc, got)
					}
					Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, ga.data(), tc.lda, gb.data(), tc.ldb, tc.beta, c, tc.ldc)
				})
				if got := workerParts.Load() - before; got != int64(threads-1) {
					t.Fatalf("%s %v: helper goroutines ran %d parts, want %d", what, tc, got, threads-1)
				}
				checkResult(t, what, tc, c, want, mag)
				if first == nil {
					first = c
					continue
				}
				for i := range c {
					if math.Float32bits(c[i]) != math.Float32bits(first[i]) {
						t.Fatalf("%s %v: element %d is %v, with 1 thread %v", what, tc, i, c[i], first[i])
					}
				}
			}
		}
	}
}

// TestSetThreads checks the setting and its default.
func TestSetThreads(t *testing.T) {
	saved := threadSetting.Load()
	defer threadSetting.Store(saved)
	SetThreads(3)
	if got := Threads(); got != 3 {
		t.Fatalf("Threads() = %d after SetThreads(3)", got)
	}
	SetThreads(0)
	if got, want := Threads(), runtimeProcs(); got != want {
		t.Fatalf("Threads() = %d after SetThreads(0), want GOMAXPROCS %d", got, want)
	}
	// The small products of the evaluator stay on the calling goroutine.
	SetThreads(8)
	for _, sh := range [][3]int{{16, 100, 150}, {128, 84, 120}, {64, 64, 576}} {
		if n := splitCount(sh[0], sh[1], sh[2], pickKernel(&problem{m: sh[0], n: sh[1], k: sh[2], ldb: sh[1]})); n != 1 {
			t.Errorf("m=%d n=%d k=%d is split into %d parts", sh[0], sh[1], sh[2], n)
		}
	}
	if n := splitCount(1024, 1024, 1024, pickKernel(&problem{m: 1024, n: 1024, k: 1024, ldb: 1024})); n != 8 {
		t.Errorf("1024^3 is split into %d parts, want 8", n)
	}
}

// TestConcurrentCalls runs small and split products from several goroutines
// at once and checks each against the same product computed alone.
func TestConcurrentCalls(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	type job struct {
		tc      gemmCase
		a, b, c []float32
		want    []float32
	}
	var jobs []*job
	for i := 0; i < 12; i++ {
		m, n, k := 1+rng.IntN(40), 1+rng.IntN(200), 1+rng.IntN(60)
		if i%3 == 0 {
			m, n, k = 64+rng.IntN(64), 300+rng.IntN(300), 100+rng.IntN(100) // split
		}
		tc := randomCase(rng, rng.IntN(2) == 0, rng.IntN(2) == 0, m, n, k)
		tc.alpha, tc.beta, tc.nanC = 1, 0.5, false
		ga, gb, gc := gemmOperands(rng, tc)
		j := &job{tc: tc, a: ga.data(), b: gb.data(), c: gc.data()}
		j.want = append([]float32(nil), j.c...)
		Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, j.a, tc.lda, j.b, tc.ldb, tc.beta, j.want, tc.ldc)
		jobs = append(jobs, j)
	}
	saved := threadSetting.Load()
	defer threadSetting.Store(saved)
	SetThreads(3)
	var wg sync.WaitGroup
	results := make([][]float32, len(jobs))
	for rep := 0; rep < 3; rep++ {
		for i, j := range jobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := append([]float32(nil), j.c...)
				tc := j.tc
				Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, j.a, tc.lda, j.b, tc.ldb, tc.beta, c, tc.ldc)
				results[i] = c
			}()
		}
		wg.Wait()
		for i, j := range jobs {
			for e := range j.want {
				if math.Float32bits(results[i][e]) != math.Float32bits(j.want[e]) {
					t.Fatalf("job %d %v: element %d is %v concurrently, %v alone", i, j.tc, e, results[i][e], j.want[e])
				}
			}
		}
	}
}

// TestSgemmNoAllocParallel checks that split calls do not allocate either.
func TestSgemmNoAllocParallel(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	m, n, k := 64, 500, 100
	a := make([]float32, m*k)
	b := make([]float32, k*n)
	c := make([]float32, m*n)
	withThreads(2, func() {
		allocs := testing.AllocsPerRun(20, func() {
			Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
			Sgemm(true, true, m, n, k, 1, a, m, b, k, 1, c, n)
		})
		if allocs != 0 {
			t.Errorf("%v allocations per call pair, want 0", allocs)
		}
	})
}

func TestKernelIsACandidate(t *testing.T) {
	name := Kernel()
	found := false
	for _, k := range kernels() {
		if k.name == name {
			found = true
		}
	}
	if !found {
		t.Errorf("Kernel() = %q, not one of the kernels this build runs", name)
	}
	if hasAVX := len(kernels()) > 1; hasAVX == (name == goKernel.name) {
		t.Errorf("Kernel() = %q with %d kernels available", name, len(kernels()))
	}
}
