package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// rowsCase builds a product with B given by row offsets into a guarded
// source (rows overlapping, repeated and in any order, as a convolution's
// taps are) and the same B stored explicitly.
func rowsCase(rng *rand.Rand, k, n, unit int) (src *guarded, off []int, explicit []float32) {
	nOff := 3 + rng.IntN(40)
	src = newGuarded((nOff-1)*unit+n, rng.IntN(16))
	fillRandom(rng, src.data())
	off = make([]int, k)
	explicit = make([]float32, k*n)
	for p := range off {
		off[p] = rng.IntN(nOff)
		copy(explicit[p*n:(p+1)*n], src.data()[off[p]*unit:])
	}
	return src, off, explicit
}

// TestMulRowsMatchesSgemm checks that PackA + MulRows give bit for bit
// Sgemm's result on the explicit B, with every kernel of this build (those
// with row offsets and those for which MulRows gathers panels) and with the
// default choice, for partial tiles, one and several k blocks and beta 0, 1
// and another value; C outside the product is not written.
func TestMulRowsMatchesSgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 7))
	kinds := append([]*kernel{nil}, kernels()...)
	for _, kr := range kinds {
		name := "default"
		if kr != nil {
			name = kr.name
		}
		t.Run(name, func(t *testing.T) {
			for _, sh := range [][3]int{{1, 1, 1}, {16, 512, 144}, {13, 37, 27}, {32, 100, 288}, {64, 129, 576}, {7, 33, 800}} {
				for _, beta := range []float32{0, 1, -0.75} {
					m, n, k := sh[0], sh[1], sh[2]
					unit := n + rng.IntN(3)
					src, off, bx := rowsCase(rng, k, n, unit)
					lda, ldc := k+rng.IntN(3), n+rng.IntN(5)
					a := make([]float32, (m-1)*lda+k)
					fillRandom(rng, a)
					c0 := make([]float32, (m-1)*ldc+n)
					fillRandom(rng, c0)
					want := append([]float32(nil), c0...)
					gc := newGuarded(len(c0), rng.IntN(16))
					copy(gc.data(), c0)
					gc.snapshot()
					run := func() {
						Sgemm(false, false, m, n, k, 1, a, lda, bx, n, beta, want, ldc)
						p := PlanRows(m, k)
						ap := make([]float32, p.PackedLen())
						p.PackA(ap, a, lda)
						p.MulRows(ap, n, src.data(), off, unit, beta, gc.data(), ldc)
					}
					if kr != nil {
						withKernel(kr, run)
					} else {
						run()
					}
					what := fmt.Sprintf("%s m=%d n=%d k=%d beta=%v", name, m, n, k, beta)
					gc.checkGuards(t, what)
					src.checkGuards(t, what+" (B)")
					got := gc.data()
					for i := 0; i < m; i++ {
						for j := 0; j < ldc && i*ldc+j < len(got); j++ {
							idx := i*ldc + j
							w := want[idx]
							if j >= n {
								w = gc.initial[idx]
							}
							if math.Float32bits(got[idx]) != math.Float32bits(w) {
								t.Fatalf("%s: C[%d,%d] = %v, Sgemm gives %v", what, i, j, got[idx], w)
							}
						}
					}
				}
			}
		})
	}
}

// TestRowsKernels runs every micro-kernel that reads B by row offsets on
// guarded buffers, for partial tiles and several k, against its pure-Go
// twin microGoRows (within the rounding tolerance) and against the same
// kernel on the gathered panel (bit for bit).
func TestRowsKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 2))
	n := 0
	for _, kr := range kernels() {
		if kr.rows == nil {
			continue
		}
		n++
		twin := microGoRows(kr.mr, kr.nr)
		for _, kc := range []int{1, 2, 3, 4, 5, 8, 9, 33} {
			for _, mr := range uniq(kr.mr, 1, kr.mr/2+1, kr.mr-1, kr.mr) {
				for _, nr := range uniq(kr.nr, 1, 7, kr.nr/2+1, kr.nr-1, kr.nr) {
					for _, beta := range []float32{0, 1, -0.5} {
						checkRowsMicro(t, kr, twin, rng, kc, mr, nr, beta)
					}
				}
			}
		}
	}
	if n == 0 {
		t.Skip("no kernel with row offsets on this build and CPU")
	}
}

func checkRowsMicro(t *testing.T, kr *kernel, twin rowsFunc, rng *rand.Rand, kc, mr, nr int, beta float32) {
	t.Helper()
	unit := kr.nr + rng.IntN(9)
	src, off, _ := rowsCase(rng, kc, kr.nr, unit)
	src.snapshot()
	for p := range off {
		off[p] *= unit
	}
	ga := newGuarded(kc*kr.mr, rng.IntN(16))
	fillRandom(rng, ga.data())
	// The gathered panel, only nr columns valid (the rest NaN: a kernel
	// reading them would spoil the bit-for-bit comparison).
	panel := make([]float32, kc*kr.nr)
	for p := range kc {
		for j := range kr.nr {
			panel[p*kr.nr+j] = float32(math.NaN())
			if j < nr {
				panel[p*kr.nr+j] = src.data()[off[p]+j]
			}
		}
	}
	ldc := kr.nr + 3
	cLen := matLen(mr, nr, ldc)
	gc, gw, gp := newGuarded(cLen, rng.IntN(16)), newGuarded(cLen, 0), newGuarded(cLen, 0)
	for i := range cLen {
		v := rng.Float32()*2 - 1
		if beta == 0 {
			v = float32(math.NaN())
		}
		gc.data()[i], gw.data()[i], gp.data()[i] = v, v, v
	}
	gc.snapshot()
	alpha := float32(1.25)
	kr.rows(kc, ga.data(), src.data(), off, gc.data(), ldc, alpha, beta, mr, nr)
	twin(kc, ga.data(), src.data(), off, gw.data(), ldc, alpha, beta, mr, nr)
	kr.fn(kc, ga.data(), panel, gp.data(), kr.nr, ldc, alpha, beta, mr, nr)
	what := fmt.Sprintf("%s rows kc=%d mr=%d nr=%d beta=%v", kr.name, kc, mr, nr, beta)
	gc.checkGuards(t, what)
	src.checkUnchanged(t, what+" (B)")
	for i := 0; i < mr; i++ {
		for j := 0; j < ldc && i*ldc+j < cLen; j++ {
			idx := i*ldc + j
			got := gc.data()[idx]
			if j >= nr {
				if math.Float32bits(got) != math.Float32bits(gc.initial[idx]) {
					t.Fatalf("%s: C[%d,%d] outside the tile was written", what, i, j)
				}
				continue
			}
			if p := gp.data()[idx]; math.Float32bits(got) != math.Float32bits(p) {
				t.Fatalf("%s: C[%d,%d] = %v, the same kernel on the gathered panel gives %v", what, i, j, got, p)
			}
			var mag float64
			for p := 0; p < kc; p++ {
				mag += math.Abs(float64(ga.data()[p*kr.mr+i]) * float64(src.data()[off[p]+j]))
			}
			mag *= float64(alpha)
			if beta != 0 {
				mag += math.Abs(float64(beta) * float64(gc.initial[idx]))
			}
			if want := gw.data()[idx]; math.IsNaN(float64(got)) || math.Abs(float64(got)-float64(want)) > tolerance(kc, mag) {
				t.Fatalf("%s: C[%d,%d] = %v, twin gives %v", what, i, j, got, want)
			}
		}
	}
}

// TestMulRowsChecksBounds checks that a row of B outside its slice is
// refused before any kernel runs.
func TestMulRowsChecksBounds(t *testing.T) {
	p := PlanRows(2, 3)
	ap := make([]float32, p.PackedLen())
	p.PackA(ap, make([]float32, 6), 3)
	c := make([]float32, 2*4)
	for _, off := range [][]int{{0, 1, 3}, {0, -1, 1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("offsets %v into 12 floats (unit 3, 4 columns) accepted", off)
				}
			}()
			p.MulRows(ap, 4, make([]float32, 12), off, 3, 0, c, 4)
		}()
	}
	p.MulRows(ap, 4, make([]float32, 12), []int{0, 2, 2}, 4, 0, c, 4) // the last row ends at the slice's end
}
