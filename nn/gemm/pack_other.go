//go:build purego || !amd64

package gemm

// transpose8 writes dst[p*ldd+i] = src[i*lds+p] for i < 8 and p < n.
func transpose8(dst []float32, ldd int, src []float32, lds, n int) {
	transpose8Go(dst, ldd, src, lds, n)
}
