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

// addRowsAVX512 adds a rows x cols block of src (row stride lds) into dst
// (row stride ldd), sixteen lanes at a time, then eight, then one. Its pure-Go
// twin is addRowsGo:
//
//	for r := 0; r < rows; r++ {
//		for j := 0; j < cols; j++ {
//			dst[r*ldd+j] += src[r*lds+j]
//		}
//	}
//
// Each element is one IEEE addition, so the result is the same as the twin's.
//
//go:noescape
func addRowsAVX512(dst *float32, ldd int, src *float32, lds, rows, cols int)

// addRowsAVX2 is addRowsAVX512 with eight lanes and a scalar tail.
//
//go:noescape
func addRowsAVX2(dst *float32, ldd int, src *float32, lds, rows, cols int)

// addRows is called with rows, cols >= 1 and both blocks in bounds.
func addRows(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	_ = dst[(rows-1)*ldd+cols-1]
	_ = src[(rows-1)*lds+cols-1]
	switch {
	case hasAVX512:
		addRowsAVX512(&dst[0], ldd, &src[0], lds, rows, cols)
	case hasAVX2:
		addRowsAVX2(&dst[0], ldd, &src[0], lds, rows, cols)
	default:
		addRowsGo(dst, ldd, src, lds, rows, cols)
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
	out := []vecKernel{{"go", axpyGo, dotGo, addRowsGo}}
	if hasAVX2 {
		out = append(out, vecKernel{"avx2", axpyAsm2, dotAsm2, func(dst []float32, ldd int, src []float32, lds, rows, cols int) {
			addRowsAVX2(&dst[0], ldd, &src[0], lds, rows, cols)
		}})
	}
	if hasAVX512 {
		out = append(out, vecKernel{"avx512", axpyAsm512, dotAsm512, func(dst []float32, ldd int, src []float32, lds, rows, cols int) {
			addRowsAVX512(&dst[0], ldd, &src[0], lds, rows, cols)
		}})
	}
	return out
}
