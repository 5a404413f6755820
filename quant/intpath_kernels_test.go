package quant

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestQuantU8MatchesTwin runs quantU8 (assembly where available) and its
// twin on guard-padded buffers across lengths and offsets, with special
// values, and checks both against the float32 quantizer's levels.
func TestQuantU8MatchesTwin(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0.5, 1.5, 2.5, 254.5, 255.5, 14.5, 15.5, 1e30, -1e30}
	const guard = 32
	for _, hi := range []float32{255, 15, 3, 1} {
		inv := float32(1 / 0.37)
		for n := 0; n <= 80; n++ {
			for off := 0; off < 3; off++ {
				src := make([]float32, n+off)
				for i := range src {
					if rng.IntN(4) == 0 {
						src[i] = special[rng.IntN(len(special))] * 0.37
					} else {
						src[i] = float32(rng.NormFloat64() * 40)
					}
				}
				fast := make([]byte, n+off+2*guard)
				twin := make([]byte, n+off+2*guard)
				for i := range fast {
					fast[i], twin[i] = 0xA5, 0xA5
				}
				quantU8(fast[guard+off:guard+off+n], src[off:], inv, hi)
				quantU8Go(twin[guard+off:guard+off+n], src[off:], inv, hi)
				ref := make([]float32, n)
				quantGo(ref, src[off:], inv, 0, hi)
				for i := range fast {
					if fast[i] != twin[i] {
						t.Fatalf("hi %v n %d off %d: byte %d: %d, twin %d", hi, n, off, i, fast[i], twin[i])
					}
					k := i - guard - off
					if k < 0 || k >= n {
						if fast[i] != 0xA5 {
							t.Fatalf("hi %v n %d off %d: guard byte %d overwritten", hi, n, off, i)
						}
						continue
					}
					if float32(fast[i]) != ref[k] {
						t.Fatalf("hi %v n %d: value %v: byte %d, float32 quantizer %v", hi, n, src[off+k], fast[i], ref[k])
					}
				}
			}
		}
	}
}

// TestGemmU8EpiloguesMatch checks the int8 GEMMs with epilogues
// (assembly where available) on guard-padded outputs, across shapes with
// partial tiles and output offsets, against the plain int8 GEMM followed
// by the float32 path's rescaling, ReLU and quantizer, and the
// micro-kernels against their twins.
func TestGemmU8EpiloguesMatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const guard = 64
	for _, sh := range [][3]int{{1, 1, 1}, {4, 64, 4}, {6, 70, 25}, {16, 130, 150}, {10, 1, 3}, {3, 200, 9}, {8, 128, 576}} {
		m, n, k := sh[0], sh[1], sh[2]
		kpad, npad, m4 := roundUp4(k), roundUp64(n), roundUp4(m)
		a := make([]int8, m4*kpad)
		for i := 0; i < m; i++ {
			for p := 0; p < k; p++ {
				a[i*kpad+p] = int8(rng.IntN(255) - 127)
			}
		}
		x := make([]byte, k*n)
		for i := range x {
			x[i] = byte(rng.IntN(256))
		}
		b := make([]byte, kpad*npad)
		packB(b, x, n, k, n, kpad, npad, make([]byte, n))
		mult := make([]float32, m4)
		bias := make([]float32, m4)
		for i := 0; i < m; i++ {
			mult[i] = float32(rng.Float64()*1e-4 + 1e-6)
			bias[i] = float32(rng.NormFloat64())
		}
		acc := make([]float32, m*n)
		gemmU8(m, n, kpad, a, b, npad, acc, n, make([]float32, 4*64))
		for off := 0; off < 2; off++ {
			for _, withRelu := range []bool{false, true} {
				c := make([]float32, m*n+off+2*guard)
				for i := range c {
					c[i] = -7777
				}
				gemmU8P(m, n, kpad, a, b, npad, c[guard+off:], n, mult, bias, withRelu, make([]float32, 4*64))
				for i := range c {
					p := i - guard - off
					want := float32(-7777)
					if p >= 0 && p < m*n {
						want = post(acc[p], mult[p/n], bias[p/n])
						if withRelu && !(want > 0) {
							want = 0
						}
					}
					if math.Float32bits(c[i]) != math.Float32bits(want) {
						t.Fatalf("%v relu %v off %d: element %d: %v, want %v", sh, withRelu, off, p, c[i], want)
					}
				}
			}
			for _, hi := range []float32{255, 15} {
				inv := float32(1 / 0.05)
				d := make([]byte, m*n+off+2*guard)
				for i := range d {
					d[i] = 0xA5
				}
				gemmU8Q(m, n, kpad, a, b, npad, d[guard+off:], n, mult, bias, inv, hi, make([]byte, 4*64))
				for i := range d {
					p := i - guard - off
					want := byte(0xA5)
					if p >= 0 && p < m*n {
						want = byte(quantLevel(post(acc[p], mult[p/n], bias[p/n]), inv, 0, hi))
					}
					if d[i] != want {
						t.Fatalf("%v hi %v off %d: element %d: %d, want %d", sh, hi, off, p, d[i], want)
					}
				}
			}
		}
		if m4 >= 4 && npad >= 64 {
			c1, c2 := make([]float32, 4*64), make([]float32, 4*64)
			vnniP(kpad/4, a, kpad, b, npad*4, c1, 64, mult, bias, true)
			vnniPGo(kpad/4, a, kpad, b, npad*4, c2, 64, mult, bias, true)
			d1, d2 := make([]byte, 4*64), make([]byte, 4*64)
			vnniQ(kpad/4, a, kpad, b, npad*4, d1, 64, mult, bias, 20, 255)
			vnniQGo(kpad/4, a, kpad, b, npad*4, d2, 64, mult, bias, 20, 255)
			for i := range c1 {
				if math.Float32bits(c1[i]) != math.Float32bits(c2[i]) || d1[i] != d2[i] {
					t.Fatalf("%v: micro-kernel element %d: %v / %d, twin %v / %d", sh, i, c1[i], d1[i], c2[i], d2[i])
				}
			}
		}
	}
}
