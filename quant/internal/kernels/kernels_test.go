package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestKernelsMatchTwins runs the dispatching kernels (assembly where
// available) and their pure-Go twins on guard-padded buffers, across
// lengths and alignment offsets, with special values, and requires
// bit-identical results and untouched guards.
func TestKernelsMatchTwins(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0.5, 1.5, 2.5, -0.5, -2.5, 254.5, 1e30, -1e30}
	fill := func(s []float32) {
		for i := range s {
			if rng.IntN(4) == 0 {
				s[i] = special[rng.IntN(len(special))]
			} else {
				s[i] = float32(rng.NormFloat64() * 3)
			}
		}
	}
	const guard = 16
	const sentinel = float32(-12345.678)
	same := func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }
	type kern struct {
		name      string
		fast, ref func(dst, src []float32)
	}
	kerns := []kern{
		{"relu", Relu, reluGo},
		{"axpy", func(d, s []float32) { Axpy(-0.77, s, d) }, func(d, s []float32) { axpyGo(-0.77, s, d) }},
		{"max", Vmax, maxGo},
		{"max4", func(d, s []float32) { Max4(d, s, d, s[:len(d)], d) }, func(d, s []float32) { max4Go(d, s, d, s[:len(d)], d) }},
		{"add", func(d, s []float32) { AddVec(d, s, d, false) }, func(d, s []float32) { addGo(d, s, d) }},
		{"addRelu", func(d, s []float32) { AddVec(d, s, d, true) }, func(d, s []float32) { addReluGo(d, s, d) }},
		{"post", func(d, s []float32) { PostVec(d, s, 0.37, -1.25, false) }, func(d, s []float32) { postGo(d, s, 0.37, -1.25) }},
		{"postRelu", func(d, s []float32) { PostVec(d, s, 0.37, -1.25, true) }, func(d, s []float32) { postReluGo(d, s, 0.37, -1.25) }},
		{"quantU", func(d, s []float32) { QuantVec(d, s, 1/0.1, 0, 255) }, func(d, s []float32) { quantGo(d, s, 1/0.1, 0, 255) }},
		{"quantS", func(d, s []float32) { QuantVec(d, s, 1/0.7, -7, 7) }, func(d, s []float32) { quantGo(d, s, 1/0.7, -7, 7) }},
	}
	for _, k := range kerns {
		for n := 0; n <= 70; n++ {
			for off := 0; off < 8; off++ {
				src := make([]float32, n+off+2*guard)
				fill(src)
				a := make([]float32, len(src))
				for i := range a {
					a[i] = sentinel
				}
				fill(a[guard+off : guard+off+n])
				b := append([]float32(nil), a...)
				k.fast(a[guard+off:guard+off+n], src[guard+off:guard+off+n])
				k.ref(b[guard+off:guard+off+n], src[guard+off:guard+off+n])
				for i := range a {
					if !same(a[i], b[i]) {
						t.Fatalf("%s n=%d off=%d: element %d: fast %v, twin %v", k.name, n, off, i-guard-off, a[i], b[i])
					}
					if (i < guard+off || i >= guard+off+n) && !same(a[i], sentinel) {
						t.Fatalf("%s n=%d off=%d: guard %d overwritten", k.name, n, off, i)
					}
				}
			}
		}
	}
}

func TestRoundEven(t *testing.T) {
	for _, x := range []float32{0.5, 1.5, 2.5, -0.5, -1.5, 3.49, 3.51, 254.5, 255, -126.5, 0.49999997} {
		want := float32(math.RoundToEven(float64(x)))
		if got := RoundEven(x); got != want {
			t.Errorf("roundEven(%v) = %v, want %v", x, got, want)
		}
	}
}

// TestSumRowsMatchesTwin compares SumRows (assembly where available) with
// a sequential loop over the rows, for widths 0-40 (vector prefixes and
// tails), 1-70 rows and special values, bit for bit, and checks that it
// writes nothing past dst and refuses a short src.
func TestSumRowsMatchesTwin(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	special := []float32{float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 1e30, -1e30, 1e-40}
	const sentinel = float32(-12345.678)
	for n := 0; n <= 40; n++ {
		for _, rows := range []int{1, 2, 3, 7, 64, 70} {
			src := make([]float32, rows*n)
			for i := range src {
				if rng.IntN(8) == 0 {
					src[i] = special[rng.IntN(len(special))]
				} else {
					src[i] = float32(rng.NormFloat64() * 1e3)
				}
			}
			dst := make([]float32, n+4)
			for i := range dst {
				dst[i] = sentinel
			}
			SumRows(dst[:n], src, rows)
			for b := 0; b < n; b++ {
				want := src[b]
				for p := 1; p < rows; p++ {
					want += src[p*n+b]
				}
				if math.Float32bits(dst[b]) != math.Float32bits(want) {
					t.Fatalf("n=%d rows=%d column %d: %v, want %v", n, rows, b, dst[b], want)
				}
			}
			for i := n; i < len(dst); i++ {
				if dst[i] != sentinel {
					t.Fatalf("n=%d rows=%d: wrote past dst at %d", n, rows, i)
				}
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("SumRows took a src shorter than rows*n")
		}
	}()
	SumRows(make([]float32, 8), make([]float32, 15), 2)
}
