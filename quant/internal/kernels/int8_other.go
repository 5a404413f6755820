//go:build purego || !amd64

package kernels

// UseVNNI is false: this build has no int8 kernels.
const UseVNNI = false

// VNNIOQZ runs the 4 x 64 GEMM tile whose epilogue requantizes to quad
// bytes, its four 16-column blocks at b + zoff[t] (vnniOQZGo defines it);
// offs may address up to omax, zoff up to zmax (all non-negative).
func VNNIOQZ(kg int, a []int8, lda int, b []byte, offs []int, omax int, zoff *[4]int, zmax int, dst []byte, mult, bias []float32, inv, hi float32) {
	vnniOQZGo(kg, a, lda, b, offs, zoff, dst, mult, bias, inv, hi)
}

// VNNIOQBlocks runs n row blocks of VNNIOQ on one column tile (see the
// amd64 build; vnniOQBlocksGo defines it).
func VNNIOQBlocks(n, kg int, a []int8, lda int, b []byte, offs []int, omax int, dst []byte, dstStride int, mult, bias []float32, inv, hi float32) {
	vnniOQBlocksGo(n, kg, a, lda, b, offs, dst, dstStride, mult, bias, inv, hi)
}

// VNNIOPBlocks runs n row blocks of VNNIOP on one column tile (see the
// amd64 build; vnniOPBlocksGo defines it).
func VNNIOPBlocks(n, kg int, a []int8, lda int, b []byte, offs []int, omax int, c []float32, ldc int, mult, bias []float32, withRelu bool, add []float32) {
	vnniOPBlocksGo(n, kg, a, lda, b, offs, c, ldc, mult, bias, withRelu, add)
}

// VNNIOPQBlocks is VNNIOPBlocks whose blocks also write their rows' byte
// levels (vnniOPQBlocksGo defines it).
func VNNIOPQBlocks(n, kg int, a []int8, lda int, b []byte, offs []int, omax int, c []float32, ldc int, mult, bias []float32, withRelu bool, add []float32, dst []byte, dstStride int, inv, hi float32) {
	vnniOPQBlocksGo(n, kg, a, lda, b, offs, c, ldc, mult, bias, withRelu, add, dst, dstStride, inv, hi)
}

func quantQuadAsm(dst []byte, r0, r1, r2, r3 []float32, mult, bias *[4]float32, inv, hi float32) {
	quantQuadGo(dst, r0, r1, r2, r3, mult, bias, inv, hi)
}

const useAVX2U8 = false

func maxU8Asm(dst, src []byte) { maxU8Go(dst, src) }

// VNNIOI runs the 4 x 64 GEMM tile that stores the raw int32 accumulators
// (vnniOIGo defines it).
func VNNIOI(kg int, a []int8, lda int, b []byte, offs []int, omax int, c []int32, ldc int) {
	vnniOIGo(kg, a, lda, b, offs, c, ldc)
}
