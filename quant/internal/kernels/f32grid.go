package kernels

import (
	"fmt"
	"math"
	"math/bits"
)

// Float32 arithmetic on integers. Every float32 is an integer times a
// power of two, so a tensor of float32 values is an int64 tensor on a grid
// 2^e (value = v * 2^e) once e is fine enough; on it, the float32 path's
// sums and products are exact integer sums and products followed by
// rounding to 24 significant bits, halves to even (RoundF32). Integer-only
// inference uses this to compute exactly the values of the float32
// fake-quantized path, not approximations of them.

// F32Parts splits a finite float32 f into m * 2^e with |m| < 2^24 an
// integer and e >= -149 the exponent of f's last mantissa bit (0, -149 for
// zero).
func F32Parts(f float32) (m int64, e int) {
	b := math.Float32bits(f)
	exp := int(b>>23) & 0xff
	mant := int64(b & (1<<23 - 1))
	if exp == 0 {
		e = -149
	} else {
		mant |= 1 << 23
		e = exp - 150
	}
	if b>>31 != 0 {
		mant = -mant
	}
	return mant, e
}

// RoundF32 rounds v * 2^e to float32 (nearest, halves to even; subnormals
// as IEEE 754 has them) and returns the result on the same grid: v itself
// when it has at most 24 significant bits. On grids finer than 2^-149
// the subnormals' last bit 2^-149 is the rounding unit. |v| must be below
// 2^62 and the result below 2^128 (float32 overflow is not modelled).
func RoundF32(v int64, e int) int64 {
	// Branch-free: d bits go (0 when v fits); half-1 plus the kept lsb,
	// added before the cut, rounds up exactly above half and at half when
	// the kept part is odd. For d >= 64 the mask is all ones and the sum,
	// below 2^63 (|v| < 2^62), cuts to 0.
	s := v >> 63
	a := uint64((v ^ s) - s)
	d := uint(max(bits.Len64(a)-24, -149-e, 0))
	mask := uint64(1)<<d - 1
	q := (a + ((mask>>1)+(a>>d)&1)&mask) &^ mask
	return (int64(q) ^ s) - s
}

// F32Grid is a positive float32 multiplier m = M * 2^E on integers: Mul
// gives float32(float32(acc) * m) on the grid 2^E, as the float32 path
// computes acc*m from an int32 accumulator.
type F32Grid struct {
	M int64
	E int
}

// NewF32Grid splits the multiplier m.
func NewF32Grid(m float32) F32Grid {
	mm, e := F32Parts(m)
	return F32Grid{M: mm, E: e}
}

// Mul returns float32(float32(acc) * m) on the grid 2^E (|acc| < 2^31:
// the product of at most 32 and 24 bits is exact in int64).
func (g F32Grid) Mul(acc int64) int64 {
	return RoundF32(RoundF32(acc, 0)*g.M, g.E)
}

// Thresholds returns the levels lo..hi of a monotone non-decreasing level
// function on the integers as thresholds: t[k] is the smallest v in
// [min, max] with level(v) >= lo+1+k (max+1 when there is none), so that
// level(v) = lo + the number of t[k] <= v for every v in [min, max].
func Thresholds(level func(int64) int64, lo, hi, min, max int64) []int64 {
	t := make([]int64, hi-lo)
	for k := range t {
		want := lo + 1 + int64(k)
		// The smallest v in [min, max+1] with level(v) >= want (max+1
		// standing for none), by bisection on an unsigned width so that
		// min..max may span all of int64's range but its ends.
		n := uint64(max - min + 1)
		i, j := uint64(0), n
		for i < j {
			h := i + (j-i)/2
			if level(min+int64(h)) >= want {
				j = h
			} else {
				i = h + 1
			}
		}
		t[k] = min + int64(i)
	}
	return t
}

// CountLE returns the number of thresholds t (ascending) at most v.
func CountLE(t []int64, v int64) int64 {
	i, j := 0, len(t)
	for i < j {
		h := int(uint(i+j) >> 1)
		if t[h] <= v {
			i = h + 1
		} else {
			j = h
		}
	}
	return int64(i)
}

// QuantLevelF32 is the float32 path's activation quantizer on one value:
// round-half-even of clamp(float32(v * inv), lo, hi).
func QuantLevelF32(v, inv, lo, hi float32) float32 { return quantLevel(v, inv, lo, hi) }

// ThresholdCounter is CountLE for one threshold list on a value range, in
// constant time: a table of bucket start counts over the thresholds inside
// the range (about four buckets per threshold), and a short walk from
// there. Thresholds of a uniform quantizer are evenly spaced, so the walk
// is at most a step or two.
type ThresholdCounter struct {
	t         []int64 // the thresholds in (lo, hi], then math.MaxInt64
	lead      int64   // thresholds at most lo: counted for every value
	base, top int64   // values are clamped to [base, top]
	sh        uint    // bucket of v: (v - base) >> sh
	start     []uint16
	start32   []int32 // start widened, for the gathers of the AVX-512 rows
}

// NewThresholdCounter prepares counting the ascending thresholds t for
// values in [lo, hi] (at most 65535 thresholds).
func NewThresholdCounter(t []int64, lo, hi int64) ThresholdCounter {
	lead := CountLE(t, lo)
	in := t[lead:CountLE(t, hi)]
	if len(in) > math.MaxUint16 {
		panic(fmt.Sprintf("kernels: %d thresholds in range, at most %d", len(in), math.MaxUint16))
	}
	c := ThresholdCounter{t: append(append([]int64(nil), in...), math.MaxInt64), lead: lead}
	if len(in) == 0 {
		c.start, c.start32 = []uint16{0}, []int32{0}
		return c
	}
	c.base, c.top = in[0]-1, in[len(in)-1]
	lg := bits.Len(uint(4*len(in)) - 1)
	c.sh = uint(max(bits.Len64(uint64(c.top-c.base))-lg, 0))
	c.start = make([]uint16, 1<<lg)
	for b := range c.start {
		at := c.base + int64(b)<<c.sh
		if at > c.top || at < c.base { // past the range (or wrapped)
			c.start = c.start[:b]
			break
		}
		c.start[b] = uint16(CountLE(in, at))
	}
	c.start32 = make([]int32, len(c.start))
	for b, v := range c.start {
		c.start32[b] = int32(v)
	}
	return c
}

// Count returns the number of thresholds at most v, for v in the range
// given to NewThresholdCounter.
func (c *ThresholdCounter) Count(v int64) int64 {
	v = min(max(v, c.base), c.top)
	k := int(c.start[uint64(v-c.base)>>c.sh])
	for c.t[k] <= v {
		k++
	}
	return c.lead + int64(k)
}

// GridAffine is the float32 path's layer epilogue on a grid, per output
// channel: an int32 accumulator acc times the multiplier Mul (a float32
// product, on the grid 2^Mul.E), shifted to the finer grid 2^Exp of the
// bias, plus the bias, rounded to float32, then clamped below at Floor
// (0 for a fused ReLU, math.MinInt64 for none).
type GridAffine struct {
	Mul   F32Grid
	Shift uint // Mul.E - Exp
	Bias  int64
	Exp   int
	Floor int64
}

// At returns the epilogue of one accumulator.
func (a *GridAffine) At(acc int64) int64 {
	return max(RoundF32(a.Mul.Mul(acc)<<a.Shift+a.Bias, a.Exp), a.Floor)
}

// Row writes the epilogue of acc[j] - corr to dst[j] for every j
// (len(dst) >= len(acc)).
func (a *GridAffine) Row(dst []int64, acc []int32, corr int64) {
	dst = dst[:len(acc)]
	k := gridRowAsm(a, dst, acc, corr)
	for j := k; j < len(acc); j++ {
		dst[j] = a.At(int64(acc[j]) - corr)
	}
}

// AddRound writes the float32 sum of x (on the grid 2^(e+ea)) and y (on
// 2^(e+eb)) on the grid 2^e, clamped below at floor, to dst: dst[j] =
// max(RoundF32(x[j]<<ea + y[j]<<eb, e), floor) (len(dst) >= len(x) =
// len(y)).
func AddRound(dst, x, y []int64, ea, eb uint, e int, floor int64) {
	dst, y = dst[:len(x)], y[:len(x)]
	k := addRoundAsm(dst, x, y, ea, eb, e, floor)
	for j := k; j < len(x); j++ {
		dst[j] = max(RoundF32(x[j]<<ea+y[j]<<eb, e), floor)
	}
}

// CountAccs writes the counts of acc[j] - corr as bytes to dst[4*j] (the
// quad layout: every fourth byte; the others are left alone), for counts
// below 256 and values in the counter's range.
func (c *ThresholdCounter) CountAccs(dst []byte, acc []int32, corr int64) {
	if len(acc) == 0 {
		return
	}
	_ = dst[4*len(acc)-4]
	k := countAccsAsm(c, dst, acc, corr)
	for j := k; j < len(acc); j++ {
		dst[4*j] = byte(c.Count(int64(acc[j]) - corr))
	}
}

// CountValues writes the counts of v[j] as bytes to dst[4*j], as
// CountAccs.
func (c *ThresholdCounter) CountValues(dst []byte, v []int64) {
	if len(v) == 0 {
		return
	}
	_ = dst[4*len(v)-4]
	k := countValuesAsm(c, dst, v)
	for j := k; j < len(v); j++ {
		dst[4*j] = byte(c.Count(v[j]))
	}
}
