//go:build !purego

package kernels

import "golang.org/x/sys/cpu"

// useAsm selects the AVX2 kernels; use512 the AVX-512 AXPY.
var (
	useAsm = cpu.X86.HasAVX2
	use512 = cpu.X86.HasAVX512F
)

// The AVX2 kernels process n elements, n a positive multiple of 8; their
// exact results are defined by the Go twins in kernels.go.

//go:noescape
func reluAVX2(dst, src *float32, n int)

//go:noescape
func maxAVX2(dst, src *float32, n int)

//go:noescape
func postAVX2(dst, src *float32, n int, m, b float32)

//go:noescape
func postReluAVX2(dst, src *float32, n int, m, b float32)

//go:noescape
func quantAVX2(dst, src *float32, n int, inv, lo, hi float32)

//go:noescape
func axpyAVX2(a float32, x, y *float32, n int)

//go:noescape
func axpyAVX512(a float32, x, y *float32, n int)

// axpyAsm handles len(x) a positive multiple of 8.
func axpyAsm(a float32, x, y []float32) {
	n := len(x)
	if use512 && n >= 16 {
		k := n &^ 15
		axpyAVX512(a, &x[0], &y[0], k)
		if k == n {
			return
		}
		x, y = x[k:], y[k:]
	}
	axpyAVX2(a, &x[0], &y[0], len(x))
}
func reluAsm(dst, src []float32) { reluAVX2(&dst[0], &src[0], len(src)) }
func maxAsm(dst, src []float32)  { maxAVX2(&dst[0], &src[0], len(src)) }
func postAsm(dst, src []float32, m, b float32, withRelu bool) {
	if withRelu {
		postReluAVX2(&dst[0], &src[0], len(src), m, b)
	} else {
		postAVX2(&dst[0], &src[0], len(src), m, b)
	}
}
func quantAsm(dst, src []float32, inv, lo, hi float32) {
	quantAVX2(&dst[0], &src[0], len(src), inv, lo, hi)
}

//go:noescape
func addAVX2(dst, a, b *float32, n int)

//go:noescape
func addReluAVX2(dst, a, b *float32, n int)

func addAsm(dst, a, b []float32, withRelu bool) {
	if withRelu {
		addReluAVX2(&dst[0], &a[0], &b[0], len(a))
	} else {
		addAVX2(&dst[0], &a[0], &b[0], len(a))
	}
}

//go:noescape
func max4AVX2(dst, a, b, c, d *float32, n int)

func max4Asm(dst, a, b, c, d []float32) { max4AVX2(&dst[0], &a[0], &b[0], &c[0], &d[0], len(a)) }

//go:noescape
func sumRowsAVX2(dst, src *float32, n, ld, rows int)

// sumRowsAsm handles len(dst) a positive multiple of 8.
func sumRowsAsm(dst, src []float32, ld, rows int) {
	sumRowsAVX2(&dst[0], &src[0], len(dst), ld, rows)
}
