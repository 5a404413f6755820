// Package gemm provides single-precision matrix multiplication for ccq's
// float32 engine. All matrices are row-major.
//
// This file holds the API and a simple reference implementation; the fast
// blocked kernel replaces the body of Sgemm without changing its contract.
package gemm

// Sgemm computes C = alpha*op(A)*op(B) + beta*C where op(X) is X or its
// transpose. op(A) is m x k, op(B) is k x n, C is m x n; lda, ldb and ldc are
// the row strides of A, B and C as stored. When beta is 0, C is overwritten
// without being read (NaNs in C do not propagate).
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	Reference(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Reference is the straightforward triple loop with Sgemm's contract, used
// to test the fast kernels.
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
