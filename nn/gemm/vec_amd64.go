//go:build !purego

package gemm

// axpyAVX512 computes y[i] = fma(alpha, x[i], y[i]) for i < n, sixteen
// lanes at a time with a masked tail. Its pure-Go twin is axpyGo:
//
//	for i := range x {
//		y[i] += alpha * x[i]
//	}
//
//go:noescape
func axpyAVX512(alpha float32, x, y *float32, n int)

// axpyAVX2 is axpyAVX512 with eight lanes and a scalar tail.
//
//go:noescape
func axpyAVX2(alpha float32, x, y *float32, n int)

// dotAVX512 returns the sum of x[i]*y[i], i < n, accumulated with FMAs into
// four 16-lane vector sums (blocks of 64 elements spread over the four, then
// blocks of 16 into the first and the masked tail into the second), which
// are then reduced by a fixed tree of additions. Its pure-Go twin, equal up
// to rounding, is dotGo:
//
//	for i := range x {
//		s[i%4] += x[i] * y[i]
//	}
//	return (s[0] + s[1]) + (s[2] + s[3])
//
//go:noescape
func dotAVX512(x, y *float32, n int) float32

// dotAVX2 is dotAVX512 with four 8-lane partial sums and a scalar tail.
//
//go:noescape
func dotAVX2(x, y *float32, n int) float32

// addBlocksAVX512 adds blocks rows x cols blocks of src into dst: block b
// starts at src + b*dsb and dst + b*ddb, rows have strides lds and ldd. It
// uses sixteen lanes at a time, then eight, then a masked eight for the
// last cols%8 columns (AVX-512VL). Its pure-Go twin is
// addBlocksGo:
//
//	for b := 0; b < blocks; b++ {
//		for r := 0; r < rows; r++ {
//			for j := 0; j < cols; j++ {
//				dst[b*ddb+r*ldd+j] += src[b*dsb+r*lds+j]
//			}
//		}
//	}
//
// Each element is one IEEE addition, so the result is the same as the twin's.
//
//go:noescape
func addBlocksAVX512(dst *float32, ldd, ddb int, src *float32, lds, dsb, blocks, rows, cols int)

// addBlocksAVX2 is addBlocksAVX512 with eight lanes, then one.
//
//go:noescape
func addBlocksAVX2(dst *float32, ldd, ddb int, src *float32, lds, dsb, blocks, rows, cols int)

// addBlocks is called with blocks, rows, cols >= 1.
func addBlocks(dst []float32, ldd, ddb int, src []float32, lds, dsb, blocks, rows, cols int) {
	_ = dst[(blocks-1)*ddb+(rows-1)*ldd+cols-1]
	_ = src[(blocks-1)*dsb+(rows-1)*lds+cols-1]
	switch {
	case hasAVX512:
		addBlocksAVX512(&dst[0], ldd, ddb, &src[0], lds, dsb, blocks, rows, cols)
	case hasAVX2:
		addBlocksAVX2(&dst[0], ldd, ddb, &src[0], lds, dsb, blocks, rows, cols)
	default:
		addBlocksGo(dst, ldd, ddb, src, lds, dsb, blocks, rows, cols)
	}
}

func axpyAsm512(alpha float32, x, y []float32) { axpyAVX512(alpha, &x[0], &y[0], len(x)) }
func axpyAsm2(alpha float32, x, y []float32)   { axpyAVX2(alpha, &x[0], &y[0], len(x)) }
func dotAsm512(x, y []float32) float32         { return dotAVX512(&x[0], &y[0], len(x)) }
func dotAsm2(x, y []float32) float32           { return dotAVX2(&x[0], &y[0], len(x)) }

// axpy and dot are called with len(x) == len(y) > 0.
func axpy(alpha float32, x, y []float32) {
	switch {
	case hasAVX512:
		axpyAVX512(alpha, &x[0], &y[0], len(x))
	case hasAVX2:
		axpyAVX2(alpha, &x[0], &y[0], len(x))
	default:
		axpyGo(alpha, x, y)
	}
}

func dot(x, y []float32) float32 {
	switch {
	case hasAVX512:
		return dotAVX512(&x[0], &y[0], len(x))
	case hasAVX2:
		return dotAVX2(&x[0], &y[0], len(x))
	}
	return dotGo(x, y)
}

// vecKernels lists the Axpy and Dot implementations this build can run on
// this CPU.
func vecKernels() []vecKernel {
	out := []vecKernel{{"go", axpyGo, dotGo, addBlocksGo}}
	if hasAVX2 {
		out = append(out, vecKernel{"avx2", axpyAsm2, dotAsm2, func(dst []float32, ldd, ddb int, src []float32, lds, dsb, blocks, rows, cols int) {
			addBlocksAVX2(&dst[0], ldd, ddb, &src[0], lds, dsb, blocks, rows, cols)
		}})
	}
	if hasAVX512 {
		out = append(out, vecKernel{"avx512", axpyAsm512, dotAsm512, func(dst []float32, ldd, ddb int, src []float32, lds, dsb, blocks, rows, cols int) {
			addBlocksAVX512(&dst[0], ldd, ddb, &src[0], lds, dsb, blocks, rows, cols)
		}})
	}
	return out
}
