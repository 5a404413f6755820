//go:build purego || !amd64

package quant

// useVNNI is false: this build has no int8 kernels.
const useVNNI = false

func toU8Asm(dst []byte, src []float32) { toU8Go(dst, src) }

func interleave4Asm(dst, r0, r1, r2, r3 []byte) { interleave4Go(dst, r0, r1, r2, r3, len(r0)) }

func vnni(kg int, a []int8, lda int, b []byte, ldb int, c []float32, ldc int) {
	vnniGo(kg, a, lda, b, ldb, c, ldc)
}

func quantU8Asm(dst []byte, src []float32, inv, hi float32) { quantU8Go(dst, src, inv, hi) }

func vnniQ(kg int, a []int8, lda int, b []byte, ldb int, dst []byte, ldd int, mult, bias []float32, inv, hi float32) {
	vnniQGo(kg, a, lda, b, ldb, dst, ldd, mult, bias, inv, hi)
}

func vnniP(kg int, a []int8, lda int, b []byte, ldb int, c []float32, ldc int, mult, bias []float32, withRelu bool) {
	vnniPGo(kg, a, lda, b, ldb, c, ldc, mult, bias, withRelu)
}

func vnniOQ(kg int, a []int8, lda int, b []byte, offs []int, omax int, dst []byte, mult, bias []float32, inv, hi float32) {
	vnniOQGo(kg, a, lda, b, offs, dst, mult, bias, inv, hi)
}

func vnniOP(kg int, a []int8, lda int, b []byte, offs []int, omax int, c []float32, ldc int, mult, bias []float32, withRelu bool) {
	vnniOPGo(kg, a, lda, b, offs, c, ldc, mult, bias, withRelu)
}

func quantQuadAsm(dst []byte, r0, r1, r2, r3 []float32, inv, hi float32) {
	quantQuadGo(dst, r0, r1, r2, r3, inv, hi)
}

const useAVX2U8 = false

func maxU8Asm(dst, src []byte) { maxU8Go(dst, src) }
