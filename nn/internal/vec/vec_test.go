package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

const guard = 16

// padded returns a view of n values at offset off inside a buffer whose
// other values are a sentinel, and a function that checks the sentinel.
func padded(t *testing.T, n, off int) ([]float32, func(string)) {
	buf := make([]float32, n+off+2*guard)
	for i := range buf {
		buf[i] = 12345
	}
	v := buf[guard+off : guard+off+n]
	return v, func(what string) {
		t.Helper()
		for i, x := range buf {
			if (i < guard+off || i >= guard+off+n) && x != 12345 {
				t.Fatalf("%s (n %d, offset %d): wrote outside the slice at %d", what, n, off, i-guard-off)
			}
		}
	}
}

// fill sets v to random values with some zeros, negative zeros, NaNs and
// infinities.
func fill(rng *rand.Rand, v []float32) {
	for i := range v {
		switch rng.IntN(20) {
		case 0:
			v[i] = 0
		case 1:
			v[i] = float32(math.Copysign(0, -1))
		case 2:
			v[i] = float32(math.NaN())
		case 3:
			v[i] = float32(math.Inf(1 - 2*rng.IntN(2)))
		default:
			v[i] = float32(rng.NormFloat64())
		}
	}
}

func fillFinite(rng *rand.Rand, v []float32) {
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
}

func same(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
}

func forShapes(t *testing.T, f func(n, off int)) {
	for n := 0; n <= 70; n++ {
		for off := 0; off < 8; off++ {
			f(n, off)
		}
	}
	f(1000, 3)
}

// TestElementwiseMatchTwins checks that the public kernels (assembly where
// available, twin on the tail) give bit-identical results to the pure-Go
// twins over the whole slice, and never write outside it.
func TestElementwiseMatchTwins(t *testing.T) {
	if !useAVX2 {
		t.Log("no AVX2 in this build or CPU: checking the twins against themselves")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	forShapes(t, func(n, off int) {
		x, chk := padded(t, n, off)
		a, b, o := make([]float32, n), make([]float32, n), make([]float32, n)
		fill(rng, x)
		fill(rng, a)
		fill(rng, b)
		fill(rng, o)
		for _, relu := range []bool{false, true} {
			dst, chkDst := padded(t, n, (off+3)%8)
			ref := make([]float32, n)
			ScaleShift(dst, x, 1.5, -0.25, relu)
			scaleShiftGo(ref, x, 1.5, -0.25, relu)
			cmp(t, "ScaleShift", dst, ref)
			chkDst("ScaleShift")
			Add(dst, a, b, relu)
			addGo(ref, a, b, relu)
			cmp(t, "Add", dst, ref)
			chkDst("Add")
		}
		for _, acc := range []bool{false, true} {
			dst, chkDst := padded(t, n, (off+5)%8)
			fill(rng, dst)
			ref := append([]float32(nil), dst...)
			MaskGrad(dst, a, o, acc)
			maskGradGo(ref, a, o, acc)
			cmp(t, "MaskGrad", dst, ref)
			chkDst("MaskGrad")
			for _, mask := range [][]float32{nil, o} {
				fillFinite(rng, dst)
				copy(ref, dst)
				BNDx(dst, a, mask, x, 0.75, -1.25, 0.5, acc)
				bnDxGo(ref, a, mask, x, 0.75, -1.25, 0.5, acc)
				cmp(t, "BNDx", dst, ref)
				chkDst("BNDx")
			}
		}
		// In place.
		ref := make([]float32, n)
		maskGradGo(ref, a, o, false)
		MaskGrad(a, a, o, false)
		cmp(t, "MaskGrad in place", a, ref)
		scaleShiftGo(ref, x, 2, 1, true)
		y := append([]float32(nil), x...)
		ScaleShift(y, y, 2, 1, true)
		cmp(t, "ScaleShift in place", y, ref)
		chk("inputs")
	})
}

func TestSGDMatchesTwin(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	forShapes(t, func(n, off int) {
		for _, mode := range []struct {
			mu              float32
			first, nesterov bool
		}{{0.9, true, false}, {0.9, false, false}, {0.9, false, true}, {0, false, false}} {
			p, chkP := padded(t, n, off)
			g, buf := make([]float32, n), make([]float32, n)
			fillFinite(rng, p)
			fillFinite(rng, g)
			fillFinite(rng, buf)
			p2, g2, buf2 := append([]float32(nil), p...), append([]float32(nil), g...), append([]float32(nil), buf...)
			SGD(p, g, buf, 0.05, mode.mu, 5e-4, mode.first, mode.nesterov)
			sgdGo(p2, g2, buf2, 0.05, mode.mu, 5e-4, mode.first || mode.mu == 0, mode.nesterov)
			cmp(t, "SGD params", p, p2)
			cmp(t, "SGD buffer", buf, buf2)
			cmp(t, "SGD gradient (unchanged)", g, g2)
			chkP("SGD")
		}
	})
}

func cmp(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if !same(got[i], want[i]) {
			t.Fatalf("%s: element %d of %d = %v, twin %v", what, i, len(want), got[i], want[i])
		}
	}
}

// TestSumsMatchTwins checks the reductions against float64 sums within
// float32 rounding.
func TestSumsMatchTwins(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	forShapes(t, func(n, off int) {
		x, chk := padded(t, n, off)
		dy, o := make([]float32, n), make([]float32, n)
		fillFinite(rng, x)
		fillFinite(rng, dy)
		fill(rng, o)
		const mu = 0.3
		var s, ss, sabs, ssabs float64
		var ds, dt, dsm, dtm, tabs, tmabs float64
		for i, v := range x {
			s += float64(v)
			sabs += math.Abs(float64(v))
			d := float64(v) - mu
			ss += d * d
			ssabs += d * d
			ds += float64(dy[i])
			dt += float64(dy[i]) * d
			tabs += math.Abs(float64(dy[i]) * d)
			if o[i] > 0 {
				dsm += float64(dy[i])
				dtm += float64(dy[i]) * d
				tmabs += math.Abs(float64(dy[i]) * d)
			}
		}
		tol := func(scale float64) float64 { return 1e-6*float64(n+1)*scale + 1e-30 }
		near := func(what string, got float32, want, scale float64) {
			t.Helper()
			if math.Abs(float64(got)-want) > tol(scale) {
				t.Fatalf("%s (n %d, offset %d) = %v, want %v", what, n, off, got, want)
			}
		}
		near("Sum", Sum(x), s, sabs)
		near("SumSqDev", SumSqDev(x, mu), ss, ssabs)
		a, b := DotDev(dy, nil, x, mu)
		near("DotDev sum", a, ds, float64(n))
		near("DotDev dot", b, dt, tabs)
		a, b = DotDev(dy, o, x, mu)
		near("DotDev masked sum", a, dsm, float64(n))
		near("DotDev masked dot", b, dtm, tmabs)
		chk("sums")
	})
}

func TestLengthMismatchPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Add with mismatched lengths did not panic")
		}
	}()
	Add(make([]float32, 3), make([]float32, 3), make([]float32, 4), false)
}

func BenchmarkBNDx(b *testing.B) {
	n := 1 << 14
	dst, dy, o, x := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	b.SetBytes(int64(16 * n))
	for b.Loop() {
		BNDx(dst, dy, o, x, 1, 2, 3, false)
	}
}
