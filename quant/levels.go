// Package quant is ccq's k-bit network format: the Model and its levels,
// the weight scale rules, the activation quantizers, batch-norm folding,
// size and level statistics, and the safetensors file. It runs nothing:
// the forward engine, the incremental Evaluator and activation calibration
// are in quant/engine, the baseline quantizers in quant/ptq, ste-qat in
// quant/ste, integer-only inference in quant/integer, the evaluator
// benchmark in quant/evalbench and the kernels in quant/internal/kernels.
//
// A quantized weight is scale * level, with level an integer in the k-bit
// range (LevelRange) and one scale per layer (per-tensor) or per output
// channel. Batch norm is folded into the preceding convolution before
// quantizing; biases stay float32 and are not searched. Activations may be
// quantized too: a linear quantizer on the input of every quantized layer,
// unsigned after a ReLU and signed for the network input, with a scale
// calibrated once on a calibration batch and then fixed.
package quant

import (
	"fmt"
	"math"

	"github.com/ccq-project/ccq/quant/internal/kernels"
)

// MinBits and MaxBits bound the weight and activation bit widths ccq
// supports below full precision.
const (
	MinBits = 1
	MaxBits = 8
	// FloatActBits is the ActBits value meaning "activations stay float32".
	FloatActBits = 32
)

// CheckBits reports whether bits is a supported weight bit width (1..8).
func CheckBits(bits int) error {
	if bits < MinBits || bits > MaxBits {
		return fmt.Errorf("bits %d: expected an integer in %d..%d", bits, MinBits, MaxBits)
	}
	return nil
}

// CheckActBits reports whether bits is a supported activation bit width:
// 1..8, or 32 for float activations.
func CheckActBits(bits int) error {
	if bits == FloatActBits || (bits >= MinBits && bits <= MaxBits) {
		return nil
	}
	return fmt.Errorf("activation bits %d: expected 32 (float) or an integer in %d..%d", bits, MinBits, MaxBits)
}

// LevelRange returns the smallest and largest weight level of a k-bit
// weight: -(2^(k-1)-1)..2^(k-1)-1 for k >= 2 (4 bits: -7..7) and -1..1 for
// k = 1, whose only levels are -1 and +1 (zero is excluded, see ValidLevel).
func LevelRange(bits int) (lo, hi int) {
	if bits <= 1 {
		return -1, 1
	}
	hi = 1<<(bits-1) - 1
	return -hi, hi
}

// ValidLevel reports whether l is a level of a k-bit weight.
func ValidLevel(bits int, l int8) bool {
	if bits <= 1 {
		return l == -1 || l == 1
	}
	lo, hi := LevelRange(bits)
	return int(l) >= lo && int(l) <= hi
}

// NumLevels is the number of distinct levels of a k-bit weight:
// 2^k - 1 for k >= 2 and 2 for k = 1.
func NumLevels(bits int) int {
	if bits <= 1 {
		return 2
	}
	return 1<<bits - 1
}

// QuantizeWeight returns the level nearest to w/scale in the k-bit range
// (halves to even). For k = 1 it is the sign of w (+1 for 0). A zero or
// negative scale gives level 0 (or +1 for k = 1).
func QuantizeWeight(w, scale float32, bits int) int8 {
	if bits <= 1 {
		if w >= 0 {
			return 1
		}
		return -1
	}
	if !(scale > 0) {
		return 0
	}
	lo, hi := LevelRange(bits)
	x := w / scale
	if x < float32(lo) {
		x = float32(lo)
	} else if x > float32(hi) {
		x = float32(hi)
	} else if x != x { // NaN
		x = 0
	}
	return int8(kernels.RoundEven(x))
}

// PackedBytes is the number of bytes n levels take when packed at bits bits
// each.
func PackedBytes(n, bits int) int { return (n*bits + 7) / 8 }

// levelCode maps a level to its unsigned k-bit code.
func levelCode(l int8, bits int) uint8 {
	if bits <= 1 {
		if l > 0 {
			return 1
		}
		return 0
	}
	lo, _ := LevelRange(bits)
	return uint8(int(l) - lo)
}

// Pack packs levels at bits bits each, least significant bit first: level l
// is stored as the code l - lo (lo from LevelRange) for k >= 2 and as 0 for
// -1, 1 for +1 when k = 1. It fails on a level outside the k-bit range.
func Pack(levels []int8, bits int) ([]byte, error) {
	if err := CheckBits(bits); err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	out := make([]byte, PackedBytes(len(levels), bits))
	pos := 0
	for i, l := range levels {
		if !ValidLevel(bits, l) {
			return nil, fmt.Errorf("pack: level %d at index %d is outside the %d-bit range", l, i, bits)
		}
		c := uint(levelCode(l, bits))
		for b := 0; b < bits; b++ {
			if c>>b&1 != 0 {
				out[pos>>3] |= 1 << (pos & 7)
			}
			pos++
		}
	}
	return out, nil
}

// Unpack is the inverse of Pack: it reads n levels of bits bits from data.
func Unpack(data []byte, n, bits int) ([]int8, error) {
	if err := CheckBits(bits); err != nil {
		return nil, fmt.Errorf("unpack: %w", err)
	}
	if n < 0 || len(data) != PackedBytes(n, bits) {
		return nil, fmt.Errorf("unpack: %d bytes for %d levels of %d bits, expected %d", len(data), n, bits, PackedBytes(max(n, 0), bits))
	}
	lo, _ := LevelRange(bits)
	out := make([]int8, n)
	pos := 0
	for i := range out {
		var c int
		for b := 0; b < bits; b++ {
			if data[pos>>3]>>(pos&7)&1 != 0 {
				c |= 1 << b
			}
			pos++
		}
		if bits <= 1 {
			out[i] = int8(2*c - 1)
			continue
		}
		l := c + lo
		if !ValidLevel(bits, int8(l)) {
			return nil, fmt.Errorf("unpack: code %d at index %d is not a %d-bit level", c, i, bits)
		}
		out[i] = int8(l)
	}
	return out, nil
}

// actRange returns the integer range of a k-bit activation quantizer:
// 0..2^k-1 unsigned; -(2^(k-1)-1)..2^(k-1)-1 signed (k >= 2); -1..1 signed
// with k = 1 (only -1 and +1 are produced).
func actRange(bits int, signed bool) (lo, hi float32) {
	if !signed {
		return 0, float32(int(1)<<bits - 1)
	}
	l, h := LevelRange(bits)
	return float32(l), float32(h)
}

// ActQuant is the linear quantizer on the input of one quantized layer:
// x -> clamp(round(x/Scale), lo, hi), the integer kept as the activation
// (the layer's output is rescaled by Scale). Bits 32 means no quantization.
type ActQuant struct {
	Bits   int
	Signed bool
	Scale  float32
}

// Enabled reports whether the quantizer changes its input.
func (a ActQuant) Enabled() bool { return a.Bits != FloatActBits && a.Bits > 0 }

// Levels returns the integer range of the quantizer.
func (a ActQuant) Levels() (lo, hi float32) { return actRange(a.Bits, a.Signed) }

// QuantizeSlice writes the activation levels of src into dst (same length).
func (a ActQuant) QuantizeSlice(dst, src []float32) {
	lo, hi := a.Levels()
	inv := 1 / a.Scale
	if a.Signed && a.Bits <= 1 {
		for i, v := range src {
			if v >= 0 {
				dst[i] = 1
			} else {
				dst[i] = -1
			}
		}
		return
	}
	kernels.QuantVec(dst[:len(src)], src, inv, lo, hi)
}

// ScaleFor returns the scale mapping the clipping value c to the largest
// level of the quantizer.
func (a ActQuant) ScaleFor(c float64) float32 {
	_, hi := a.Levels()
	if c <= 0 || math.IsNaN(c) || math.IsInf(c, 0) {
		return 1
	}
	return float32(c / float64(hi))
}
