package gemm

// microFunc is the signature of every micro-kernel. It computes the mr x nr
// tile T = alpha * Ap * Bp, where Ap is a packed A micro-panel (kc x MR,
// k-major: Ap(i, p) = a[p*MR+i]) and Bp a kc x NR panel of B with row
// stride ldb (Bp(p, j) = b[p*ldb+j]: ldb is NR for a packed panel, B's own
// row stride when the kernel reads B in place), and stores it into the top-left mr x nr corner of
// the C tile starting at c (row stride ldc): c = T when beta is 0 (C is not
// read), c = T + beta*c otherwise. mr <= MR and nr <= NR; the kernel never
// touches C outside the mr x nr corner.
type microFunc func(kc int, a, b []float32, c []float32, ldb, ldc int, alpha, beta float32, mr, nr int)

// kernel describes one micro-kernel and the cache blocking it is used with.
type kernel struct {
	name   string
	mr, nr int // register tile
	kc     int // largest k block: a kc x nr panel of B stays in L1
	mc     int // rows of A packed at once: mc x kc stays in L2
	nc     int // columns of B packed at once: kc x nc stays in L3
	fn     microFunc
	// maskedB is set for kernels that read only the first nr columns of
	// B: the driver then reads a partial panel of B in place instead of
	// packing it with zero padding.
	maskedB bool
	// rows, when not nil, is the same kernel reading B by row offsets
	// (see rowsFunc); MulRows gathers B panels for kernels without it.
	rows rowsFunc
}

// rowsFunc is microFunc with B given by row offsets instead of a row
// stride: Bp(p, j) = b[off[p]+j]. It reads only the first nr columns of
// each row.
type rowsFunc func(kc int, a, b []float32, off []int, c []float32, ldc int, alpha, beta float32, mr, nr int)

// microGoRows is the pure-Go twin of the kernels taking B by row offsets
// (microGo with Bp(p, j) = b[off[p]+j]):
//
//	for p := 0; p < kc; p++ {
//		for i := 0; i < MR; i++ {
//			for j := 0; j < NR; j++ {
//				acc[i][j] += a[p*MR+i] * b[off[p]+j]
//			}
//		}
//	}
//	c[i*ldc+j] = alpha*acc[i][j] (+ beta*c[i*ldc+j] when beta != 0), i < mr, j < nr
func microGoRows(MR, NR int) rowsFunc {
	return func(kc int, a, b []float32, off []int, c []float32, ldc int, alpha, beta float32, mr, nr int) {
		acc := make([]float32, MR*NR)
		for p := 0; p < kc; p++ {
			for i := 0; i < MR; i++ {
				ai := a[p*MR+i]
				for j := 0; j < nr; j++ {
					acc[i*NR+j] += ai * b[off[p]+j]
				}
			}
		}
		storeTile(acc, NR, c, ldc, alpha, beta, mr, nr)
	}
}

// microGo is the pure-Go twin of every micro-kernel, for any register tile
// MR x NR (the assembly kernels' doc comments refer to this loop):
//
//	for p := 0; p < kc; p++ {
//		for i := 0; i < MR; i++ {
//			for j := 0; j < NR; j++ {
//				acc[i][j] += a[p*MR+i] * b[p*ldb+j]
//			}
//		}
//	}
//	c[i*ldc+j] = alpha*acc[i][j] (+ beta*c[i*ldc+j] when beta != 0), i < mr, j < nr
//
// It is slow (the accumulators live in memory) and serves as the reference
// for the kernels on packed panels in the tests. It reads only the first nr
// columns of B.
func microGo(MR, NR int) microFunc {
	return func(kc int, a, b []float32, c []float32, ldb, ldc int, alpha, beta float32, mr, nr int) {
		acc := make([]float32, MR*NR)
		for p := 0; p < kc; p++ {
			for i := 0; i < MR; i++ {
				ai := a[p*MR+i]
				for j := 0; j < nr; j++ {
					acc[i*NR+j] += ai * b[p*ldb+j]
				}
			}
		}
		storeTile(acc, NR, c, ldc, alpha, beta, mr, nr)
	}
}

// storeTile writes alpha*acc (+ beta*c) into the mr x nr corner of c.
func storeTile(acc []float32, accStride int, c []float32, ldc int, alpha, beta float32, mr, nr int) {
	for i := 0; i < mr; i++ {
		row := c[i*ldc : i*ldc+nr]
		t := acc[i*accStride : i*accStride+nr]
		if beta == 0 {
			for j := range row {
				row[j] = alpha * t[j]
			}
		} else {
			for j := range row {
				row[j] = alpha*t[j] + beta*row[j]
			}
		}
	}
}

// goKernel is the pure-Go micro-kernel: a 4 x 4 register tile unrolled by
// hand (the loop of microGo with MR = NR = 4). It is used with the purego
// build tag, on architectures other than amd64, and on CPUs without AVX2+FMA.
var goKernel = kernel{name: "go4x4", mr: 4, nr: 4, kc: 256, mc: 128, nc: 1024, fn: micro4x4}

// micro4x4 is microGo with MR = NR = 4, its sixteen accumulators in locals.
func micro4x4(kc int, a, b []float32, c []float32, ldb, ldc int, alpha, beta float32, mr, nr int) {
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var c30, c31, c32, c33 float32
	a = a[:kc*4]
	for p := 0; p < kc; p++ {
		ap := a[p*4 : p*4+4 : p*4+4]
		bp := b[p*ldb : p*ldb+4 : p*ldb+4]
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		a0 := ap[0]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		a1 := ap[1]
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		a2 := ap[2]
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		a3 := ap[3]
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	acc := [16]float32{
		c00, c01, c02, c03,
		c10, c11, c12, c13,
		c20, c21, c22, c23,
		c30, c31, c32, c33,
	}
	storeTile(acc[:], 4, c, ldc, alpha, beta, mr, nr)
}
