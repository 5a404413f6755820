//go:build !purego

package gemm

// transpose8AVX2 writes dst[p*ldd+i] = src[i*lds+p] for i < 8 and p < n, n a
// multiple of 8, transposing 8 x 8 blocks in AVX registers. Its pure-Go twin
// is transpose8Go:
//
//	for p := 0; p < n; p++ {
//		for i := 0; i < 8; i++ {
//			dst[p*ldd+i] = src[i*lds+p]
//		}
//	}
//
//go:noescape
func transpose8AVX2(dst *float32, ldd int, src *float32, lds, n int)

// transpose8 writes dst[p*ldd+i] = src[i*lds+p] for i < 8 and p < n.
func transpose8(dst []float32, ldd int, src []float32, lds, n int) {
	n8 := n &^ 7
	if hasAVX2 && n8 > 0 {
		_ = dst[(n8-1)*ldd+7]
		_ = src[7*lds+n8-1]
		transpose8AVX2(&dst[0], ldd, &src[0], lds, n8)
	} else {
		n8 = 0
	}
	if n > n8 {
		transpose8Go(dst[n8*ldd:], ldd, src[n8:], lds, n-n8)
	}
}
