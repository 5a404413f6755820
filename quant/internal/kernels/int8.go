// Package kernels holds the quant packages' compute kernels, each an
// assembly routine (amd64: AVX2, AVX-512 VNNI/DQ) with a pure-Go twin that
// defines its result (build tag purego, or a CPU without the instructions,
// runs the twins): the float32 element-wise kernels of the forward engine
// (ReLU, rescale, activation quantization, AXPY, sums, max pooling), the
// int8 implicit-GEMM micro-kernels, the byte "quad" activation layout and
// the fixed-point requantization of integer-only inference, plus the two
// rounding rules every path shares (Post, RoundEven).
package kernels

// The int8 kernels of the integer path (see quant/engine's intpath.go):
// weight levels (int8) times activation levels (uint8) accumulated in
// int32 with AVX-512 VNNI (VPDPBUSD) by a 4 x 64 implicit-GEMM
// micro-kernel, whose epilogue rescales the accumulators exactly as the
// float32 path does (float32(acc*mult) + bias: multiply, then add) and
// either stores float32 rows (vnniOP; vnniOPQ also writes their byte
// levels) or requantizes them to the next layer's byte levels in the quad
// layout (vnniOQ; vnniOQZ reads a tile's 16-column blocks at separate
// offsets, for strided convolutions); quantQuad turns float32
// rows into quad bytes; maxU8 pools bytes. Each has a pure-Go twin
// (quad.go) that defines its result; the purego build tag and CPUs without
// AVX-512 VNNI use the twins. The sums are the integers the float32 path
// computes exactly (below 2^24, see int8Refusal in package quant/engine), so both paths give
// bit-identical values.

// quantLevel is the activation quantizer's formula for one value (quantGo):
// x = v*inv, clamped to [lo, hi] (x > lo ? x : lo, then t < hi ? t : hi:
// NaN gives lo), rounded to the nearest integer, halves to even.
func quantLevel(v, inv, lo, hi float32) float32 {
	x := v * inv
	t := lo
	if x > lo {
		t = x
	}
	if !(t < hi) {
		t = hi
	}
	return RoundEven(t)
}

// RoundUp4 rounds x up to a multiple of 4.
func RoundUp4(x int) int { return (x + 3) &^ 3 }

// RoundUp64 rounds x up to a multiple of 64.
func RoundUp64(x int) int { return (x + 63) &^ 63 }

// VNNIOQ runs the 4 x 64 GEMM tile whose epilogue requantizes to quad bytes
// (vnniOQGo defines it); offs may address up to omax+255 in b.
func VNNIOQ(kg int, a []int8, lda int, b []byte, offs []int, omax int, dst []byte, mult, bias []float32, inv, hi float32) {
	VNNIOQBlocks(1, kg, a, lda, b, offs, omax, dst, 0, mult, bias, inv, hi)
}

// VNNIOP runs the 4 x 64 GEMM tile whose epilogue writes float32 rows
// (vnniOPGo defines it).
func VNNIOP(kg int, a []int8, lda int, b []byte, offs []int, omax int, c []float32, ldc int, mult, bias []float32, withRelu bool, add []float32) {
	VNNIOPBlocks(1, kg, a, lda, b, offs, omax, c, ldc, mult, bias, withRelu, add)
}

// VNNIOPQ is VNNIOP that also writes the byte levels of the stored rows
// (vnniOPQGo defines it).
func VNNIOPQ(kg int, a []int8, lda int, b []byte, offs []int, omax int, c []float32, ldc int, mult, bias []float32, withRelu bool, add []float32, dst []byte, inv, hi float32) {
	VNNIOPQBlocks(1, kg, a, lda, b, offs, omax, c, ldc, mult, bias, withRelu, add, dst, 0, inv, hi)
}
