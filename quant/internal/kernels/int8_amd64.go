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
