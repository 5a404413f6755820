package gemm

import "fmt"

// Axpy computes y[i] += alpha*x[i] for every i. x and y must have the same
// length (it panics otherwise); they may not overlap unless they are the same
// slice.
func Axpy(alpha float32, x, y []float32) {
	if len(x) != len(y) {
		panic(fmt.Sprintf("gemm: Axpy with len(x)=%d != len(y)=%d", len(x), len(y)))
	}
	if len(x) == 0 || alpha == 0 {
		return
	}
	axpy(alpha, x, y)
}

// Dot returns the sum of x[i]*y[i]. x and y must have the same length (it
// panics otherwise). The fast version sums in several interleaved partial
// sums, so the result can differ from a sequential float32 loop by rounding
// (at most about len(x) units of roundoff times the sum of |x[i]*y[i]|);
// for a given build and CPU it is deterministic.
func Dot(x, y []float32) float32 {
	if len(x) != len(y) {
		panic(fmt.Sprintf("gemm: Dot with len(x)=%d != len(y)=%d", len(x), len(y)))
	}
	if len(x) == 0 {
		return 0
	}
	return dot(x, y)
}

// axpyGo is the pure-Go twin of the assembly Axpy kernels:
//
//	for i := range x {
//		y[i] += alpha * x[i]
//	}
func axpyGo(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

// dotGo is the pure-Go twin of the assembly Dot kernels. It keeps four
// partial sums, like the assembly keeps several vector accumulators:
//
//	for i := range x {
//		s[i%4] += x[i] * y[i]
//	}
//	return (s[0] + s[1]) + (s[2] + s[3])
func dotGo(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * y[i]
		s1 += x[i+1] * y[i+1]
		s2 += x[i+2] * y[i+2]
		s3 += x[i+3] * y[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// vecKernel is one implementation of Axpy and Dot (for the tests).
type vecKernel struct {
	name string
	axpy func(alpha float32, x, y []float32)
	dot  func(x, y []float32) float32
	add  func(dst []float32, ldd, ddb int, src []float32, lds, dsb, blocks, rows, cols int)
}

// addBlocksGo is the pure-Go twin of the assembly addBlocks kernels: it adds
// blocks rows x cols blocks of src (block stride dsb, row stride lds) into
// dst (block stride ddb, row stride ldd).
//
//	for b := 0; b < blocks; b++ {
//		for r := 0; r < rows; r++ {
//			for j := 0; j < cols; j++ {
//				dst[b*ddb+r*ldd+j] += src[b*dsb+r*lds+j]
//			}
//		}
//	}
func addBlocksGo(dst []float32, ldd, ddb int, src []float32, lds, dsb, blocks, rows, cols int) {
	for b := 0; b < blocks; b++ {
		for r := 0; r < rows; r++ {
			d := dst[b*ddb+r*ldd : b*ddb+r*ldd+cols]
			s := src[b*dsb+r*lds : b*dsb+r*lds+cols]
			for j, v := range s {
				d[j] += v
			}
		}
	}
}
