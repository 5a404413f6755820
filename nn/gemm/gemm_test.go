package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// testDims are the sizes tried for m, n and k by TestSgemm: 1, tiny, odd,
// around the register tiles of the kernels (4, 6, 8, 12, 16, 24, 32, 48, 64)
// and not multiples of them.
var testDims = []int{1, 2, 3, 5, 7, 8, 13, 16, 17, 31, 33, 49, 65}

// alphaBetas are the scalings tried; beta 0 is tried with C full of NaN.
var alphaBetas = [][2]float32{{1, 0}, {1, 1}, {-0.5, 1.5}, {2, 0}, {0.75, -1}, {0, 0.5}, {0, 0}}

// shapeCases returns test cases for every (m, n, k) from the given lists and
// every transpose combination, with the scaling, strides and offsets varied
// pseudo-randomly so that every combination of features appears without the
// product of all of them.
func shapeCases(rng *rand.Rand, ms, ns, ks []int) []gemmCase {
	var out []gemmCase
	for _, m := range ms {
		for _, n := range ns {
			for _, k := range ks {
				for tr := 0; tr < 4; tr++ {
					out = append(out, randomCase(rng, tr&1 != 0, tr&2 != 0, m, n, k))
				}
			}
		}
	}
	return out
}

// randomCase fills in scaling, strides and offsets for a shape.
func randomCase(rng *rand.Rand, transA, transB bool, m, n, k int) gemmCase {
	tc := gemmCase{transA: transA, transB: transB, m: m, n: n, k: k}
	ab := alphaBetas[rng.IntN(len(alphaBetas))]
	tc.alpha, tc.beta = ab[0], ab[1]
	tc.nanC = tc.beta == 0
	_, ac := storedShape(tc.transA, m, k)
	_, bc := storedShape(tc.transB, k, n)
	tc.lda = ac + pick(rng, 0, 1, 3, 17)
	tc.ldb = bc + pick(rng, 0, 1, 5, 16)
	tc.ldc = n + pick(rng, 0, 2, 7, 16)
	tc.offA = rng.IntN(16)
	tc.offB = rng.IntN(16)
	tc.offC = rng.IntN(16)
	return tc
}

func pick(rng *rand.Rand, vals ...int) int { return vals[rng.IntN(len(vals))] }

// TestSgemm checks Sgemm as callers use it (kernel chosen by shape) against
// the exact result over many shapes.
func TestSgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, tc := range shapeCases(rng, testDims, testDims, testDims) {
		runCase(t, "Sgemm", rng, tc)
	}
}

// kernelDims returns sizes around a register tile dimension r.
func kernelDims(r int) []int { return uniq(1<<30, 1, r-1, r, r+1, 2*r+3) }

// TestSgemmKernels checks Sgemm with each kernel this build and CPU can run
// forced, on shapes around its register tile: with its own cache blocking
// and with tiny blocks (so that small shapes cross every block boundary),
// and with B read in place or packed.
func TestSgemmKernels(t *testing.T) {
	for _, kr := range kernels() {
		for _, k := range []*kernel{kr, smallBlocking(kr)} {
			for _, direct := range []bool{true, false} {
				name := fmt.Sprintf("%s/directB=%v", k.name, direct)
				t.Run(name, func(t *testing.T) {
					rng := rand.New(rand.NewPCG(1, uint64(len(name))))
					savedE, savedF := directBEnabled, directBForce
					directBEnabled, directBForce = direct, direct
					defer func() { directBEnabled, directBForce = savedE, savedF }()
					withKernel(k, func() {
						for _, tc := range shapeCases(rng, kernelDims(k.mr), kernelDims(k.nr), []int{1, 2, 5, 17}) {
							runCase(t, name, rng, tc)
						}
					})
				})
			}
		}
	}
}

// TestSgemmLarge checks shapes larger than the production cache blocks (k
// above kc, m above mc, n above nc) for every kernel.
func TestSgemmLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large shapes skipped in -short mode")
	}
	for _, kr := range kernels() {
		t.Run(kr.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(2, 2))
			withKernel(kr, func() {
				for _, tc := range []gemmCase{
					{m: kr.mc + 3, n: 37, k: 2*kr.kc + 5, alpha: 1, beta: 0.5, lda: 2*kr.kc + 5, ldb: 40, ldc: 37},
					{transA: true, transB: true, m: 29, n: kr.nc + kr.nr + 1, k: kr.kc + 1, alpha: -1, beta: 0, nanC: true,
						lda: 29, ldb: kr.kc + 1, ldc: kr.nc + kr.nr + 9},
				} {
					runCase(t, kr.name, rng, tc)
				}
			})
		})
	}
}

// TestReferenceTolerance checks that the float32 reference itself meets the
// tolerance used for the kernels, so that the tolerance is not too tight to
// be meaningful nor the exact computation wrong.
func TestReferenceTolerance(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	dims := []int{1, 4, 17, 64}
	for _, tc := range shapeCases(rng, dims, dims, dims) {
		ga, gb, gc := gemmOperands(rng, tc)
		want, mag := exact(tc, ga.data(), gb.data(), gc.data())
		if tc.alpha == 0 {
			continue // Reference reads A and B even when alpha is 0
		}
		Reference(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, ga.data(), tc.lda, gb.data(), tc.ldb, tc.beta, gc.data(), tc.ldc)
		checkResult(t, "Reference", tc, gc.data(), want, mag)
	}
}

// TestToleranceCatchesErrors makes sure the check is sharp enough to notice
// a result off by one term of the sum.
func TestToleranceCatchesErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	tc := gemmCase{m: 3, n: 4, k: 50, alpha: 1, beta: 0, lda: 50, ldb: 4, ldc: 4}
	ga, gb, gc := gemmOperands(rng, tc)
	want, mag := exact(tc, ga.data(), gb.data(), gc.data())
	Sgemm(false, false, tc.m, tc.n, tc.k, 1, ga.data(), tc.lda, gb.data(), tc.ldb, 0, gc.data(), tc.ldc)
	// Drop the last term of C[1,2].
	c := gc.data()
	c[1*tc.ldc+2] -= ga.data()[1*tc.lda+49] * gb.data()[49*tc.ldb+2]
	ft := &fakeT{}
	func() {
		defer func() { _ = recover() }()
		checkResult(ft, "corrupted", tc, c, want, mag)
	}()
	if !ft.failed {
		t.Fatal("checkResult accepted a result missing one term of its sum")
	}
}

// fakeT records a failure instead of stopping the test.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = true
	panic("fatal")
}

// TestMicroKernels runs every kernel's micro-kernel directly on guarded
// packed panels, for partial tiles and several k, against microGo.
func TestMicroKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, kr := range kernels() {
		t.Run(kr.name, func(t *testing.T) {
			twin := microGo(kr.mr, kr.nr)
			for _, kc := range []int{1, 2, 3, 4, 7, 8, 9, 16, 33} {
				for _, mr := range uniq(kr.mr, 1, kr.mr/2+1, kr.mr-1, kr.mr) {
					for _, nr := range uniq(kr.nr, 1, 7, kr.nr/2+1, kr.nr-1, kr.nr) {
						for _, beta := range []float32{0, 1, -0.5} {
							checkMicro(t, kr, twin, rng, kc, mr, nr, beta)
						}
					}
				}
			}
		})
	}
}

// uniq returns the distinct values in 1..hi.
func uniq(hi int, vals ...int) []int {
	var out []int
	seen := map[int]bool{}
	for _, v := range vals {
		if v >= 1 && v <= hi && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func checkMicro(t *testing.T, kr *kernel, twin microFunc, rng *rand.Rand, kc, mr, nr int, beta float32) {
	t.Helper()
	ldc := kr.nr + 3
	ldb := kr.nr + pick(rng, 0, 0, 5) // packed panel, or B read in place
	ga := newGuarded(kc*kr.mr, rng.IntN(16))
	gb := newGuarded((kc-1)*ldb+kr.nr, rng.IntN(16))
	fillRandom(rng, ga.data())
	fillRandom(rng, gb.data())
	cLen := matLen(mr, nr, ldc)
	gc := newGuarded(cLen, rng.IntN(16))
	gw := newGuarded(cLen, 0)
	for i := 0; i < mr; i++ {
		for j := 0; j < nr; j++ {
			v := rng.Float32()*2 - 1
			if beta == 0 {
				v = float32(math.NaN())
			}
			gc.data()[i*ldc+j] = v
			gw.data()[i*ldc+j] = v
		}
	}
	gc.snapshot()
	alpha := float32(1.25)
	kr.fn(kc, ga.data(), gb.data(), gc.data(), ldb, ldc, alpha, beta, mr, nr)
	twin(kc, ga.data(), gb.data(), gw.data(), ldb, ldc, alpha, beta, mr, nr)
	what := fmt.Sprintf("%s kc=%d mr=%d nr=%d ldb=%d beta=%v", kr.name, kc, mr, nr, ldb, beta)
	gc.checkGuards(t, what)
	for i := 0; i < mr; i++ {
		for j := 0; j < ldc; j++ {
			idx := i*ldc + j
			if idx >= cLen {
				break
			}
			got, want := gc.data()[idx], gw.data()[idx]
			if j >= nr {
				if math.Float32bits(got) != math.Float32bits(gc.initial[idx]) {
					t.Fatalf("%s: C[%d,%d] outside the tile was written", what, i, j)
				}
				continue
			}
			var mag float64
			for p := 0; p < kc; p++ {
				mag += math.Abs(float64(ga.data()[p*kr.mr+i]) * float64(gb.data()[p*ldb+j]))
			}
			mag *= float64(alpha)
			if beta != 0 {
				mag += math.Abs(float64(beta) * float64(gc.initial[idx]))
			}
			if tol := tolerance(kc, mag); math.IsNaN(float64(got)) || math.Abs(float64(got)-float64(want)) > tol {
				t.Fatalf("%s: C[%d,%d] = %v, twin gives %v (tolerance %.3g)", what, i, j, got, want, tol)
			}
		}
	}
}

// TestPack checks the packed layouts against their definition, including the
// zero padding of partial micro-panels.
func TestPack(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	for _, trans := range []bool{false, true} {
		for _, r := range []int{1, 8, 8 + 3, 32 + 5} {
			for _, kc := range []int{1, 3, 9} {
				for _, rt := range []int{4, 6, 8, 16, 32} {
					rows, cols := r+2, kc+3 // the source matrix, larger than the block
					sr, sc := storedShape(trans, rows, cols)
					ld := sc + 2
					src := make([]float32, matLen(sr, sc, ld))
					fillRandom(rng, src)
					at := func(i, p int) float32 {
						if trans {
							return src[p*ld+i]
						}
						return src[i*ld+p]
					}
					panels := (r + rt - 1) / rt
					dst := make([]float32, panels*kc*rt)
					for i := range dst {
						dst[i] = float32(math.NaN())
					}
					// Pack rows 1..r of op(A), columns 2..2+kc.
					packA(dst, src, ld, trans, 1, r, 2, kc, rt)
					for q := 0; q < panels; q++ {
						for p := 0; p < kc; p++ {
							for ii := 0; ii < rt; ii++ {
								got := dst[q*kc*rt+p*rt+ii]
								want := float32(0)
								if q*rt+ii < r {
									want = at(1+q*rt+ii, 2+p)
								}
								if got != want {
									t.Fatalf("packA trans=%v r=%d kc=%d mr=%d: panel %d [%d,%d] = %v, want %v", trans, r, kc, rt, q, p, ii, got, want)
								}
							}
						}
					}
					// packB of op(B) = op(A)^T: B(p, j) = A(j, p); transB
					// means B stored as n x k, which is A's non-transposed
					// storage.
					for i := range dst {
						dst[i] = float32(math.NaN())
					}
					packB(dst, src, ld, !trans, 2, kc, 1, r, rt)
					for q := 0; q < panels; q++ {
						for p := 0; p < kc; p++ {
							for jj := 0; jj < rt; jj++ {
								got := dst[q*kc*rt+p*rt+jj]
								want := float32(0)
								if q*rt+jj < r {
									want = at(1+q*rt+jj, 2+p)
								}
								if got != want {
									t.Fatalf("packB trans=%v r=%d kc=%d nr=%d: panel %d [%d,%d] = %v, want %v", !trans, r, kc, rt, q, p, jj, got, want)
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestSgemmPanics checks that malformed arguments are reported, not read out
// of bounds.
func TestSgemmPanics(t *testing.T) {
	buf := make([]float32, 100)
	for _, tc := range []struct {
		name string
		call func()
		msg  string
	}{
		{"negative m", func() { Sgemm(false, false, -1, 2, 2, 1, buf, 2, buf, 2, 0, buf, 2) }, "negative dimension"},
		{"lda too small", func() { Sgemm(false, false, 2, 2, 3, 1, buf, 2, buf, 2, 0, buf, 2) }, "ldA=2"},
		{"ldb too small transB", func() { Sgemm(false, true, 2, 2, 3, 1, buf, 3, buf, 2, 0, buf, 2) }, "ldB=2"},
		{"ldc too small", func() { Sgemm(false, false, 2, 3, 2, 1, buf, 2, buf, 3, 0, buf, 2) }, "ldC=2"},
		{"short A", func() { Sgemm(false, false, 10, 2, 11, 1, buf, 11, buf, 2, 0, buf, 2) }, "A has 100 elements"},
		{"short B transB", func() { Sgemm(false, true, 2, 10, 11, 1, buf, 11, buf, 11, 0, buf, 10) }, "B has 100 elements"},
		{"short C", func() { Sgemm(false, false, 11, 10, 1, 1, buf, 1, buf, 10, 0, buf, 10) }, "C has 100 elements"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("no panic")
				}
				if s := fmt.Sprint(r); !strings.Contains(s, tc.msg) {
					t.Fatalf("panic %q does not mention %q", s, tc.msg)
				}
			}()
			tc.call()
		})
	}
	// Empty products are valid with empty slices.
	Sgemm(false, false, 0, 5, 3, 1, nil, 3, buf, 5, 0, nil, 5)
	Sgemm(true, true, 4, 0, 3, 1, buf, 4, nil, 3, 0, nil, 1)
}

// TestSgemmNoAlloc checks that steady-state calls do not allocate.
func TestSgemmNoAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	for _, sz := range [][3]int{{16, 100, 150}, {64, 300, 200}, {3, 5, 7}} {
		m, n, k := sz[0], sz[1], sz[2]
		a := make([]float32, m*k)
		b := make([]float32, k*n)
		c := make([]float32, m*n)
		allocs := testing.AllocsPerRun(20, func() {
			Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n)
			Sgemm(true, false, m, n, k, 1, a, m, b, n, 1, c, n)
		})
		if allocs != 0 {
			t.Errorf("m=%d n=%d k=%d: %v allocations per call pair, want 0", m, n, k, allocs)
		}
	}
}

// FuzzSgemm compares Sgemm with the exact product on random small shapes,
// transposes, strides, offsets and scalings.
func FuzzSgemm(f *testing.F) {
	f.Add(uint8(3), uint8(5), uint8(7), uint8(0), uint8(0), uint64(1))
	f.Add(uint8(17), uint8(33), uint8(1), uint8(3), uint8(9), uint64(2))
	f.Add(uint8(1), uint8(1), uint8(40), uint8(1), uint8(255), uint64(3))
	f.Fuzz(func(t *testing.T, m, n, k, flags, pad uint8, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, uint64(flags)))
		tc := gemmCase{
			transA: flags&1 != 0, transB: flags&2 != 0,
			m: int(m%70) + 1, n: int(n%70) + 1, k: int(k%70) + 1,
		}
		ab := alphaBetas[int(flags>>2)%len(alphaBetas)]
		tc.alpha, tc.beta = ab[0], ab[1]
		tc.nanC = tc.beta == 0
		_, ac := storedShape(tc.transA, tc.m, tc.k)
		_, bc := storedShape(tc.transB, tc.k, tc.n)
		tc.lda = ac + int(pad&3)
		tc.ldb = bc + int(pad>>2&7)
		tc.ldc = tc.n + int(pad>>5)
		tc.offA, tc.offB, tc.offC = int(pad%16), int(pad/16), int(flags%16)
		runCase(t, "fuzz", rng, tc)
	})
}

// TestAsmKernelsBitIdentical checks the claim pickKernel relies on: every
// assembly kernel, reading B in place or packed, gives bit-identical
// results (one FMA per k step in order, the same k blocks, the same final
// scaling), so the kernel choice never changes results.
func TestAsmKernelsBitIdentical(t *testing.T) {
	var asm []*kernel
	for _, kr := range kernels() {
		if kr != &goKernel {
			asm = append(asm, kr)
		}
	}
	if len(asm) < 2 {
		t.Skip("fewer than two assembly kernels on this build and CPU")
	}
	rng := rand.New(rand.NewPCG(16, 16))
	for _, sh := range [][3]int{{13, 70, 9}, {17, 33, 400}, {50, 21, 800}} {
		for tr := 0; tr < 4; tr++ {
			tc := randomCase(rng, tr&1 != 0, tr&2 != 0, sh[0], sh[1], sh[2])
			tc.alpha, tc.beta, tc.nanC = 0.75, 1.25, false
			ga, gb, gc := gemmOperands(rng, tc)
			var first []float32
			var firstName string
			for _, kr := range asm {
				for _, direct := range []bool{false, true} {
					c := append([]float32(nil), gc.data()...)
					savedE, savedF := directBEnabled, directBForce
					directBEnabled, directBForce = direct, direct
					withKernel(kr, func() {
						Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, ga.data(), tc.lda, gb.data(), tc.ldb, tc.beta, c, tc.ldc)
					})
					directBEnabled, directBForce = savedE, savedF
					name := fmt.Sprintf("%s/directB=%v", kr.name, direct)
					if first == nil {
						first, firstName = c, name
						continue
					}
					for i := range c {
						if math.Float32bits(c[i]) != math.Float32bits(first[i]) {
							t.Fatalf("%v: element %d is %v with %s, %v with %s", tc, i, c[i], name, first[i], firstName)
						}
					}
				}
			}
		}
	}
}
