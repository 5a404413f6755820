package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// onGrid returns float32 f as an integer on the grid 2^e (f must be on it).
func onGrid(t *testing.T, f float32, e int) int64 {
	t.Helper()
	v := math.Ldexp(float64(f), -e)
	if v != math.Trunc(v) || math.Abs(v) >= 1<<62 {
		t.Fatalf("%g is not on the grid 2^%d", f, e)
	}
	return int64(v)
}

// TestF32ArithmeticOnGrid checks float32 products and sums computed on
// integers (F32Grid.Mul, RoundF32) against Go's float32 arithmetic, which
// rounds to nearest, halves to even.
func TestF32ArithmeticOnGrid(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200000; i++ {
		m := float32(math.Ldexp(0.5+rng.Float64()/2, -rng.IntN(30)))
		if i%7 == 0 {
			m = float32(math.Ldexp(1, -rng.IntN(20))) // exact powers of two: ties
		}
		acc := rng.Int64N(1<<31) - 1<<30
		if i%3 == 0 {
			acc = rng.Int64N(2001) - 1000
		}
		g := NewF32Grid(m)
		p := float32(float32(acc) * m)
		if got := g.Mul(acc); got != onGrid(t, p, g.E) {
			t.Fatalf("float32(%d)*%g: got %d on 2^%d, want %g", acc, m, got, g.E, p)
		}
		// p + b rounded, b a float32 of another exponent; both on the finer grid.
		b := float32(math.Ldexp(rng.Float64()-0.5, rng.IntN(20)-rng.IntN(30)))
		if i%5 == 0 {
			b = float32(math.Ldexp(float64(rng.IntN(5)-2), g.E-1)) // halves of p's last bit
		}
		_, eb := F32Parts(b)
		e := min(g.E, eb)
		if math.Ldexp(math.Abs(float64(p))+math.Abs(float64(b)), -e) >= 1<<61 {
			continue
		}
		y := p + b
		if got := RoundF32(onGrid(t, p, e)+onGrid(t, b, e), e); got != onGrid(t, y, e) {
			t.Fatalf("%g + %g: got %d on 2^%d, want %g", p, b, got, e, y)
		}
	}
	// Halves to even, both signs, and subnormals.
	for _, c := range []struct {
		v    int64
		e    int
		want int64
	}{
		{1<<24 + 1, 0, 1 << 24}, {1<<24 + 3, 0, 1<<24 + 4}, {-(1<<24 + 1), 0, -(1 << 24)}, {-(1<<24 + 3), 0, -(1<<24 + 4)},
		{1<<25 + 2, 0, 1 << 25}, {1<<25 + 6, 0, 1<<25 + 8}, {3, -150, 4}, {1, -150, 0}, {5, -150, 4}, {7, -150, 8},
	} {
		if got := RoundF32(c.v, c.e); got != c.want {
			t.Errorf("RoundF32(%d, %d) = %d, want %d", c.v, c.e, got, c.want)
		}
	}
	if m, e := F32Parts(-0.75); m != -(3<<22) || e != -24 {
		t.Errorf("F32Parts(-0.75) = %d, %d", m, e)
	}
}

// TestThresholds checks Thresholds against the level function it
// summarizes, over a whole small domain.
func TestThresholds(t *testing.T) {
	for _, c := range []struct{ inv, lo, hi float32 }{{0.37, 0, 15}, {1, 0, 3}, {0.5, -7, 7}, {2.5, 0, 255}} {
		level := func(v int64) int64 { return int64(quantLevel(float32(v)*0.01, c.inv, c.lo, c.hi)) }
		th := Thresholds(level, int64(c.lo), int64(c.hi), -3000, 3000)
		for v := int64(-3000); v <= 3000; v++ {
			if got := int64(c.lo) + CountLE(th, v); got != level(v) {
				t.Fatalf("inv %g: v %d: level %d from thresholds, want %d", c.inv, v, got, level(v))
			}
		}
	}
}
