package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// guardBits is the bit pattern of the guard values written around every
// buffer handed to a kernel: a NaN with a distinctive payload, which no
// arithmetic produces, so any write into a guard is detected exactly.
const guardBits = 0x7fc0dead

// guardLen is the number of guard values on each side of a buffer.
const guardLen = 64

// guarded is a float32 buffer with guard values before and after the usable
// part, which starts off values into the allocation (to vary alignment).
type guarded struct {
	buf     []float32
	off, n  int
	initial []float32 // copy of the usable part after filling, for read-only checks
}

func newGuarded(n, off int) *guarded {
	g := &guarded{buf: make([]float32, guardLen+off+n+guardLen), off: guardLen + off, n: n}
	for i := range g.buf {
		g.buf[i] = math.Float32frombits(guardBits)
	}
	return g
}

// data is the usable part (capacity limited to it, so Go code that overruns
// panics; assembly that overruns is caught by checkGuards).
func (g *guarded) data() []float32 { return g.buf[g.off : g.off+g.n : g.off+g.n] }

// snapshot remembers the current contents of the usable part.
func (g *guarded) snapshot() { g.initial = append([]float32(nil), g.data()...) }

// checkGuards fails t when a guard value changed.
func (g *guarded) checkGuards(t testing.TB, name string) {
	t.Helper()
	for i, v := range g.buf {
		if i >= g.off && i < g.off+g.n {
			continue
		}
		if math.Float32bits(v) != guardBits {
			t.Fatalf("%s: guard at %d (relative %d) overwritten with %v", name, i, i-g.off, v)
		}
	}
}

// checkUnchanged fails t when the usable part differs from the snapshot.
func (g *guarded) checkUnchanged(t testing.TB, name string) {
	t.Helper()
	for i, v := range g.data() {
		if math.Float32bits(v) != math.Float32bits(g.initial[i]) {
			t.Fatalf("%s: element %d changed from %v to %v", name, i, g.initial[i], v)
		}
	}
	g.checkGuards(t, name)
}

// fillRandom fills s with values uniform in [-1, 1).
func fillRandom(rng *rand.Rand, s []float32) {
	for i := range s {
		s[i] = rng.Float32()*2 - 1
	}
}

// gemmCase is one Sgemm call to test.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	lda, ldb, ldc  int
	offA, offB     int
	offC           int
	nanC           bool // fill C with NaN (only meaningful when beta == 0)
}

func (tc gemmCase) String() string {
	return fmt.Sprintf("tA=%v tB=%v m=%d n=%d k=%d alpha=%v beta=%v lda=%d ldb=%d ldc=%d off=%d/%d/%d nanC=%v",
		tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, tc.beta, tc.lda, tc.ldb, tc.ldc, tc.offA, tc.offB, tc.offC, tc.nanC)
}

// storedShape returns the rows and columns of a matrix as stored.
func storedShape(trans bool, r, c int) (int, int) {
	if trans {
		return c, r
	}
	return r, c
}

// matLen is the number of elements a rows x cols matrix with stride ld spans.
func matLen(rows, cols, ld int) int {
	if rows == 0 || cols == 0 {
		return 0
	}
	return (rows-1)*ld + cols
}

// gemmOperands allocates and fills guarded A, B and C for tc. The gaps
// between rows (ld > cols) hold guard values too, so that reads of them would
// poison the result and writes to them are detected.
func gemmOperands(rng *rand.Rand, tc gemmCase) (ga, gb, gc *guarded) {
	ar, ac := storedShape(tc.transA, tc.m, tc.k)
	br, bc := storedShape(tc.transB, tc.k, tc.n)
	ga = newGuarded(matLen(ar, ac, tc.lda), tc.offA)
	gb = newGuarded(matLen(br, bc, tc.ldb), tc.offB)
	gc = newGuarded(matLen(tc.m, tc.n, tc.ldc), tc.offC)
	fillMatrix := func(g *guarded, rows, cols, ld int, nan bool) {
		d := g.data()
		for i := 0; i < rows; i++ {
			for j := 0; j < cols; j++ {
				if nan {
					d[i*ld+j] = float32(math.NaN())
				} else {
					d[i*ld+j] = rng.Float32()*2 - 1
				}
			}
		}
	}
	fillMatrix(ga, ar, ac, tc.lda, false)
	fillMatrix(gb, br, bc, tc.ldb, false)
	fillMatrix(gc, tc.m, tc.n, tc.ldc, tc.nanC)
	ga.snapshot()
	gb.snapshot()
	gc.snapshot()
	return ga, gb, gc
}

// exact computes alpha*op(A)*op(B) + beta*C in float64, and the magnitude
// |alpha|*sum|a*b| + |beta*c| of each element that bounds its rounding error.
func exact(tc gemmCase, a, b, c []float32) (want, mag []float64) {
	want = make([]float64, tc.m*tc.n)
	mag = make([]float64, tc.m*tc.n)
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			var s, sa float64
			for p := 0; p < tc.k; p++ {
				var av, bv float64
				if tc.transA {
					av = float64(a[p*tc.lda+i])
				} else {
					av = float64(a[i*tc.lda+p])
				}
				if tc.transB {
					bv = float64(b[j*tc.ldb+p])
				} else {
					bv = float64(b[p*tc.ldb+j])
				}
				s += av * bv
				sa += math.Abs(av * bv)
			}
			alpha, beta := float64(tc.alpha), float64(tc.beta)
			w := alpha * s
			m := math.Abs(alpha) * sa
			if tc.alpha == 0 {
				w, m = 0, 0
			}
			if tc.beta != 0 {
				cv := float64(c[i*tc.ldc+j])
				w += beta * cv
				m += math.Abs(beta * cv)
			}
			want[i*tc.n+j] = w
			mag[i*tc.n+j] = m
		}
	}
	return want, mag
}

// f32eps is the unit roundoff of float32 (half an ulp of 1).
const f32eps = 1.0 / (1 << 24)

// tolerance is the error allowed for an element of magnitude mag of a product
// with inner dimension k: each of the k multiply-adds and the final scaling
// may round once, so the error is at most (k+2)*eps*mag to first order; the
// factor 2 leaves room for the second-order terms. A tiny absolute term
// covers results that are exactly zero.
func tolerance(k int, mag float64) float64 {
	return 2*float64(k+2)*f32eps*mag + 1e-30
}

// checkResult compares the C written by a kernel with the exact result.
func checkResult(t testing.TB, what string, tc gemmCase, got []float32, want, mag []float64) {
	t.Helper()
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			g := float64(got[i*tc.ldc+j])
			w := want[i*tc.n+j]
			tol := tolerance(tc.k, mag[i*tc.n+j])
			if math.IsNaN(g) || math.Abs(g-w) > tol {
				t.Fatalf("%s %v: C[%d,%d] = %v, want %v (tolerance %.3g)", what, tc, i, j, g, w, tol)
			}
		}
	}
}

// checkGaps fails t when C's row gaps (columns n..ldc-1) changed.
func checkGaps(t testing.TB, what string, tc gemmCase, gc *guarded) {
	t.Helper()
	d := gc.data()
	for i := 0; i < tc.m-1; i++ {
		for j := tc.n; j < tc.ldc; j++ {
			if math.Float32bits(d[i*tc.ldc+j]) != math.Float32bits(gc.initial[i*tc.ldc+j]) {
				t.Fatalf("%s %v: gap C[%d,%d] overwritten", what, tc, i, j)
			}
		}
	}
}

// runCase runs Sgemm (with whatever kernel is active) on tc and checks the
// result, the guards and that A and B were not modified.
func runCase(t testing.TB, what string, rng *rand.Rand, tc gemmCase) {
	t.Helper()
	ga, gb, gc := gemmOperands(rng, tc)
	want, mag := exact(tc, ga.data(), gb.data(), gc.data())
	Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, ga.data(), tc.lda, gb.data(), tc.ldb, tc.beta, gc.data(), tc.ldc)
	ga.checkUnchanged(t, what+" A")
	gb.checkUnchanged(t, what+" B")
	gc.checkGuards(t, what+" C")
	checkGaps(t, what, tc, gc)
	checkResult(t, what, tc, gc.data(), want, mag)
}

// withKernel runs f with every Sgemm using kernel kr.
func withKernel(kr *kernel, f func()) {
	saved := forced
	forced = kr
	defer func() { forced = saved }()
	f()
}

// smallBlocking returns a copy of kr with tiny cache blocks, so that small
// shapes exercise every loop of the blocked algorithm (several k, m and n
// blocks with partial edges).
func smallBlocking(kr *kernel) *kernel {
	s := *kr
	s.name += "/small-blocks"
	s.kc = 5
	s.mc = 2 * kr.mr
	s.nc = 2 * kr.nr
	return &s
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

// problem returns the problem Sgemm sees for tc (without operands).
func (tc gemmCase) problem() *problem {
	return &problem{transA: tc.transA, transB: tc.transB, m: tc.m, n: tc.n, k: tc.k,
		alpha: tc.alpha, beta: tc.beta, lda: tc.lda, ldb: tc.ldb, ldc: tc.ldc}
}
