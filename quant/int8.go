package quant

// An int8 GEMM for layers whose input is an unsigned activation quantizer:
// weight levels (int8) times activation levels (uint8) accumulated in int32
// with AVX-512 VNNI, the accumulator converted to float32 at the end. The
// sums are the same integers the float32 path computes exactly, so both
// paths give bit-identical accumulators (below 2^24).
//
// Layouts: A (weights) is m4 x kpad int8, rows padded to a multiple of 4
// with zero rows, columns (k) padded to a multiple of 4 with zeros. B
// (activations) is packed in groups of 4 consecutive k: byte
// ((g*npad)+col)*4 + t holds row 4g+t, column col (npad a multiple of 64,
// padding zero).

// toU8Go is the twin of toU8AVX512: dst[i] = byte(int32(src[i])) for
// activation levels (integers in 0..255 stored as float32).
func toU8Go(dst []byte, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = byte(int32(v))
	}
}

// toU8 converts activation levels to bytes (see toU8Go).
func toU8(dst []byte, src []float32) {
	k := 0
	if useVNNI && len(src) >= 16 {
		k = len(src) &^ 15
		toU8Asm(dst[:k], src[:k])
	}
	toU8Go(dst[k:], src[k:])
}

// interleave4Go is the twin of interleave4AVX: dst[4c+t] = r_t[c] for c < n.
func interleave4Go(dst, r0, r1, r2, r3 []byte, n int) {
	dst = dst[:4*n]
	for c := 0; c < n; c++ {
		dst[4*c] = r0[c]
		dst[4*c+1] = r1[c]
		dst[4*c+2] = r2[c]
		dst[4*c+3] = r3[c]
	}
}

// interleave4 interleaves four byte rows of n values (see interleave4Go).
func interleave4(dst, r0, r1, r2, r3 []byte, n int) {
	k := 0
	if useVNNI && n >= 16 {
		k = n &^ 15
		interleave4Asm(dst[:4*k], r0[:k], r1[:k], r2[:k], r3[:k])
	}
	interleave4Go(dst[4*k:], r0[k:], r1[k:], r2[k:], r3[k:], n-k)
}

// vnniGo is the twin of vnni4x64: c[i*ldc+j] = float32(sum over g, t of
// a[i*lda+4g+t] * b[g*ldb+4j+t]) for i < 4, j < 64.
func vnniGo(kg int, a []int8, lda int, b []byte, ldb int, c []float32, ldc int) {
	for i := 0; i < 4; i++ {
		for j := 0; j < 64; j++ {
			var s int32
			for g := 0; g < kg; g++ {
				for t := 0; t < 4; t++ {
					s += int32(a[i*lda+4*g+t]) * int32(b[g*ldb+4*j+t])
				}
			}
			c[i*ldc+j] = float32(s)
		}
	}
}

// packB packs rows [0, k) of a row-major byte matrix x (k x n, row stride
// ldx) into dst (kpad/4 groups of npad x 4 bytes); rows k..kpad-1 and
// columns n..npad-1 are zero.
func packB(dst []byte, x []byte, ldx, k, n, kpad, npad int, zero []byte) {
	for g := 0; g < kpad/4; g++ {
		var rows [4][]byte
		for t := 0; t < 4; t++ {
			r := 4*g + t
			if r < k {
				rows[t] = x[r*ldx : r*ldx+n]
			} else {
				rows[t] = zero[:n]
			}
		}
		d := dst[g*npad*4 : (g+1)*npad*4]
		interleave4(d, rows[0], rows[1], rows[2], rows[3], n)
		clear(d[4*n:])
	}
}

// gemmU8 computes c (m x n, row stride ldc) = A x B with A packed as above
// (m rows used of m4, row stride kpad) and B packed (npad columns); tile is
// a 4 x 64 scratch for partial tiles.
func gemmU8(m, n, kpad int, a []int8, b []byte, npad int, c []float32, ldc int, tile []float32) {
	kg := kpad / 4
	for j0 := 0; j0 < n; j0 += 64 {
		for i0 := 0; i0 < m; i0 += 4 {
			bp := b[j0*4:]
			ap := a[i0*kpad:]
			if i0+4 <= m && j0+64 <= n {
				vnni(kg, ap, kpad, bp, npad*4, c[i0*ldc+j0:], ldc)
				continue
			}
			vnni(kg, ap, kpad, bp, npad*4, tile, 64)
			for i := i0; i < min(i0+4, m); i++ {
				copy(c[i*ldc+j0:i*ldc+min(j0+64, n)], tile[(i-i0)*64:(i-i0)*64+min(64, n-j0)])
			}
		}
	}
}

// roundUp4 and roundUp64 round up to multiples of 4 and 64.
func roundUp4(x int) int  { return (x + 3) &^ 3 }
func roundUp64(x int) int { return (x + 63) &^ 63 }

// quantU8Go is the twin of quantU8AVX512: dst[i] = byte(quantGo(src[i])) with
// lo = 0 (an unsigned quantizer; hi <= 255).
func quantU8Go(dst []byte, src []float32, inv, hi float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = byte(int32(quantLevel(v, inv, 0, hi)))
	}
}

// quantLevel is quantGo's formula for one value.
func quantLevel(v, inv, lo, hi float32) float32 {
	x := v * inv
	t := lo
	if x > lo {
		t = x
	}
	if !(t < hi) {
		t = hi
	}
	return roundEven(t)
}

// quantU8 writes the unsigned activation levels of src (inv = 1/scale,
// levels 0..hi, hi <= 255) to dst as bytes (see quantU8Go).
func quantU8(dst []byte, src []float32, inv, hi float32) {
	k := 0
	if useVNNI && len(src) >= 16 {
		k = len(src) &^ 15
		quantU8Asm(dst[:k], src[:k], inv, hi)
	}
	quantU8Go(dst[k:], src[k:], inv, hi)
}

// vnniSum is the int32 dot product of row i, column j of a vnni4x64 tile.
func vnniSum(kg int, a []int8, lda int, b []byte, ldb, i, j int) int32 {
	var s int32
	for g := 0; g < kg; g++ {
		for t := 0; t < 4; t++ {
			s += int32(a[i*lda+4*g+t]) * int32(b[g*ldb+4*j+t])
		}
	}
	return s
}

// vnniQGo is the twin of vnniQ4x64: for i < 4, j < 64, with s the int32
// sum of vnniGo, dst[i*ldd+j] = byte(quantLevel(post(float32(s), mult[i],
// bias[i]), inv, 0, hi)): the layer's output rescaled and requantized to
// the next layer's unsigned activation levels, exactly as the float32
// path computes them.
func vnniQGo(kg int, a []int8, lda int, b []byte, ldb int, dst []byte, ldd int, mult, bias []float32, inv, hi float32) {
	for i := 0; i < 4; i++ {
		for j := 0; j < 64; j++ {
			y := post(float32(vnniSum(kg, a, lda, b, ldb, i, j)), mult[i], bias[i])
			dst[i*ldd+j] = byte(int32(quantLevel(y, inv, 0, hi)))
		}
	}
}

// vnniPGo is the twin of vnniP4x64: c[i*ldc+j] = post(float32(s), mult[i],
// bias[i]) for the int32 sum s of vnniGo, followed by a ReLU (y > 0 ? y :
// 0) when withRelu.
func vnniPGo(kg int, a []int8, lda int, b []byte, ldb int, c []float32, ldc int, mult, bias []float32, withRelu bool) {
	for i := 0; i < 4; i++ {
		for j := 0; j < 64; j++ {
			y := post(float32(vnniSum(kg, a, lda, b, ldb, i, j)), mult[i], bias[i])
			if withRelu && !(y > 0) {
				y = 0
			}
			c[i*ldc+j] = y
		}
	}
}

// gemmU8Q is gemmU8 with the requantizing epilogue of vnniQGo: dst (m x n
// bytes, row stride ldd) receives the activation levels of the rescaled
// output; mult and bias hold at least roundUp4(m) values; tile is a 4 x 64
// byte scratch for partial tiles.
func gemmU8Q(m, n, kpad int, a []int8, b []byte, npad int, dst []byte, ldd int, mult, bias []float32, inv, hi float32, tile []byte) {
	kg := kpad / 4
	for j0 := 0; j0 < n; j0 += 64 {
		for i0 := 0; i0 < m; i0 += 4 {
			bp := b[j0*4:]
			ap := a[i0*kpad:]
			if i0+4 <= m && j0+64 <= n {
				vnniQ(kg, ap, kpad, bp, npad*4, dst[i0*ldd+j0:], ldd, mult[i0:], bias[i0:], inv, hi)
				continue
			}
			vnniQ(kg, ap, kpad, bp, npad*4, tile, 64, mult[i0:], bias[i0:], inv, hi)
			for i := i0; i < min(i0+4, m); i++ {
				copy(dst[i*ldd+j0:i*ldd+min(j0+64, n)], tile[(i-i0)*64:(i-i0)*64+min(64, n-j0)])
			}
		}
	}
}

// gemmU8P is gemmU8 with the rescaling epilogue of vnniPGo (c = the
// layer's float32 output, after a ReLU when withRelu).
func gemmU8P(m, n, kpad int, a []int8, b []byte, npad int, c []float32, ldc int, mult, bias []float32, withRelu bool, tile []float32) {
	kg := kpad / 4
	for j0 := 0; j0 < n; j0 += 64 {
		for i0 := 0; i0 < m; i0 += 4 {
			bp := b[j0*4:]
			ap := a[i0*kpad:]
			if i0+4 <= m && j0+64 <= n {
				vnniP(kg, ap, kpad, bp, npad*4, c[i0*ldc+j0:], ldc, mult[i0:], bias[i0:], withRelu)
				continue
			}
			vnniP(kg, ap, kpad, bp, npad*4, tile, 64, mult[i0:], bias[i0:], withRelu)
			for i := i0; i < min(i0+4, m); i++ {
				copy(c[i*ldc+j0:i*ldc+min(j0+64, n)], tile[(i-i0)*64:(i-i0)*64+min(64, n-j0)])
			}
		}
	}
}
