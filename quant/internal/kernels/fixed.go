package kernels

import "math"

// FixedMul multiplies an integer by a positive real as m0 * 2^-shift, m0 in
// [2^30, 2^31), rounding to nearest (halves away from zero).
type FixedMul struct {
	M0    int64
	Shift int
}

// NewFixedMul returns the fixed-point multiplier of m (the zero FixedMul,
// which gives 0, when m is not a positive finite number).
func NewFixedMul(m float64) FixedMul {
	if !(m > 0) || math.IsInf(m, 0) {
		return FixedMul{}
	}
	frac, exp := math.Frexp(m) // m = frac * 2^exp, frac in [0.5, 1)
	m0 := int64(math.Round(frac * (1 << 31)))
	if m0 == 1<<31 {
		m0 /= 2
		exp++
	}
	return FixedMul{M0: m0, Shift: 31 - exp}
}

// Apply returns round(v * m).
func (f FixedMul) Apply(v int64) int64 {
	if f.M0 == 0 {
		return 0
	}
	neg := v < 0
	if neg {
		v = -v
	}
	p := v * f.M0 // |v| < 2^32 keeps this below 2^63
	var r int64
	switch {
	case f.Shift > 62:
		r = 0
	case f.Shift > 0:
		r = (p + 1<<(f.Shift-1)) >> f.Shift
	default:
		r = p << -f.Shift
	}
	if neg {
		return -r
	}
	return r
}

// FastMul is FixedMul.Apply without branches for the usual shifts (1..62;
// others fall back to apply): the same rounding (halves away from zero)
// and the same int64 products, so the same results.
type FastMul struct {
	F     FixedMul
	Rnd   int64
	Shift uint
	Fast  bool
}

// NewFastMul returns the branch-free form of f.
func NewFastMul(f FixedMul) FastMul {
	if f.M0 == 0 || f.Shift < 1 || f.Shift > 62 {
		return FastMul{F: f}
	}
	return FastMul{F: f, Rnd: 1 << (f.Shift - 1), Shift: uint(f.Shift), Fast: true}
}

// Apply returns f.F.Apply(v).
func (f FastMul) Apply(v int64) int64 {
	if !f.Fast {
		return f.F.Apply(v)
	}
	s := v >> 63
	a := (v ^ s) - s
	r := (a*f.F.M0 + f.Rnd) >> f.Shift
	return (r ^ s) - s
}
