//go:build !purego

#include "textflag.h"

// func axpyAVX512(alpha float32, x, y *float32, n int)
TEXT ·axpyAVX512(SB), NOSPLIT, $0-32
	VBROADCASTSS alpha+0(FP), Z0
	MOVQ x+8(FP), SI
	MOVQ y+16(FP), DI
	MOVQ n+24(FP), CX
axpy512_loop64:
	CMPQ CX, $64
	JL   axpy512_loop16
	VMOVUPS (SI), Z1
	VMOVUPS 64(SI), Z2
	VMOVUPS 128(SI), Z3
	VMOVUPS 192(SI), Z4
	VFMADD213PS (DI), Z0, Z1
	VFMADD213PS 64(DI), Z0, Z2
	VFMADD213PS 128(DI), Z0, Z3
	VFMADD213PS 192(DI), Z0, Z4
	VMOVUPS Z1, (DI)
	VMOVUPS Z2, 64(DI)
	VMOVUPS Z3, 128(DI)
	VMOVUPS Z4, 192(DI)
	ADDQ $256, SI
	ADDQ $256, DI
	SUBQ $64, CX
	JMP  axpy512_loop64
axpy512_loop16:
	CMPQ CX, $16
	JL   axpy512_tail
	VMOVUPS (SI), Z1
	VFMADD213PS (DI), Z0, Z1
	VMOVUPS Z1, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  axpy512_loop16
axpy512_tail:
	TESTQ CX, CX
	JE    axpy512_done
	MOVL  $0xffff, AX
	BZHIL CX, AX, AX
	KMOVW AX, K1
	VMOVUPS.Z (SI), K1, Z1
	VMOVUPS.Z (DI), K1, Z2
	VFMADD231PS Z1, Z0, Z2
	VMOVUPS Z2, K1, (DI)
axpy512_done:
	VZEROUPPER
	RET

// func dotAVX512(x, y *float32, n int) float32
TEXT ·dotAVX512(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ n+16(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
dot512_loop64:
	CMPQ CX, $64
	JL   dot512_loop16
	VMOVUPS (SI), Z4
	VMOVUPS 64(SI), Z5
	VMOVUPS 128(SI), Z6
	VMOVUPS 192(SI), Z7
	VFMADD231PS (DI), Z4, Z0
	VFMADD231PS 64(DI), Z5, Z1
	VFMADD231PS 128(DI), Z6, Z2
	VFMADD231PS 192(DI), Z7, Z3
	ADDQ $256, SI
	ADDQ $256, DI
	SUBQ $64, CX
	JMP  dot512_loop64
dot512_loop16:
	CMPQ CX, $16
	JL   dot512_tail
	VMOVUPS (SI), Z4
	VFMADD231PS (DI), Z4, Z0
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  dot512_loop16
dot512_tail:
	TESTQ CX, CX
	JE    dot512_reduce
	MOVL  $0xffff, AX
	BZHIL CX, AX, AX
	KMOVW AX, K1
	VMOVUPS.Z (SI), K1, Z4
	VMOVUPS.Z (DI), K1, Z5
	VFMADD231PS Z5, Z4, Z1
dot512_reduce:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VPSHUFD $0x4e, X0, X1
	VADDPS X1, X0, X0
	VPSHUFD $0xb1, X0, X1
	VADDSS X1, X0, X0
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func axpyAVX2(alpha float32, x, y *float32, n int)
TEXT ·axpyAVX2(SB), NOSPLIT, $0-32
	VBROADCASTSS alpha+0(FP), Y0
	MOVQ x+8(FP), SI
	MOVQ y+16(FP), DI
	MOVQ n+24(FP), CX
axpy2_loop32:
	CMPQ CX, $32
	JL   axpy2_loop8
	VMOVUPS (SI), Y1
	VMOVUPS 32(SI), Y2
	VMOVUPS 64(SI), Y3
	VMOVUPS 96(SI), Y4
	VFMADD213PS (DI), Y0, Y1
	VFMADD213PS 32(DI), Y0, Y2
	VFMADD213PS 64(DI), Y0, Y3
	VFMADD213PS 96(DI), Y0, Y4
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	VMOVUPS Y3, 64(DI)
	VMOVUPS Y4, 96(DI)
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP  axpy2_loop32
axpy2_loop8:
	CMPQ CX, $8
	JL   axpy2_tail
	VMOVUPS (SI), Y1
	VFMADD213PS (DI), Y0, Y1
	VMOVUPS Y1, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  axpy2_loop8
axpy2_tail:
	TESTQ CX, CX
	JE    axpy2_done
	VMOVSS (SI), X1
	VFMADD213SS (DI), X0, X1
	VMOVSS X1, (DI)
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP  axpy2_tail
axpy2_done:
	VZEROUPPER
	RET

// func dotAVX2(x, y *float32, n int) float32
TEXT ·dotAVX2(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
dot2_loop32:
	CMPQ CX, $32
	JL   dot2_loop8
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP  dot2_loop32
dot2_loop8:
	CMPQ CX, $8
	JL   dot2_tail
	VMOVUPS (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  dot2_loop8
dot2_tail:
	VXORPS X5, X5, X5
dot2_tail_loop:
	TESTQ CX, CX
	JE    dot2_reduce
	VMOVSS (SI), X4
	VFMADD231SS (DI), X4, X5
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP  dot2_tail_loop
dot2_reduce:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VPSHUFD $0x4e, X0, X1
	VADDPS X1, X0, X0
	VPSHUFD $0xb1, X0, X1
	VADDSS X1, X0, X0
	VADDSS X5, X0, X0
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func addBlocksAVX512(dst *float32, ldd, ddb int, src *float32, lds, dsb, blocks, rows, cols int)
//
// Full vectors are unmasked; the last cols%8 columns of a row use an 8-lane
// (32-byte) masked load and store. 64-byte masked stores were avoided: on
// AMD Zen a masked store followed by a load whose unmasked footprint
// overlaps it stalls, and short rows (8 floats apart) were several times
// slower that way.
TEXT ·addBlocksAVX512(SB), NOSPLIT, $8-72
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), R8
	SHLQ $2, R8
	MOVQ ddb+16(FP), R14
	SHLQ $2, R14
	MOVQ src+24(FP), SI
	MOVQ lds+32(FP), R9
	SHLQ $2, R9
	MOVQ dsb+40(FP), R15
	SHLQ $2, R15
	MOVQ blocks+48(FP), BX
	MOVQ cols+64(FP), CX
	MOVQ CX, AX
	ANDQ $7, AX
	MOVL $0xff, R13
	BZHIL AX, R13, R13
	KMOVW R13, K1 // tail mask: cols%8 low bits
	// masked = 1 when (cols &^ 7) + 8 <= ldd: a masked 8-lane tail store
	// then never overlaps the next row's loads (such overlaps stall on Zen).
	MOVQ $0, masked-8(SP)
	MOVQ CX, AX
	ANDQ $-8, AX
	ADDQ $8, AX
	CMPQ AX, ldd+8(FP)
	JGT  addb512_block
	MOVQ $1, masked-8(SP)
addb512_block:
	TESTQ BX, BX
	JE    addb512_done
	MOVQ  DI, AX
	MOVQ  SI, R10
	MOVQ  rows+56(FP), DX
addb512_row:
	TESTQ DX, DX
	JE    addb512_nextblock
	MOVQ  AX, R11
	MOVQ  R10, R12
	MOVQ  CX, R13
addb512_vec:
	CMPQ    R13, $16
	JL      addb512_y
	VMOVUPS (R12), Z0
	VADDPS  (R11), Z0, Z0
	VMOVUPS Z0, (R11)
	ADDQ    $64, R11
	ADDQ    $64, R12
	SUBQ    $16, R13
	JMP     addb512_vec
addb512_y:
	CMPQ    R13, $8
	JL      addb512_tail
	VMOVUPS (R12), Y0
	VADDPS  (R11), Y0, Y0
	VMOVUPS Y0, (R11)
	ADDQ    $32, R11
	ADDQ    $32, R12
	SUBQ    $8, R13
addb512_tail:
	// 1..7 columns left: an 8-lane masked load, add and store when its
	// 32-byte footprint ends before the next row's first load, else single
	// floats.
	TESTQ     R13, R13
	JE        addb512_nextrow
	CMPQ      masked-8(SP), $0
	JE        addb512_scalar
	VMOVUPS.Z (R12), K1, Y0
	VMOVUPS.Z (R11), K1, Y1
	VADDPS    Y1, Y0, Y0
	VMOVUPS   Y0, K1, (R11)
	JMP       addb512_nextrow
addb512_scalar:
	VMOVSS (R12), X0
	VADDSS (R11), X0, X0
	VMOVSS X0, (R11)
	ADDQ   $4, R11
	ADDQ   $4, R12
	DECQ   R13
	JNE    addb512_scalar
addb512_nextrow:
	ADDQ R8, AX
	ADDQ R9, R10
	DECQ DX
	JMP  addb512_row
addb512_nextblock:
	ADDQ R14, DI
	ADDQ R15, SI
	DECQ BX
	JMP  addb512_block
addb512_done:
	VZEROUPPER
	RET

// func addBlocksAVX2(dst *float32, ldd, ddb int, src *float32, lds, dsb, blocks, rows, cols int)
TEXT ·addBlocksAVX2(SB), NOSPLIT, $0-72
	MOVQ dst+0(FP), DI
	MOVQ ldd+8(FP), R8
	SHLQ $2, R8
	MOVQ ddb+16(FP), R14
	SHLQ $2, R14
	MOVQ src+24(FP), SI
	MOVQ lds+32(FP), R9
	SHLQ $2, R9
	MOVQ dsb+40(FP), R15
	SHLQ $2, R15
	MOVQ blocks+48(FP), BX
	MOVQ cols+64(FP), CX
addb2_block:
	TESTQ BX, BX
	JE    addb2_done
	MOVQ  DI, AX
	MOVQ  SI, R10
	MOVQ  rows+56(FP), DX
addb2_row:
	TESTQ DX, DX
	JE    addb2_nextblock
	MOVQ  AX, R11
	MOVQ  R10, R12
	MOVQ  CX, R13
addb2_vec:
	CMPQ    R13, $8
	JL      addb2_tail
	VMOVUPS (R12), Y0
	VADDPS  (R11), Y0, Y0
	VMOVUPS Y0, (R11)
	ADDQ    $32, R11
	ADDQ    $32, R12
	SUBQ    $8, R13
	JMP     addb2_vec
addb2_tail:
	TESTQ  R13, R13
	JE     addb2_nextrow
	VMOVSS (R12), X0
	VADDSS (R11), X0, X0
	VMOVSS X0, (R11)
	ADDQ   $4, R11
	ADDQ   $4, R12
	DECQ   R13
	JMP    addb2_tail
addb2_nextrow:
	ADDQ R8, AX
	ADDQ R9, R10
	DECQ DX
	JMP  addb2_row
addb2_nextblock:
	ADDQ R14, DI
	ADDQ R15, SI
	DECQ BX
	JMP  addb2_block
addb2_done:
	VZEROUPPER
	RET
