//go:build !purego

package kernels

import "golang.org/x/sys/cpu"

// UseVNNI selects the int8 GEMM for layers with unsigned quantized inputs.
var UseVNNI = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512VNNI

// vnniOQ4x64 is the implicit-GEMM 4 x 64 int8 micro-kernel (column group
// g read at b + offs[g]) with a requantizing epilogue writing the four
// rows interleaved, run for n row blocks (block r: weight rows from 4r,
// output at dst + r*dstStride); vnniOQGo is its twin for one block.
//
//go:noescape
func vnniOQ4x64(n, kg int, a *int8, lda int, b *byte, offs *int, dst *byte, dstStride int, mult, bias *float32, inv, hi float32)

// vnniOQZ4x64 is vnniOQ4x64 for a tile whose four 16-column blocks are
// read at b + zoff[t] + offs[g] (a strided convolution read in place);
// vnniOQZGo is its twin.
//
//go:noescape
func vnniOQZ4x64(kg int, a *int8, lda int, b *byte, offs *int, zoff *[4]int, dst *byte, mult, bias *float32, inv, hi float32)

// vnniOP4x64 is the implicit-GEMM 4 x 64 int8 micro-kernel with a
// rescaling epilogue (plus the rows at add unless nil, then a ReLU when
// relu is not 0) writing float32 rows, run for n row blocks (block r: rows
// 4r..4r+3 of the weights, c and add); vnniOPGo is its twin for one block.
//
//go:noescape
func vnniOP4x64(n, kg int, a *int8, lda int, b *byte, offs *int, c *float32, ldc int, mult, bias *float32, relu int, add *float32)

// vnniOPQ4x64 is vnniOP4x64 whose epilogue also quantizes the rows it
// stores to unsigned levels (inv = 1/scale, 0..hi) written as four
// interleaved rows at dst + r*dstStride; vnniOPQGo is its twin for one
// block.
//
//go:noescape
func vnniOPQ4x64(n, kg int, a *int8, lda int, b *byte, offs *int, c *float32, ldc int, mult, bias *float32, relu int, add *float32, dst *byte, dstStride int, inv, hi float32)

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

// VNNIOQBlocks runs n row blocks of VNNIOQ on one column tile: block r
// reads weight rows 4r..4r+3 (a[4r*lda:]), takes mult and bias from 4r and
// writes dst[r*dstStride:] (vnniOQBlocksGo defines it).
func VNNIOQBlocks(n, kg int, a []int8, lda int, b []byte, offs []int, omax int, dst []byte, dstStride int, mult, bias []float32, inv, hi float32) {
	if !UseVNNI {
		vnniOQBlocksGo(n, kg, a, lda, b, offs, dst, dstStride, mult, bias, inv, hi)
		return
	}
	if n <= 0 {
		return
	}
	checkBlocks(n, kg, a, lda, b, offs, omax, mult, bias)
	checkStride(dstStride)
	_ = dst[(n-1)*dstStride+255]
	vnniOQ4x64(n, kg, &a[0], lda, &b[0], &offs[0], &dst[0], dstStride, &mult[0], &bias[0], inv, hi)
}

// VNNIOPBlocks runs n row blocks of VNNIOP on one column tile: block r
// reads weight rows 4r..4r+3, takes mult and bias from 4r and writes (adds)
// rows 4r..4r+3 of c (add), ldc apart (vnniOPBlocksGo defines it).
func VNNIOPBlocks(n, kg int, a []int8, lda int, b []byte, offs []int, omax int, c []float32, ldc int, mult, bias []float32, withRelu bool, add []float32) {
	if !UseVNNI {
		vnniOPBlocksGo(n, kg, a, lda, b, offs, c, ldc, mult, bias, withRelu, add)
		return
	}
	if n <= 0 {
		return
	}
	checkBlocks(n, kg, a, lda, b, offs, omax, mult, bias)
	r, ap := floatRows(n, c, ldc, withRelu, add)
	vnniOP4x64(n, kg, &a[0], lda, &b[0], &offs[0], &c[0], ldc, &mult[0], &bias[0], r, ap)
}

// VNNIOPQBlocks is VNNIOPBlocks whose blocks also write their rows' byte
// levels, block r at dst[r*dstStride:] (vnniOPQBlocksGo defines it).
func VNNIOPQBlocks(n, kg int, a []int8, lda int, b []byte, offs []int, omax int, c []float32, ldc int, mult, bias []float32, withRelu bool, add []float32, dst []byte, dstStride int, inv, hi float32) {
	if !UseVNNI {
		vnniOPQBlocksGo(n, kg, a, lda, b, offs, c, ldc, mult, bias, withRelu, add, dst, dstStride, inv, hi)
		return
	}
	if n <= 0 {
		return
	}
	checkBlocks(n, kg, a, lda, b, offs, omax, mult, bias)
	checkStride(dstStride)
	_ = dst[(n-1)*dstStride+255]
	r, ap := floatRows(n, c, ldc, withRelu, add)
	vnniOPQ4x64(n, kg, &a[0], lda, &b[0], &offs[0], &c[0], ldc, &mult[0], &bias[0], r, ap, &dst[0], dstStride, inv, hi)
}

// checkBlocks panics unless n row blocks' reads stay inside a, b, offs,
// mult and bias.
func checkBlocks(n, kg int, a []int8, lda int, b []byte, offs []int, omax int, mult, bias []float32) {
	checkStride(lda)
	checkOffs(kg, a, lda, b, offs, omax)
	_ = a[(4*n-1)*lda+4*kg-1]
	_, _ = mult[4*n-1], bias[4*n-1]
}

// checkStride panics on a negative output stride (the bounds checks assume
// the last block is the farthest).
func checkStride(stride int) {
	if stride < 0 {
		panic("kernels: negative block stride")
	}
}

// floatRows checks that 4n rows of c (and of add, unless nil), ldc apart,
// hold a tile's 64 columns, and returns the kernel's relu flag and add
// pointer.
func floatRows(n int, c []float32, ldc int, withRelu bool, add []float32) (int, *float32) {
	checkStride(ldc)
	_ = c[(4*n-1)*ldc+63]
	r := 0
	if withRelu {
		r = 1
	}
	var ap *float32
	if add != nil {
		_ = add[(4*n-1)*ldc+63]
		ap = &add[0]
	}
	return r, ap
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
