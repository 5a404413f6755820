package kernels

import "math"

// RoundEven rounds to the nearest integer, halves to even, keeping the sign
// (-0.3 gives -0), as x86's ROUNDPS and torch.round. It is exact for
// |x| < 2^22 and used on clamped values only.
func RoundEven(x float32) float32 {
	const magic = 12582912 // 1.5 * 2^23
	b := math.Float32bits(x)
	a := math.Float32frombits(b &^ (1 << 31))
	r := float32(float32(a+magic) - magic)
	return math.Float32frombits(math.Float32bits(r) | b&(1<<31))
}

// Post computes y = acc*mult + bias without fusing the multiply-add, so
// that every path rounds the same way.
func Post(acc, mult, bias float32) float32 { return float32(acc*mult) + bias }
