package quant

import (
	"math/rand/v2"
	"testing"
)

func TestInt8PackingMatchesTwins(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for n := 0; n <= 70; n++ {
		rows := make([][]byte, 4)
		for i := range rows {
			rows[i] = make([]byte, n)
			for j := range rows[i] {
				rows[i][j] = byte(rng.IntN(256))
			}
		}
		a := make([]byte, 4*n+8)
		b := make([]byte, 4*n+8)
		for i := range a {
			a[i], b[i] = 0xAA, 0xAA
		}
		interleave4(a[:4*n], rows[0], rows[1], rows[2], rows[3], n)
		interleave4Go(b[:4*n], rows[0], rows[1], rows[2], rows[3], n)
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("interleave n=%d: byte %d: %d, twin %d", n, i, a[i], b[i])
			}
		}
		f := make([]float32, n)
		for i := range f {
			f[i] = float32(rng.IntN(256))
		}
		u1 := make([]byte, n+8)
		u2 := make([]byte, n+8)
		toU8(u1[:n], f)
		toU8Go(u2[:n], f)
		for i := range u1 {
			if u1[i] != u2[i] || (i < n && u1[i] != byte(f[i])) {
				t.Fatalf("toU8 n=%d: byte %d: %d, twin %d, value %v", n, i, u1[i], u2[i], f[min(i, n-1)])
			}
		}
	}
}

// TestGemmU8 checks the int8 GEMM (assembly where available) against
// float64 sums, on shapes with partial tiles, and the micro-kernel against
// its twin.
func TestGemmU8(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for _, sh := range [][3]int{{1, 1, 1}, {4, 64, 4}, {6, 70, 25}, {16, 130, 150}, {10, 1, 3}, {3, 200, 9}} {
		m, n, k := sh[0], sh[1], sh[2]
		kpad, npad, m4 := roundUp4(k), roundUp64(n), roundUp4(m)
		w := make([]int8, m*k)
		for i := range w {
			w[i] = int8(rng.IntN(255) - 127)
		}
		x := make([]byte, k*n)
		for i := range x {
			x[i] = byte(rng.IntN(256))
		}
		a := make([]int8, m4*kpad)
		for i := 0; i < m; i++ {
			copy(a[i*kpad:], w[i*k:(i+1)*k])
		}
		b := make([]byte, kpad*npad)
		packB(b, x, n, k, n, kpad, npad, make([]byte, n))
		c := make([]float32, m*n)
		gemmU8(m, n, kpad, a, b, npad, c, n, make([]float32, 4*64))
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				var s float64
				for p := 0; p < k; p++ {
					s += float64(w[i*k+p]) * float64(x[p*n+j])
				}
				if float64(c[i*n+j]) != s {
					t.Fatalf("%v: c[%d][%d] = %v, want %v", sh, i, j, c[i*n+j], s)
				}
			}
		}
		// The micro-kernel against its twin on the first tile.
		if m4 >= 4 {
			c1 := make([]float32, 4*64)
			c2 := make([]float32, 4*64)
			vnni(kpad/4, a, kpad, b, npad*4, c1, 64)
			vnniGo(kpad/4, a, kpad, b, npad*4, c2, 64)
			for i := range c1 {
				if c1[i] != c2[i] {
					t.Fatalf("%v: micro-kernel element %d: %v, twin %v", sh, i, c1[i], c2[i])
				}
			}
		}
	}
}
