package kernels

import (
	"bytes"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
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

// roundF32Ref is RoundF32 written plainly, with branches: the bits to cut,
// then round half to even.
func roundF32Ref(v int64, e int) int64 {
	s := v >> 63
	a := uint64((v ^ s) - s)
	d := max(bits.Len64(a)-24, -149-e)
	if d <= 0 {
		return v
	}
	if d >= 64 {
		return 0
	}
	q := a >> d
	r := a & (1<<d - 1)
	half := uint64(1) << (d - 1)
	if r > half || (r == half && q&1 == 1) {
		q++
	}
	return (int64(q<<d) ^ s) - s
}

// TestRoundF32MatchesReference checks the branch-free RoundF32 against the
// plain rounding over every magnitude, grids down to far below the
// subnormals, and the values next to each rounding boundary.
func TestRoundF32MatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	check := func(v int64, e int) {
		if got, want := RoundF32(v, e), roundF32Ref(v, e); got != want {
			t.Fatalf("RoundF32(%d, %d) = %d, want %d", v, e, got, want)
		}
	}
	for i := 0; i < 500000; i++ {
		v := rng.Int64N(1<<62) >> rng.IntN(62)
		if i%2 == 0 {
			v = -v
		}
		e := rng.IntN(400) - 300
		check(v, e)
		// The boundaries around v's rounding unit: halves, halves +-1.
		d := max(bits.Len64(uint64(max(v, -v)))-24, -149-e, 1)
		if d < 62 {
			h := int64(1) << (d - 1)
			base := v &^ (2*h - 1)
			for _, w := range []int64{base + h - 1, base + h, base + h + 1, base + 3*h, -(base + h), -(base + 3*h)} {
				if w > -(1<<62) && w < 1<<62 {
					check(w, e)
				}
			}
		}
	}
	for _, v := range []int64{0, 1, -1, 1<<24 - 1, 1 << 24, 1<<24 + 1, 1<<62 - 1, -(1<<62 - 1)} {
		for e := -400; e <= 10; e++ {
			check(v, e)
		}
	}
}

// TestThresholdCounter checks ThresholdCounter.Count against CountLE at
// every threshold, its neighbours and the range's ends, for evenly and
// unevenly spaced thresholds, duplicates, thresholds outside the range
// and ranges as wide as int64.
func TestThresholdCounter(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 3000; i++ {
		n := rng.IntN(260)
		step := int64(1) << rng.IntN(50)
		step += rng.Int64N(step)
		t0 := rng.Int64N(1<<61) - 1<<60
		th := make([]int64, n)
		for k := range th {
			th[k] = t0 + int64(k)*step/4
			if i%3 == 0 {
				th[k] = t0 + rng.Int64N(step) // uneven, with duplicates once sorted
			}
			if k > 0 && i%5 == 0 && rng.IntN(4) == 0 {
				th[k] = th[k-1] // duplicates
			}
		}
		slices.Sort(th)
		lo, hi := t0-rng.Int64N(step+1), t0+int64(n)*step/4-rng.Int64N(int64(n)*step/8+1)
		if i%7 == 0 {
			lo, hi = math.MinInt64+1, math.MaxInt64-1
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		c := NewThresholdCounter(th, lo, hi)
		check := func(v int64) {
			if v < lo || v > hi {
				return
			}
			if got, want := c.Count(v), CountLE(th, v); got != want {
				t.Fatalf("case %d: %d thresholds in [%d, %d]: Count(%d) = %d, want %d", i, n, lo, hi, v, got, want)
			}
		}
		check(lo)
		check(hi)
		for _, v := range th {
			check(v - 1)
			check(v)
			check(v + 1)
		}
		for k := 0; k < 50; k++ {
			check(lo + int64(rng.Uint64N(uint64(hi-lo)+1)))
		}
	}
}

// TestGridEpiloguesMatchScalar checks GridAffine.Row and AddRound (the
// AVX-512 bodies where the CPU has them, then the Go loop for the tail)
// against their element-wise definitions, over lengths that leave every
// tail, accumulators up to int32's ends, ties and subnormal grids.
func TestGridEpiloguesMatchScalar(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 3000; i++ {
		m := float32(math.Ldexp(0.5+rng.Float64()/2, -rng.IntN(40)))
		if i%4 == 0 {
			m = float32(math.Ldexp(1, -rng.IntN(30))) // exact powers of two: ties
		}
		g := NewF32Grid(m)
		shift := uint(rng.IntN(21))
		exp := g.E - int(shift)
		a := GridAffine{Mul: g, Shift: shift, Exp: exp, Bias: rng.Int64N(1<<40) - 1<<39, Floor: math.MinInt64}
		if i%3 == 0 {
			a.Bias = rng.Int64N(2001) - 1000
		}
		if i%2 == 0 {
			a.Floor = 0
		}
		n := rng.IntN(70)
		acc := make([]int32, n)
		for j := range acc {
			switch rng.IntN(4) {
			case 0:
				acc[j] = int32(rng.Int64N(1<<32) - 1<<31)
			case 1:
				acc[j] = int32(rng.IntN(2001) - 1000)
			case 2:
				acc[j] = int32(1<<24 + rng.IntN(9) - 4) // float32's first inexact integers
			default:
				acc[j] = []int32{math.MaxInt32, math.MinInt32 + 1, 0, 1, -1}[rng.IntN(5)]
			}
		}
		corr := rng.Int64N(1<<20) - 1<<19
		if i%5 == 0 {
			corr = 0
		}
		dst := make([]int64, n)
		a.Row(dst, acc, corr)
		for j := range acc {
			if want := a.At(int64(acc[j]) - corr); dst[j] != want {
				t.Fatalf("case %d: Row element %d of %d (acc %d, corr %d, %+v) = %d, want %d", i, j, n, acc[j], corr, a, dst[j], want)
			}
		}
		x, y := make([]int64, n), make([]int64, n)
		for j := range x {
			x[j] = rng.Int64N(1<<50) >> rng.IntN(50)
			y[j] = -rng.Int64N(1<<50) >> rng.IntN(50)
			if rng.IntN(2) == 0 {
				x[j], y[j] = -x[j], -y[j]
			}
		}
		ea, eb := uint(rng.IntN(8)), uint(rng.IntN(8))
		e := rng.IntN(300) - 200
		AddRound(dst, x, y, ea, eb, e, a.Floor)
		for j := range x {
			if want := max(RoundF32(x[j]<<ea+y[j]<<eb, e), a.Floor); dst[j] != want {
				t.Fatalf("case %d: AddRound element %d of %d = %d, want %d", i, j, n, dst[j], want)
			}
		}
	}
}

// TestThresholdCounterRows checks CountAccs and CountValues (AVX-512
// gathers where the CPU has them, then the Go loop) against Count, every
// fourth byte written and the others left alone.
func TestThresholdCounterRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 2000; i++ {
		n := rng.IntN(256)
		step := int64(1) << rng.IntN(24)
		step += rng.Int64N(step)
		t0 := rng.Int64N(1<<30) - 1<<29
		th := make([]int64, n)
		for k := range th {
			th[k] = t0 + int64(k)*step/3
			if i%3 == 0 {
				th[k] = t0 + rng.Int64N(step*int64(n+1)/3+1) // uneven, duplicates
			}
		}
		slices.Sort(th)
		lo, hi := int64(math.MinInt32)*2, int64(math.MaxInt32)*2
		c := NewThresholdCounter(th, lo, hi)
		m := rng.IntN(80)
		acc := make([]int32, m)
		vals := make([]int64, m)
		for j := range acc {
			if n > 0 && rng.IntN(2) == 0 {
				acc[j] = int32(th[rng.IntN(n)] + rng.Int64N(3) - 1)
			} else {
				acc[j] = int32(rng.Int64N(1<<32) - 1<<31)
			}
			vals[j] = int64(acc[j])*2 - rng.Int64N(3)
		}
		corr := rng.Int64N(1<<20) - 1<<19
		if i%2 == 0 {
			corr = 0
		}
		// check runs one row function on a filled buffer: every fourth byte
		// of the row must hold the count, every other byte the fill.
		check := func(name string, row func(dst []byte), value func(j int) int64) {
			const fill = 0xa5
			dst := bytes.Repeat([]byte{fill}, 4*m+4)
			row(dst)
			for j := range dst {
				want := byte(fill)
				if j%4 == 0 && j/4 < m {
					want = byte(c.Count(value(j / 4)))
				}
				if dst[j] != want {
					t.Fatalf("case %d: %s byte %d of %d values: %d, want %d", i, name, j, m, dst[j], want)
				}
			}
		}
		check("CountAccs", func(dst []byte) { c.CountAccs(dst, acc, corr) }, func(j int) int64 { return int64(acc[j]) - corr })
		check("CountValues", func(dst []byte) { c.CountValues(dst, vals) }, func(j int) int64 { return vals[j] })
	}
}
