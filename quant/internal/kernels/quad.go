package kernels

// Byte activations on the integer path are stored in the "quad" layout:
// channels in groups of four, the four channels of a group interleaved
// innermost, so that the four consecutive K values VPDPBUSD multiplies are
// one 32-bit word. A tensor of C channels, H x W pixels and bc samples,
// zero-padded by P pixels on every side, holds element (c, y, x, b) at
//
//	(((c/4)*(H+2P) + y+P)*(W+2P) + x+P)*bc*4 + b*4 + c%4
//
// (channels past C in the last group are zero). A stride-1 convolution then
// reads, for the K group (c/4, ky, kx) and the output row oy, the 4-byte
// words of 64 consecutive columns (ox, b) at one address: the GEMM needs no
// im2col and no packing (an "implicit GEMM"): each group's offset is
// ((c4*(H+2P) + ky)*(W+2P) + kx)*bc*4, plus oy*(W+2P)*bc*4 per output row.
// A linear layer reads group g (the features 4g..4g+3, in (c/4, y, x)
// order) at g*bc*4. The weights are packed in the same K order.

// QuadGeom is the geometry of a quad-layout tensor.
type QuadGeom struct {
	C, H, W, P int
}

// C4 returns the number of channel groups.
func (q QuadGeom) C4() int { return (q.C + 3) / 4 }

// Size returns the bytes of a tensor of bc samples.
func (q QuadGeom) Size(bc int) int { return q.C4() * q.Plane(bc) }

// Plane returns the bytes of one channel group (4 channels, padded) of a
// tensor of bc samples: the distance between Pixel(c4, ...) and
// Pixel(c4+1, ...).
func (q QuadGeom) Plane(bc int) int { return (q.H + 2*q.P) * (q.W + 2*q.P) * bc * 4 }

// Pixel returns the offset of pixel (y, x) (unpadded coordinates) of
// channel group c4 for bc samples.
func (q QuadGeom) Pixel(c4, y, x, bc int) int {
	return ((c4*(q.H+2*q.P)+y+q.P)*(q.W+2*q.P) + x + q.P) * bc * 4
}

// ClearBorder zeroes the padding of a quad tensor of bc samples.
func (q QuadGeom) ClearBorder(t []byte, bc int) {
	if q.P == 0 {
		return
	}
	hp, wp := q.H+2*q.P, q.W+2*q.P
	row := wp * bc * 4
	for c := 0; c < q.C4(); c++ {
		base := c * hp * row
		clear(t[base : base+q.P*row])
		clear(t[base+(q.P+q.H)*row : base+hp*row])
		for y := q.P; y < q.P+q.H; y++ {
			r := base + y*row
			clear(t[r : r+q.P*bc*4])
			clear(t[r+(q.P+q.W)*bc*4 : r+row])
		}
	}
}

// quantQuadGo is the twin of quantQuadAVX512: dst[4j+t] =
// byte(quantLevel(post(r_t[j], mult[t], bias[t]), inv, 0, hi)) for j <
// len(r0): four rows rescaled as a layer's output (or passed through with
// mult 1 and bias 0: only -0 becomes +0, which quantizes alike) and
// quantized to unsigned levels, interleaved.
func quantQuadGo(dst []byte, r0, r1, r2, r3 []float32, mult, bias *[4]float32, inv, hi float32) {
	n := len(r0)
	dst = dst[:4*n]
	r1, r2, r3 = r1[:n], r2[:n], r3[:n]
	for j := 0; j < n; j++ {
		dst[4*j] = byte(int32(quantLevel(Post(r0[j], mult[0], bias[0]), inv, 0, hi)))
		dst[4*j+1] = byte(int32(quantLevel(Post(r1[j], mult[1], bias[1]), inv, 0, hi)))
		dst[4*j+2] = byte(int32(quantLevel(Post(r2[j], mult[2], bias[2]), inv, 0, hi)))
		dst[4*j+3] = byte(int32(quantLevel(Post(r3[j], mult[3], bias[3]), inv, 0, hi)))
	}
}

// quantQuad writes the unsigned activation levels (inv = 1/scale, levels
// 0..hi <= 255) of four float32 rows, rescaled by mult and bias,
// interleaved into dst (see quantQuadGo).
func quantQuad(dst []byte, r0, r1, r2, r3 []float32, mult, bias *[4]float32, inv, hi float32) {
	n := len(r0)
	k := 0
	if UseVNNI && n >= 16 {
		k = n &^ 15
		quantQuadAsm(dst[:4*k], r0[:k], r1[:k], r2[:k], r3[:k], mult, bias, inv, hi)
	}
	quantQuadGo(dst[4*k:], r0[k:], r1[k:n], r2[k:n], r3[k:n], mult, bias, inv, hi)
}

// ToQuad quantizes a float32 tensor (feature-major, samples innermost: C
// channels of H x W pixels) into the quad tensor dst of geometry q (same
// C, H, W), borders included; zero is a row of at least W*bc zeros.
func ToQuad(dst []byte, src []float32, q QuadGeom, bc int, inv, hi float32, zero []float32) {
	per := q.H * q.W * bc
	PostQuad(dst, q, bc, func(c int) []float32 { return src[c*per : (c+1)*per] }, nil, nil, inv, hi, zero)
}

// PostQuad writes the rows of every channel c < q.C (rows(c): H x W
// pixels of bc samples), rescaled by mult[c] and bias[c] (as they are when
// mult is nil) and quantized, into the quad tensor dst of geometry q,
// borders included; zero is a row of at least W*bc zeros.
func PostQuad(dst []byte, q QuadGeom, bc int, rows func(c int) []float32, mult, bias []float32, inv, hi float32, zero []float32) {
	q.ClearBorder(dst, bc)
	row := q.W * bc
	for c4 := 0; c4 < q.C4(); c4++ {
		var r [4][]float32
		m, b := [4]float32{1, 1, 1, 1}, [4]float32{}
		for t := 0; t < 4; t++ {
			c := 4*c4 + t
			switch {
			case c >= q.C:
				m[t] = 0
			case mult != nil:
				r[t] = rows(c)
				m[t], b[t] = mult[c], bias[c]
			default:
				r[t] = rows(c)
			}
		}
		for y := 0; y < q.H; y++ {
			var ry [4][]float32
			for t := 0; t < 4; t++ {
				if r[t] != nil {
					ry[t] = r[t][y*row : (y+1)*row]
				} else {
					ry[t] = zero[:row]
				}
			}
			o := q.Pixel(c4, y, 0, bc)
			quantQuad(dst[o:o+4*row], ry[0], ry[1], ry[2], ry[3], &m, &b, inv, hi)
		}
	}
}

// FromQuad writes the byte levels of the quad tensor src (geometry q) as
// float32 into dst (feature-major, samples innermost).
func FromQuad(dst []float32, src []byte, q QuadGeom, bc int) {
	for c := 0; c < q.C; c++ {
		for y := 0; y < q.H; y++ {
			for x := 0; x < q.W; x++ {
				d := dst[((c*q.H+y)*q.W+x)*bc : ((c*q.H+y)*q.W+x+1)*bc]
				p := q.Pixel(c/4, y, x, bc) + c%4
				for b := range d {
					d[b] = float32(src[p+4*b])
				}
			}
		}
	}
}

// maxU8Go is the twin of maxU8AVX2: dst[i] = max(dst[i], src[i]).
func maxU8Go(dst, src []byte) {
	dst = dst[:len(src)]
	for i, v := range src {
		if v > dst[i] {
			dst[i] = v
		}
	}
}

// maxU8 sets dst to the byte-wise maximum of dst and src.
func maxU8(dst, src []byte) {
	k := 0
	if useAVX2U8 && len(src) >= 32 {
		k = len(src) &^ 31
		maxU8Asm(dst[:k], src[:k])
	}
	maxU8Go(dst[k:], src[k:])
}

// quadSum is the int32 dot product of row i and column j of an implicit
// GEMM tile (see vnniOQGo).
func quadSum(kg int, a []int8, lda int, b []byte, offs []int, i, j int) int32 {
	var s int32
	for g := 0; g < kg; g++ {
		for t := 0; t < 4; t++ {
			s += int32(a[i*lda+4*g+t]) * int32(b[offs[g]+4*j+t])
		}
	}
	return s
}

// vnniOQGo is the twin of vnniOQ4x64: for i < 4, j < 64, with s the int32
// sum over groups g < kg and t < 4 of a[i*lda+4g+t] * b[offs[g]+4j+t],
// dst[4j+i] = byte(quantLevel(post(float32(s), mult[i], bias[i]), inv, 0,
// hi)): the layer's output rescaled exactly as the float32 path does and
// requantized to the next layer's levels, the four rows interleaved (quad
// layout).
func vnniOQGo(kg int, a []int8, lda int, b []byte, offs []int, dst []byte, mult, bias []float32, inv, hi float32) {
	for i := 0; i < 4; i++ {
		for j := 0; j < 64; j++ {
			y := Post(float32(quadSum(kg, a, lda, b, offs, i, j)), mult[i], bias[i])
			dst[4*j+i] = byte(int32(quantLevel(y, inv, 0, hi)))
		}
	}
}

// vnniOQZGo is the twin of vnniOQZ4x64: vnniOQGo where column j's four
// bytes of group g are b[zoff[j/16]+offs[g]+4*(j%16)+t]: a strided
// convolution whose sample count is a multiple of 16 reads each output
// pixel's 16-sample blocks where they are, with no gathered panel.
func vnniOQZGo(kg int, a []int8, lda int, b []byte, offs []int, zoff *[4]int, dst []byte, mult, bias []float32, inv, hi float32) {
	for i := 0; i < 4; i++ {
		for j := 0; j < 64; j++ {
			var s int32
			for g := 0; g < kg; g++ {
				p := zoff[j/16] + offs[g] + 4*(j%16)
				for t := 0; t < 4; t++ {
					s += int32(a[i*lda+4*g+t]) * int32(b[p+t])
				}
			}
			y := Post(float32(s), mult[i], bias[i])
			dst[4*j+i] = byte(int32(quantLevel(y, inv, 0, hi)))
		}
	}
}

// vnniOPGo is the twin of vnniOP4x64: c[i*ldc+j] = post(float32(s),
// mult[i], bias[i]) (s as in vnniOQGo), plus add[i*ldc+j] when add is not
// nil, followed by a ReLU (y > 0 ? y : 0) when withRelu: a layer's output,
// or a residual sum computed by the layer (the float32 path's addGo
// computes the same sum: float32 addition is commutative).
func vnniOPGo(kg int, a []int8, lda int, b []byte, offs []int, c []float32, ldc int, mult, bias []float32, withRelu bool, add []float32) {
	for i := 0; i < 4; i++ {
		for j := 0; j < 64; j++ {
			y := Post(float32(quadSum(kg, a, lda, b, offs, i, j)), mult[i], bias[i])
			if add != nil {
				y += add[i*ldc+j]
			}
			if withRelu && !(y > 0) {
				y = 0
			}
			c[i*ldc+j] = y
		}
	}
}

// vnniOPQGo is the twin of vnniOPQ4x64: vnniOPGo, then the four rows it
// stored quantized to unsigned levels and interleaved into dst as
// quantQuadGo does (mult 1, bias 0): the float32 output of a layer (a
// residual sum) and, in the same pass, the byte levels its integer-path
// consumers read, exactly what ToQuad makes of that output.
func vnniOPQGo(kg int, a []int8, lda int, b []byte, offs []int, c []float32, ldc int, mult, bias []float32, withRelu bool, add []float32, dst []byte, inv, hi float32) {
	vnniOPGo(kg, a, lda, b, offs, c, ldc, mult, bias, withRelu, add)
	one, zero := [4]float32{1, 1, 1, 1}, [4]float32{}
	quantQuadGo(dst, c[:64], c[ldc:ldc+64], c[2*ldc:2*ldc+64], c[3*ldc:3*ldc+64], &one, &zero, inv, hi)
}

// vnniOQBlocksGo is the twin of vnniOQ4x64 over n row blocks: vnniOQGo
// for block r with weight rows a[4r*lda:], mult[4r:], bias[4r:] and
// output dst[r*dstStride:].
func vnniOQBlocksGo(n, kg int, a []int8, lda int, b []byte, offs []int, dst []byte, dstStride int, mult, bias []float32, inv, hi float32) {
	for r := 0; r < n; r++ {
		vnniOQGo(kg, a[4*r*lda:], lda, b, offs, dst[r*dstStride:], mult[4*r:], bias[4*r:], inv, hi)
	}
}

// blockRows returns rows 4r.. of a float32 tensor whose rows are ldc
// apart (nil stays nil).
func blockRows(x []float32, r, ldc int) []float32 {
	if x == nil {
		return nil
	}
	return x[4*r*ldc:]
}

// vnniOPBlocksGo is the twin of vnniOP4x64 over n row blocks: vnniOPGo for
// block r with weight rows a[4r*lda:], mult[4r:], bias[4r:] and rows 4r..
// of c and add.
func vnniOPBlocksGo(n, kg int, a []int8, lda int, b []byte, offs []int, c []float32, ldc int, mult, bias []float32, withRelu bool, add []float32) {
	for r := 0; r < n; r++ {
		vnniOPGo(kg, a[4*r*lda:], lda, b, offs, blockRows(c, r, ldc), ldc, mult[4*r:], bias[4*r:], withRelu, blockRows(add, r, ldc))
	}
}

// vnniOPQBlocksGo is the twin of vnniOPQ4x64 over n row blocks: as
// vnniOPBlocksGo, with block r's bytes at dst[r*dstStride:].
func vnniOPQBlocksGo(n, kg int, a []int8, lda int, b []byte, offs []int, c []float32, ldc int, mult, bias []float32, withRelu bool, add []float32, dst []byte, dstStride int, inv, hi float32) {
	for r := 0; r < n; r++ {
		vnniOPQGo(kg, a[4*r*lda:], lda, b, offs, blockRows(c, r, ldc), ldc, mult[4*r:], bias[4*r:], withRelu, blockRows(add, r, ldc), dst[r*dstStride:], inv, hi)
	}
}

// QuadRows quantizes n columns of four float32 rows (nil: a row of zeros,
// zero at least n long) to unsigned levels (inv = 1/scale, 0..hi),
// interleaved into dst as ToQuad does.
func QuadRows(dst []byte, r *[4][]float32, n int, inv, hi float32, zero []float32) {
	var rows [4][]float32
	m := [4]float32{1, 1, 1, 1}
	for t := range rows {
		rows[t] = r[t]
		if rows[t] == nil {
			rows[t], m[t] = zero, 0
		}
		rows[t] = rows[t][:n]
	}
	quantQuad(dst, rows[0], rows[1], rows[2], rows[3], &m, &[4]float32{}, inv, hi)
}

// vnniOIGo is the twin of vnniOI4x64: c[i*ldc+j] = the int32 sum over
// groups g < kg and t < 4 of a[i*lda+4g+t] * b[offs[g]+4j+t], for i < 4,
// j < 64 (the raw accumulators of integer-only inference).
func vnniOIGo(kg int, a []int8, lda int, b []byte, offs []int, c []int32, ldc int) {
	for i := 0; i < 4; i++ {
		for j := 0; j < 64; j++ {
			c[i*ldc+j] = quadSum(kg, a, lda, b, offs, i, j)
		}
	}
}

// PoolQuad is k x k, stride-s max pooling of the quad tensor in (geometry
// ig) into out (geometry og), on whole pixels (bc samples x 4 channels).
func PoolQuad(out []byte, og QuadGeom, in []byte, ig QuadGeom, k, s, bc int) {
	og.ClearBorder(out, bc)
	blk := bc * 4
	for c4 := 0; c4 < og.C4(); c4++ {
		for oy := 0; oy < og.H; oy++ {
			for ox := 0; ox < og.W; ox++ {
				o := og.Pixel(c4, oy, ox, bc)
				d := out[o : o+blk]
				for ky := 0; ky < k; ky++ {
					for kx := 0; kx < k; kx++ {
						p := ig.Pixel(c4, oy*s+ky, ox*s+kx, bc)
						if ky == 0 && kx == 0 {
							copy(d, in[p:p+blk])
						} else {
							maxU8(d, in[p:p+blk])
						}
					}
				}
			}
		}
	}
}
