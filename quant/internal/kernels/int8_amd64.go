//go:build !purego

package kernels

import "golang.org/x/sys/cpu"

// UseVNNI selects the int8 GEMM for layers with unsigned quantized inputs.
var UseVNNI = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512VNNI

// vnniOQ4x64 is the implicit-GEMM 4 x 64 int8 micro-kernel (column group
// g read at b + offs[g]) with a requantizing epilogue writing the four
// rows interleaved; vnniOQGo is its twin.
//
//go:noescape
func vnniOQ4x64(kg int, a *int8, lda int, b *byte, offs *int, dst *byte, mult, bias *float32, inv, hi float32)

// vnniOQZ4x64 is vnniOQ4x64 for a tile whose four 16-column blocks are
// read at b + zoff[t] + offs[g] (a strided convolution read in place);
// vnniOQZGo is its twin.
//
//go:noescape
func vnniOQZ4x64(kg int, a *int8, lda int, b *byte, offs *int, zoff *[4]int, dst *byte, mult, bias *float32, inv, hi float32)

// vnniOP4x64 is the implicit-GEMM 4 x 64 int8 micro-kernel with a
// rescaling epilogue (plus the rows at add unless nil, then a ReLU when
// relu is not 0) writing float32 rows; vnniOPGo is its twin.
//
//go:noescape
func vnniOP4x64(kg int, a *int8, lda int, b *byte, offs *int, c *float32, ldc int, mult, bias *float32, relu int, add *float32)

// vnniOPQ4x64 is vnniOP4x64 whose epilogue also quantizes the rows it
// stores to unsigned levels (inv = 1/scale, 0..hi) written as four
// interleaved rows at dst; vnniOPQGo is its twin.
//
//go:noescape
func vnniOPQ4x64(kg int, a *int8, lda int, b *byte, offs *int, c *float32, ldc int, mult, bias *float32, relu int, add *float32, dst *byte, inv, hi float32)

// vnniOI4x64 is the implicit-GEMM 4 x 64 int8 micro-kernel storing the
// raw int32 accumulators (row i at c + i*ldc); vnniOIGo is its twin.
//
//go:noescape
func vnniOI4x64(kg int, a *int8, lda int, b *byte, offs *int, c *int32, ldc int)

// fixedQuad4AVX512 requantizes n (a multiple of 8) int64 values of four
// rows by fixed-point multipliers to bytes interleaved in the quad layout;
// fixedQuad4Go is its twin.
//
//go:noescape
func fixedQuad4AVX512(dst *byte, r0, r1, r2, r3 *int64, n int, m0, rnd, sh *[4]int64, lo, hi, off int64)

// addFixedAVX512 sets n (a multiple of 8) values of dst to a and b
// rescaled by two fixed-point multipliers and summed (then a ReLU when
// relu is not 0); addFixedGo is its twin.
//
//go:noescape
func addFixedAVX512(dst, a, b *int64, n int, p *[6]int64, relu int)

// fixedTile4AVX512 is the byte epilogue of integer-only inference: n (a
// multiple of 8) columns of a 4 x 64 int32 accumulator tile to layer
// outputs ((acc - corr) << frac + bias) requantized as fixedQuad4AVX512
// does; fixedTile4Go is its twin.
//
//go:noescape
func fixedTile4AVX512(dst *byte, tile *int32, n int, p *FixedQuadParams, corr *[4]int32, bias *[4]int64, frac int)

// intTile4AVX512 stores the int64 layer outputs ((acc - corr) << frac +
// bias, then a ReLU when relu is not 0) of n (a multiple of 8) columns of
// a 4 x 64 int32 accumulator tile, row t at dst + t*ldd; intTile4Go is its
// twin.
//
//go:noescape
func intTile4AVX512(dst *int64, ldd int, tile *int32, n int, corr *[4]int32, bias *[4]int64, frac, relu int)

// quantQuadAVX512 rescales and quantizes n (a positive multiple of 16)
// columns of four float32 rows to interleaved bytes; quantQuadGo is its
// twin.
//
//go:noescape
func quantQuadAVX512(dst *byte, r0, r1, r2, r3 *float32, n int, mult, bias *float32, inv, hi float32)

// maxU8AVX2 sets dst to the byte-wise maximum of dst and src for n (a
// positive multiple of 32) bytes; maxU8Go is its twin.
//
//go:noescape
func maxU8AVX2(dst, src *byte, n int)

func quantQuadAsm(dst []byte, r0, r1, r2, r3 []float32, mult, bias *[4]float32, inv, hi float32) {
	quantQuadAVX512(&dst[0], &r0[0], &r1[0], &r2[0], &r3[0], len(r0), &mult[0], &bias[0], inv, hi)
}

func maxU8Asm(dst, src []byte) { maxU8AVX2(&dst[0], &src[0], len(src)) }

// useAVX2U8 selects maxU8AVX2.
var useAVX2U8 = cpu.X86.HasAVX2

// VNNIOQ runs the 4 x 64 GEMM tile whose epilogue requantizes to quad bytes
// (vnniOQGo defines it); offs may address up to omax+255 in b.
func VNNIOQ(kg int, a []int8, lda int, b []byte, offs []int, omax int, dst []byte, mult, bias []float32, inv, hi float32) {
	if !UseVNNI {
		vnniOQGo(kg, a, lda, b, offs, dst, mult, bias, inv, hi)
		return
	}
	checkOffs(kg, a, lda, b, offs, omax)
	_ = dst[255]
	_, _ = mult[3], bias[3]
	vnniOQ4x64(kg, &a[0], lda, &b[0], &offs[0], &dst[0], &mult[0], &bias[0], inv, hi)
}

// VNNIOQZ runs the 4 x 64 GEMM tile whose epilogue requantizes to quad
// bytes, its four 16-column blocks at b + zoff[t] (vnniOQZGo defines it);
// offs may address up to omax, zoff up to zmax (all non-negative).
func VNNIOQZ(kg int, a []int8, lda int, b []byte, offs []int, omax int, zoff *[4]int, zmax int, dst []byte, mult, bias []float32, inv, hi float32) {
	if !UseVNNI {
		vnniOQZGo(kg, a, lda, b, offs, zoff, dst, mult, bias, inv, hi)
		return
	}
	_ = a[3*lda+4*kg-1]
	_ = offs[kg-1]
	_ = b[omax+zmax+63]
	for _, z := range zoff {
		if z < 0 || z > zmax {
			panic("kernels: VNNIOQZ: block offset outside 0..zmax")
		}
	}
	_ = dst[255]
	_, _ = mult[3], bias[3]
	vnniOQZ4x64(kg, &a[0], lda, &b[0], &offs[0], zoff, &dst[0], &mult[0], &bias[0], inv, hi)
}

// VNNIOP runs the 4 x 64 GEMM tile whose epilogue writes float32 rows
// (vnniOPGo defines it).
func VNNIOP(kg int, a []int8, lda int, b []byte, offs []int, omax int, c []float32, ldc int, mult, bias []float32, withRelu bool, add []float32) {
	if !UseVNNI {
		vnniOPGo(kg, a, lda, b, offs, c, ldc, mult, bias, withRelu, add)
		return
	}
	checkOffs(kg, a, lda, b, offs, omax)
	_ = c[3*ldc+63]
	_, _ = mult[3], bias[3]
	r := 0
	if withRelu {
		r = 1
	}
	var ap *float32
	if add != nil {
		_ = add[3*ldc+63]
		ap = &add[0]
	}
	vnniOP4x64(kg, &a[0], lda, &b[0], &offs[0], &c[0], ldc, &mult[0], &bias[0], r, ap)
}

// VNNIOPQ is VNNIOP that also writes the byte levels of the stored rows
// (vnniOPQGo defines it).
func VNNIOPQ(kg int, a []int8, lda int, b []byte, offs []int, omax int, c []float32, ldc int, mult, bias []float32, withRelu bool, add []float32, dst []byte, inv, hi float32) {
	if !UseVNNI {
		vnniOPQGo(kg, a, lda, b, offs, c, ldc, mult, bias, withRelu, add, dst, inv, hi)
		return
	}
	checkOffs(kg, a, lda, b, offs, omax)
	_ = c[3*ldc+63]
	_ = dst[255]
	_, _ = mult[3], bias[3]
	r := 0
	if withRelu {
		r = 1
	}
	var ap *float32
	if add != nil {
		_ = add[3*ldc+63]
		ap = &add[0]
	}
	vnniOPQ4x64(kg, &a[0], lda, &b[0], &offs[0], &c[0], ldc, &mult[0], &bias[0], r, ap, &dst[0], inv, hi)
}

// checkOffs panics unless the micro-kernel's reads stay inside a and b:
// omax is the largest of the kg offsets (all non-negative).
func checkOffs(kg int, a []int8, lda int, b []byte, offs []int, omax int) {
	_ = a[3*lda+4*kg-1]
	_ = offs[kg-1]
	_ = b[omax+255]
}

// VNNIOI runs the 4 x 64 GEMM tile that stores the raw int32 accumulators
// (vnniOIGo defines it).
func VNNIOI(kg int, a []int8, lda int, b []byte, offs []int, omax int, c []int32, ldc int) {
	if !UseVNNI {
		vnniOIGo(kg, a, lda, b, offs, c, ldc)
		return
	}
	checkOffs(kg, a, lda, b, offs, omax)
	_ = c[3*ldc+63]
	vnniOI4x64(kg, &a[0], lda, &b[0], &offs[0], &c[0], ldc)
}

// useFixedAsm selects fixedQuad4AVX512 (VPMULLQ needs AVX-512 DQ).
var useFixedAsm = cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512VL

func fixedQuad4Asm(dst []byte, r *[4][]int64, n int, p *FixedQuadParams) {
	_ = dst[4*n-1]
	_, _, _, _ = r[0][n-1], r[1][n-1], r[2][n-1], r[3][n-1]
	fixedQuad4AVX512(&dst[0], &r[0][0], &r[1][0], &r[2][0], &r[3][0], n, &p.M0, &p.Rnd, &p.Sh, p.Lo, p.Hi, p.Off)
}

func addFixedAsm(dst, a, b []int64, p *[6]int64, relu bool) {
	n := len(dst)
	_, _ = a[n-1], b[n-1]
	r := 0
	if relu {
		r = 1
	}
	addFixedAVX512(&dst[0], &a[0], &b[0], n, p, r)
}

func fixedTile4Asm(dst []byte, tile []int32, n int, p *FixedQuadParams, corr *[4]int32, bias *[4]int64, frac uint) {
	_ = dst[4*n-1]
	_ = tile[3*64+n-1]
	fixedTile4AVX512(&dst[0], &tile[0], n, p, corr, bias, int(frac))
}

func intTile4Asm(dst []int64, ldd int, tile []int32, n int, corr *[4]int32, bias *[4]int64, frac uint, relu bool) {
	_ = dst[3*ldd+n-1]
	_ = tile[3*64+n-1]
	r := 0
	if relu {
		r = 1
	}
	intTile4AVX512(&dst[0], ldd, &tile[0], n, corr, bias, int(frac), r)
}
