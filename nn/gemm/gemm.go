// Package gemm provides the dense float32 kernels of ccq's neural-network
// engine: single-precision matrix multiplication (Sgemm), the image/column
// transforms that turn a convolution into a matrix product (Im2col, Col2im),
// and two vector operations (Axpy, Dot).
//
// All matrices are row-major: element (i, j) of a matrix stored with row
// stride ld lives at index i*ld + j.
//
// Sgemm is a blocked GotoBLAS/BLIS-style algorithm: panels of op(A) and op(B)
// are packed into contiguous, zero-padded buffers and a register-blocked
// micro-kernel computes one small tile of C at a time. On amd64 the
// micro-kernel is Go assembly (AVX-512 or AVX2+FMA, chosen at start-up from
// CPUID); with the build tag purego, on other architectures, or on CPUs
// without AVX2+FMA, a pure-Go micro-kernel is used instead. Large products are
// split across goroutines (see SetThreads); small ones run on the calling
// goroutine. All functions are safe for concurrent use.
//
// Results are deterministic: for a given build and CPU, Sgemm's output does
// not depend on the thread count or on how many other goroutines call it,
// because the work is split along M and N on micro-tile boundaries and never
// along K.
package gemm

import "fmt"

// Sgemm computes C = alpha*op(A)*op(B) + beta*C where op(X) is X, or X^T when
// the corresponding trans flag is set. op(A) is m x k, op(B) is k x n and C is
// m x n. A is stored as m x k (k x m when transA) with row stride lda, B as
// k x n (n x k when transB) with row stride ldb, and C with row stride ldc.
//
// C must not overlap A or B. When beta is 0, C is overwritten without being
// read (NaNs in C do not propagate). When alpha is 0 or k is 0, A and B are not read and C becomes
// beta*C (zero when beta is 0), as in the reference BLAS.
//
// Sgemm panics when a dimension is negative, a stride is smaller than the
// stored row length, or a slice is too short for the shape and stride: these
// are programming errors, and the fast kernels must not touch memory outside
// the slices.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if alpha == 0 || k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// checkArgs panics with a clear message when the arguments of Sgemm do not
// describe matrices that fit in the given slices.
func checkArgs(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkMatrix("A", ar, ac, a, lda)
	checkMatrix("B", br, bc, b, ldb)
	checkMatrix("C", m, n, c, ldc)
}

// checkMatrix panics unless a rows x cols matrix with row stride ld fits in s.
func checkMatrix(name string, rows, cols int, s []float32, ld int) {
	if ld < max(1, cols) {
		panic(fmt.Sprintf("gemm: ld%s=%d is smaller than the %d columns of %s as stored", name, ld, cols, name))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*ld + cols; len(s) < need {
		panic(fmt.Sprintf("gemm: %s has %d elements, a %dx%d matrix with row stride %d needs %d", name, len(s), rows, cols, ld, need))
	}
}

// scaleC sets C = beta*C (C = 0 when beta is 0, without reading C).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		switch beta {
		case 0:
			clear(row)
		case 1:
		default:
			for j := range row {
				row[j] *= beta
			}
		}
	}
}

// Reference is the straightforward triple loop with Sgemm's contract, used
// to test the fast kernels. It accumulates each dot product in float32 in
// order of increasing k.
func Reference(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}
