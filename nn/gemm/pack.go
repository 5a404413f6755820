package gemm

// Packed layouts.
//
// packA copies the mc x kc block of op(A) starting at row i0, column p0 into
// ceil(mc/mr) micro-panels. Micro-panel q holds rows q*mr .. q*mr+mr-1 of the
// block, stored k-major: element (row q*mr+ii, column p) is at
// dst[q*kc*mr + p*mr + ii]. Rows past mc are zero.
//
// packB copies the kc x nc block of op(B) starting at row p0, column j0 into
// ceil(nc/nr) micro-panels. Micro-panel q holds columns q*nr .. q*nr+nr-1,
// stored k-major: element (row p, column q*nr+jj) is at
// dst[q*kc*nr + p*nr + jj]. Columns past nc are zero.
//
// Zero padding lets the micro-kernel always compute a full mr x nr tile; it
// only stores the valid part.

// packA packs op(A)[i0:i0+mc, p0:p0+kc] into dst (see the layout above).
func packA(dst []float32, a []float32, lda int, transA bool, i0, mc, p0, kc, mr int) {
	for q := 0; q*mr < mc; q++ {
		rows := min(mr, mc-q*mr)
		d := dst[q*kc*mr : (q+1)*kc*mr]
		r0 := i0 + q*mr
		if transA {
			// op(A)(i, p) = a[p*lda + i]: each k step is a contiguous run.
			if rows == mr && mr == 8 {
				for p := 0; p < kc; p++ {
					*(*[8]float32)(d[p*8:]) = *(*[8]float32)(a[(p0+p)*lda+r0:])
				}
				continue
			}
			if rows == mr && mr == 16 {
				for p := 0; p < kc; p++ {
					*(*[16]float32)(d[p*16:]) = *(*[16]float32)(a[(p0+p)*lda+r0:])
				}
				continue
			}
			for p := 0; p < kc; p++ {
				src := a[(p0+p)*lda+r0:]
				dp := d[p*mr : p*mr+mr]
				copy(dp, src[:rows])
				clear(dp[rows:])
			}
			continue
		}
		// op(A)(i, p) = a[i*lda + p]: gather one value from each row.
		if rows == mr {
			switch {
			case mr%8 == 0:
				for g := 0; g < mr; g += 8 {
					transpose8(d[g:], mr, a[(r0+g)*lda+p0:], lda, kc)
				}
				continue
			case mr == 6:
				packRows6(d, a, lda, r0, p0, kc)
				continue
			case mr == 4:
				packRows4(d, a, lda, r0, p0, kc)
				continue
			}
		}
		if rows < mr {
			clear(d)
		}
		for ii := 0; ii < rows; ii++ {
			src := a[(r0+ii)*lda+p0:]
			src = src[:kc]
			for p, v := range src {
				d[p*mr+ii] = v
			}
		}
	}
}

// packRows6 interleaves kc values from each of 6 rows of a (row stride ld,
// rows r0.., columns p0..) into d: d[p*6+ii] = a[(r0+ii)*ld + p0+p].
func packRows6(d []float32, a []float32, ld, r0, p0, kc int) {
	s0 := a[(r0+0)*ld+p0:][:kc]
	s1 := a[(r0+1)*ld+p0:][:kc]
	s2 := a[(r0+2)*ld+p0:][:kc]
	s3 := a[(r0+3)*ld+p0:][:kc]
	s4 := a[(r0+4)*ld+p0:][:kc]
	s5 := a[(r0+5)*ld+p0:][:kc]
	for p := range s0 {
		dp := d[p*6 : p*6+6 : p*6+6]
		dp[0] = s0[p]
		dp[1] = s1[p]
		dp[2] = s2[p]
		dp[3] = s3[p]
		dp[4] = s4[p]
		dp[5] = s5[p]
	}
}

// packRows4 is packRows6 for 4 rows: d[p*4+ii] = a[(r0+ii)*ld + p0+p].
func packRows4(d []float32, a []float32, ld, r0, p0, kc int) {
	s0 := a[(r0+0)*ld+p0:][:kc]
	s1 := a[(r0+1)*ld+p0:][:kc]
	s2 := a[(r0+2)*ld+p0:][:kc]
	s3 := a[(r0+3)*ld+p0:][:kc]
	for p := range s0 {
		dp := d[p*4 : p*4+4 : p*4+4]
		dp[0] = s0[p]
		dp[1] = s1[p]
		dp[2] = s2[p]
		dp[3] = s3[p]
	}
}

// packB packs op(B)[p0:p0+kc, j0:j0+nc] into dst (see the layout above).
func packB(dst []float32, b []float32, ldb int, transB bool, p0, kc, j0, nc, nr int) {
	if !transB {
		packBRows(dst, b, ldb, p0, kc, j0, nc, nr)
		return
	}
	for q := 0; q*nr < nc; q++ {
		cols := min(nr, nc-q*nr)
		d := dst[q*kc*nr : (q+1)*kc*nr]
		c0 := j0 + q*nr
		// op(B)(p, j) = b[j*ldb + p]: gather one value from each row of B,
		// eight columns of the panel at a time.
		jj := 0
		for ; jj+8 <= cols; jj += 8 {
			packCols8(d[jj:], nr, b, ldb, c0+jj, p0, kc)
		}
		for ; jj < nr; jj++ {
			if jj >= cols {
				for p := 0; p < kc; p++ {
					d[p*nr+jj] = 0
				}
				continue
			}
			src := b[(c0+jj)*ldb+p0:]
			src = src[:kc]
			for p, v := range src {
				d[p*nr+jj] = v
			}
		}
	}
}

// packBRows packs a block of B stored k x n: op(B)(p, j) = b[p*ldb + j].
// It walks B row by row, so the source is read sequentially, and scatters
// each row over the micro-panels.
func packBRows(dst []float32, b []float32, ldb int, p0, kc, j0, nc, nr int) {
	full := nc / nr
	for p := 0; p < kc; p++ {
		src := b[(p0+p)*ldb+j0:]
		src = src[:nc]
		q := 0
		switch nr {
		case 16:
			for ; q < full; q++ {
				*(*[16]float32)(dst[q*kc*16+p*16:]) = *(*[16]float32)(src[q*16:])
			}
		case 32:
			for ; q < full; q++ {
				*(*[32]float32)(dst[q*kc*32+p*32:]) = *(*[32]float32)(src[q*32:])
			}
		default:
			for ; q < full; q++ {
				copy(dst[q*kc*nr+p*nr:q*kc*nr+p*nr+nr], src[q*nr:q*nr+nr])
			}
		}
		if rest := nc - full*nr; rest > 0 {
			dp := dst[full*kc*nr+p*nr : full*kc*nr+p*nr+nr]
			sp := src[full*nr:]
			for i, v := range sp {
				dp[i] = v
			}
			for i := rest; i < nr; i++ {
				dp[i] = 0
			}
		}
	}
}

// packCols8 writes d[p*stride+jj] = b[(r0+jj)*ld + p0+p] for jj < 8, p < kc.
func packCols8(d []float32, stride int, b []float32, ld, r0, p0, kc int) {
	transpose8(d, stride, b[r0*ld+p0:], ld, kc)
}

// transpose8Go is the pure-Go twin of the assembly transpose8 kernels:
// dst[p*ldd+i] = src[i*lds+p] for i < 8 and p < n.
func transpose8Go(dst []float32, ldd int, src []float32, lds, n int) {
	if n == 0 {
		return
	}
	s0 := src[0*lds:][:n]
	s1 := src[1*lds:][:n]
	s2 := src[2*lds:][:n]
	s3 := src[3*lds:][:n]
	s4 := src[4*lds:][:n]
	s5 := src[5*lds:][:n]
	s6 := src[6*lds:][:n]
	s7 := src[7*lds:][:n]
	for p := range s0 {
		dp := dst[p*ldd : p*ldd+8 : p*ldd+8]
		dp[0] = s0[p]
		dp[1] = s1[p]
		dp[2] = s2[p]
		dp[3] = s3[p]
		dp[4] = s4[p]
		dp[5] = s5[p]
		dp[6] = s6[p]
		dp[7] = s7[p]
	}
}
