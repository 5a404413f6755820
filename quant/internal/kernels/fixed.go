package kernels

import (
	"math"
	"math/bits"
)

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

// Apply returns round(v * m), halves away from zero, exactly for every
// int64 v whose result fits in int64: the product |v| * m0 (up to 94 bits)
// is formed in 128 bits, so neither a large v nor a large shift loses it.
func (f FixedMul) Apply(v int64) int64 {
	if f.M0 == 0 {
		return 0
	}
	s := v >> 63
	a := uint64((v ^ s) - s) // |v|; math.MinInt64 gives 2^63
	var r uint64
	if f.Shift > 0 {
		r = mulRoundShift(a, uint64(f.M0), uint(f.Shift))
	} else {
		r = a * uint64(f.M0) << uint(-f.Shift)
	}
	return (int64(r) ^ s) - s
}

// mulRoundShift returns floor((a*m + 2^(sh-1)) / 2^sh) for sh >= 1, the
// product and the sum in 128 bits (exact; the result wraps to 64 bits
// only when it does not fit).
func mulRoundShift(a, m uint64, sh uint) uint64 {
	hi, lo := bits.Mul64(a, m)
	var c uint64
	if sh <= 64 {
		lo, c = bits.Add64(lo, 1<<(sh-1), 0)
	} else {
		hi, c = bits.Add64(hi, 1<<(sh-65), 0)
	}
	hi += c
	switch {
	case sh >= 128:
		return 0
	case sh >= 64:
		return hi >> (sh - 64)
	}
	return lo>>sh | hi<<(64-sh)
}

// smallFixed bounds the |v| for which fastMul's int64 formula is exact:
// below 2^31, |v| * m0 (m0 < 2^31) plus the rounding term (at most 2^61)
// stays below 2^63.
const smallFixed = 1 << 31

// fixedApply is FastMul.Apply on its parts (m0, rnd = 2^(sh-1), sh in
// 1..62): the int64 formula for |v| < smallFixed (the assembly kernels'
// arithmetic), 128-bit products beyond, so the result is exact for every
// v (see FixedMul.Apply).
func fixedApply(v, m0, rnd int64, sh uint) int64 {
	s := v >> 63
	a := (v ^ s) - s
	if uint64(a) < smallFixed {
		return ((a*m0+rnd)>>sh ^ s) - s
	}
	return (int64(mulRoundShift(uint64(a), uint64(m0), sh)) ^ s) - s
}

// allSmall reports whether every |v| in x is below smallFixed, where the
// assembly kernels' int64 products are exact.
func allSmall(x []int64) bool {
	for _, v := range x {
		if v >= smallFixed || v <= -smallFixed {
			return false
		}
	}
	return true
}

// FastMul is FixedMul.Apply without branches for the usual shifts (1..62;
// others fall back to it) and |v| < 2^31 (larger v take FixedMul.Apply's
// 128-bit products): the same rounding (halves away from zero), so the
// same results.
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
	return fixedApply(v, f.F.M0, f.Rnd, f.Shift)
}
