//go:build !purego

#include "textflag.h"

// quadShuf transposes the 4 x 4 bytes of each 128-bit lane (byte 4j+t from
// byte 4t+j), for PACK_STORE.
DATA quadShuf<>+0(SB)/8, $0x0d0905010c080400
DATA quadShuf<>+8(SB)/8, $0x0f0b07030e0a0602
DATA quadShuf<>+16(SB)/8, $0x0d0905010c080400
DATA quadShuf<>+24(SB)/8, $0x0f0b07030e0a0602
DATA quadShuf<>+32(SB)/8, $0x0d0905010c080400
DATA quadShuf<>+40(SB)/8, $0x0f0b07030e0a0602
DATA quadShuf<>+48(SB)/8, $0x0d0905010c080400
DATA quadShuf<>+56(SB)/8, $0x0f0b07030e0a0602
GLOBL quadShuf<>(SB), RODATA|NOPTR, $64

// POST_ROW converts four int32 accumulators to float32 and applies
// y = float32(acc*mult) + bias (Z27 = mult, Z28 = bias broadcast).
#define POST_ROW(r0, r1, r2, r3) \
	VCVTDQ2PS r0, r0; VCVTDQ2PS r1, r1; VCVTDQ2PS r2, r2; VCVTDQ2PS r3, r3; \
	VMULPS Z27, r0, r0; VMULPS Z27, r1, r1; VMULPS Z27, r2, r2; VMULPS Z27, r3, r3; \
	VADDPS Z28, r0, r0; VADDPS Z28, r1, r1; VADDPS Z28, r2, r2; VADDPS Z28, r3, r3

// STORE_ROW stores four rows of post values at DI, after a ReLU when R14
// is not zero (Z26 = 0: y > 0 ? y : 0).
#define STORE_ROW(r0, r1, r2, r3, lbl) \
	TESTQ R14, R14; JZ lbl; \
	VMAXPS Z26, r0, r0; VMAXPS Z26, r1, r1; VMAXPS Z26, r2, r2; VMAXPS Z26, r3, r3; \
lbl: \
	VMOVUPS r0, (DI); VMOVUPS r1, 64(DI); VMOVUPS r2, 128(DI); VMOVUPS r3, 192(DI)

// VNNI_LOOPO zeroes Z0-Z15 and accumulates a 4 x 64 int32 tile over CX
// groups: A rows at SI, R11, R12, R13 (4 bytes per group); group g's 64
// columns of 4 bytes at DX + offs[g] (offs at R14, 8 bytes each; R9 is
// scratch).
#define VNNI_LOOPO(lbl, done) \
	VPXORD Z0, Z0, Z0; VPXORD Z1, Z1, Z1; VPXORD Z2, Z2, Z2; VPXORD Z3, Z3, Z3; \
	VPXORD Z4, Z4, Z4; VPXORD Z5, Z5, Z5; VPXORD Z6, Z6, Z6; VPXORD Z7, Z7, Z7; \
	VPXORD Z8, Z8, Z8; VPXORD Z9, Z9, Z9; VPXORD Z10, Z10, Z10; VPXORD Z11, Z11, Z11; \
	VPXORD Z12, Z12, Z12; VPXORD Z13, Z13, Z13; VPXORD Z14, Z14, Z14; VPXORD Z15, Z15, Z15; \
	TESTQ CX, CX; JZ done; \
lbl: \
	MOVQ (R14), R9; \
	VMOVDQU32 (DX)(R9*1), Z16; VMOVDQU32 64(DX)(R9*1), Z17; VMOVDQU32 128(DX)(R9*1), Z18; VMOVDQU32 192(DX)(R9*1), Z19; \
	VPBROADCASTD (SI), Z20; VPBROADCASTD (R11), Z21; VPBROADCASTD (R12), Z22; VPBROADCASTD (R13), Z23; \
	VPDPBUSD Z20, Z16, Z0; VPDPBUSD Z20, Z17, Z1; VPDPBUSD Z20, Z18, Z2; VPDPBUSD Z20, Z19, Z3; \
	VPDPBUSD Z21, Z16, Z4; VPDPBUSD Z21, Z17, Z5; VPDPBUSD Z21, Z18, Z6; VPDPBUSD Z21, Z19, Z7; \
	VPDPBUSD Z22, Z16, Z8; VPDPBUSD Z22, Z17, Z9; VPDPBUSD Z22, Z18, Z10; VPDPBUSD Z22, Z19, Z11; \
	VPDPBUSD Z23, Z16, Z12; VPDPBUSD Z23, Z17, Z13; VPDPBUSD Z23, Z18, Z14; VPDPBUSD Z23, Z19, Z15; \
	ADDQ $4, SI; ADDQ $4, R11; ADDQ $4, R12; ADDQ $4, R13; ADDQ $8, R14; \
	DECQ CX; JNZ lbl; \
done:

// QUANTD quantizes four registers of post values to int32 levels: x =
// y*inv (Z24), hi < x ? hi : x (Z25; a NaN stays NaN), rounded to nearest
// even (MXCSR default). The lower clamp at 0 is PACK_STORE's: its unsigned
// saturation maps every negative level, and the integer indefinite of a
// NaN, to 0, as max(x, 0) before the rounding would.
#define QUANTD(r0, r1, r2, r3) \
	VMULPS Z24, r0, r0; VMULPS Z24, r1, r1; VMULPS Z24, r2, r2; VMULPS Z24, r3, r3; \
	VMINPS r0, Z25, r0; VMINPS r1, Z25, r1; VMINPS r2, Z25, r2; VMINPS r3, Z25, r3; \
	VCVTPS2DQ r0, r0; VCVTPS2DQ r1, r1; VCVTPS2DQ r2, r2; VCVTPS2DQ r3, r3

// PACK_STORE stores the byte levels of rows a, b, c, d (int32 levels at
// most 255 from QUANTD, 16 columns) interleaved at off(DI): byte 4j+t is
// row t, column j. The two packs saturate to 0..255 and leave, in each
// 128-bit lane, rows a, b, c, d of four columns one after the other; the
// byte shuffle (Z29 = quadShuf) transposes each lane's 4 x 4 bytes.
#define PACK_STORE(a, b, c, d, off) \
	VPACKUSDW b, a, a; VPACKUSDW d, c, c; VPACKUSWB c, a, a; \
	VPSHUFB Z29, a, a; \
	VMOVDQU32 a, off(DI)

// OP_BLOCK is the body of vnniOP4x64 and vnniOPQ4x64 for one row block
// (its labels are arguments, one set per function): load the block's
// arguments, prefetch its rows, accumulate, then rescale, add and store the
// four float32 rows. It leaves R8 = lda and R10 = 4*ldc (the bytes of one
// row). Its argument offsets are vnniOP4x64's and vnniOPQ4x64's (the same
// up to add); go vet does not check offsets inside macros.
#define OP_BLOCK(loop, store, noadd, a0, a1, a2, a3, r0, r1, r2, r3) \
	MOVQ kg+8(FP), CX; \
	MOVQ a+16(FP), SI; \
	MOVQ lda+24(FP), R8; \
	MOVQ b+32(FP), DX; \
	MOVQ offs+40(FP), R14; \
	MOVQ c+48(FP), DI; \
	MOVQ ldc+56(FP), R10; \
	LEAQ (SI)(R8*1), R11; \
	LEAQ (R11)(R8*1), R12; \
	LEAQ (R12)(R8*1), R13; \
	LEAQ (R10*4), AX; \
	PREFETCH_ROWS(DI, AX, BX); \
	MOVQ add+88(FP), R9; \
	TESTQ R9, R9; \
	JZ noadd; \
	PREFETCH_ROWS(R9, AX, BX); \
noadd: \
	MOVQ mult+64(FP), AX; \
	MOVQ bias+72(FP), BX; \
	VNNI_LOOPO(loop, store); \
	MOVQ relu+80(FP), R14; \
	MOVQ add+88(FP), DX; \
	MOVQ DX, CX; \
	SHLQ $2, R10; \
	VBROADCASTSS (AX), Z27; \
	VBROADCASTSS (BX), Z28; \
	POST_ROW(Z0, Z1, Z2, Z3); \
	ADD_ROW(Z0, Z1, Z2, Z3, a0); \
	STORE_ROW(Z0, Z1, Z2, Z3, r0); \
	ADDQ R10, DI; \
	ADDQ R10, DX; \
	VBROADCASTSS 4(AX), Z27; \
	VBROADCASTSS 4(BX), Z28; \
	POST_ROW(Z4, Z5, Z6, Z7); \
	ADD_ROW(Z4, Z5, Z6, Z7, a1); \
	STORE_ROW(Z4, Z5, Z6, Z7, r1); \
	ADDQ R10, DI; \
	ADDQ R10, DX; \
	VBROADCASTSS 8(AX), Z27; \
	VBROADCASTSS 8(BX), Z28; \
	POST_ROW(Z8, Z9, Z10, Z11); \
	ADD_ROW(Z8, Z9, Z10, Z11, a2); \
	STORE_ROW(Z8, Z9, Z10, Z11, r2); \
	ADDQ R10, DI; \
	ADDQ R10, DX; \
	VBROADCASTSS 12(AX), Z27; \
	VBROADCASTSS 12(BX), Z28; \
	POST_ROW(Z12, Z13, Z14, Z15); \
	ADD_ROW(Z12, Z13, Z14, Z15, a3); \
	STORE_ROW(Z12, Z13, Z14, Z15, r3)

// OP_NEXT advances the arguments of vnniOP4x64 and vnniOPQ4x64 to the next
// row block (R8 = lda, R10 = 4*ldc bytes from OP_BLOCK; AX, BX the block's
// mult and bias): a by 4 rows, c and add (unless nil) by 4 rows of ldc,
// mult and bias by 4. The callers count n down and skip it after the last
// block, so no argument ever points past its slice.
#define OP_NEXT(noadd) \
	MOVQ a+16(FP), SI; \
	LEAQ (SI)(R8*4), SI; \
	MOVQ SI, a+16(FP); \
	SHLQ $2, R10; \
	ADDQ R10, c+48(FP); \
	MOVQ add+88(FP), R9; \
	TESTQ R9, R9; \
	JZ noadd; \
	ADDQ R10, add+88(FP); \
noadd: \
	ADDQ $16, AX; \
	MOVQ AX, mult+64(FP); \
	ADDQ $16, BX; \
	MOVQ BX, bias+72(FP)

// func vnniOQ4x64(n, kg int, a *int8, lda int, b *byte, offs *int, dst *byte, dstStride int, mult, bias *float32, inv, hi float32)
// n (at least 1) row blocks: block r uses weight rows 4r..4r+3 (a + 4r*lda),
// mult and bias from 4r, and writes at dst + r*dstStride. The arguments
// n, a, dst, mult and bias are advanced in place between blocks.
TEXT ·vnniOQ4x64(SB), NOSPLIT, $0-88
	VBROADCASTSS inv+80(FP), Z24
	VBROADCASTSS hi+84(FP), Z25
	VMOVDQU64    quadShuf<>(SB), Z29
oqblock:
	MOVQ kg+8(FP), CX
	MOVQ a+16(FP), SI
	MOVQ lda+24(FP), R8
	MOVQ b+32(FP), DX
	MOVQ offs+40(FP), R14
	MOVQ dst+48(FP), DI
	MOVQ mult+64(FP), AX
	MOVQ bias+72(FP), BX
	LEAQ (SI)(R8*1), R11
	LEAQ (R11)(R8*1), R12
	LEAQ (R12)(R8*1), R13
	VNNI_LOOPO(oqloop, oqstore)
	VBROADCASTSS (AX), Z27
	VBROADCASTSS (BX), Z28
	POST_ROW(Z0, Z1, Z2, Z3)
	QUANTD(Z0, Z1, Z2, Z3)
	VBROADCASTSS 4(AX), Z27
	VBROADCASTSS 4(BX), Z28
	POST_ROW(Z4, Z5, Z6, Z7)
	QUANTD(Z4, Z5, Z6, Z7)
	VBROADCASTSS 8(AX), Z27
	VBROADCASTSS 8(BX), Z28
	POST_ROW(Z8, Z9, Z10, Z11)
	QUANTD(Z8, Z9, Z10, Z11)
	VBROADCASTSS 12(AX), Z27
	VBROADCASTSS 12(BX), Z28
	POST_ROW(Z12, Z13, Z14, Z15)
	QUANTD(Z12, Z13, Z14, Z15)
	PACK_STORE(Z0, Z4, Z8, Z12, 0)
	PACK_STORE(Z1, Z5, Z9, Z13, 64)
	PACK_STORE(Z2, Z6, Z10, Z14, 128)
	PACK_STORE(Z3, Z7, Z11, Z15, 192)
	DECQ n+0(FP)
	JZ   oqdone
	MOVQ a+16(FP), SI
	LEAQ (SI)(R8*4), SI
	MOVQ SI, a+16(FP)
	ADDQ $16, AX
	MOVQ AX, mult+64(FP)
	ADDQ $16, BX
	MOVQ BX, bias+72(FP)
	MOVQ dstStride+56(FP), R9
	ADDQ R9, dst+48(FP)
	JMP  oqblock
oqdone:
	VZEROUPPER
	RET

// VNNI_LOOPZ is VNNI_LOOPO for a tile whose four 16-column blocks lie
// apart (a strided convolution): block t of group g at Bt + offs[g], with
// B0..B3 = DX, AX, BX, R8.
#define VNNI_LOOPZ(lbl, done) \
	VPXORD Z0, Z0, Z0; VPXORD Z1, Z1, Z1; VPXORD Z2, Z2, Z2; VPXORD Z3, Z3, Z3; \
	VPXORD Z4, Z4, Z4; VPXORD Z5, Z5, Z5; VPXORD Z6, Z6, Z6; VPXORD Z7, Z7, Z7; \
	VPXORD Z8, Z8, Z8; VPXORD Z9, Z9, Z9; VPXORD Z10, Z10, Z10; VPXORD Z11, Z11, Z11; \
	VPXORD Z12, Z12, Z12; VPXORD Z13, Z13, Z13; VPXORD Z14, Z14, Z14; VPXORD Z15, Z15, Z15; \
	TESTQ CX, CX; JZ done; \
lbl: \
	MOVQ (R14), R9; \
	VMOVDQU32 (DX)(R9*1), Z16; VMOVDQU32 (AX)(R9*1), Z17; VMOVDQU32 (BX)(R9*1), Z18; VMOVDQU32 (R8)(R9*1), Z19; \
	VPBROADCASTD (SI), Z20; VPBROADCASTD (R11), Z21; VPBROADCASTD (R12), Z22; VPBROADCASTD (R13), Z23; \
	VPDPBUSD Z20, Z16, Z0; VPDPBUSD Z20, Z17, Z1; VPDPBUSD Z20, Z18, Z2; VPDPBUSD Z20, Z19, Z3; \
	VPDPBUSD Z21, Z16, Z4; VPDPBUSD Z21, Z17, Z5; VPDPBUSD Z21, Z18, Z6; VPDPBUSD Z21, Z19, Z7; \
	VPDPBUSD Z22, Z16, Z8; VPDPBUSD Z22, Z17, Z9; VPDPBUSD Z22, Z18, Z10; VPDPBUSD Z22, Z19, Z11; \
	VPDPBUSD Z23, Z16, Z12; VPDPBUSD Z23, Z17, Z13; VPDPBUSD Z23, Z18, Z14; VPDPBUSD Z23, Z19, Z15; \
	ADDQ $4, SI; ADDQ $4, R11; ADDQ $4, R12; ADDQ $4, R13; ADDQ $8, R14; \
	DECQ CX; JNZ lbl; \
done:

// func vnniOQZ4x64(kg int, a *int8, lda int, b *byte, offs *int, zoff *[4]int, dst *byte, mult, bias *float32, inv, hi float32)
TEXT ·vnniOQZ4x64(SB), NOSPLIT, $0-80
	MOVQ kg+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R8
	MOVQ offs+32(FP), R14
	LEAQ (SI)(R8*1), R11
	LEAQ (R11)(R8*1), R12
	LEAQ (R12)(R8*1), R13
	MOVQ b+24(FP), R9
	MOVQ zoff+40(FP), R10
	MOVQ (R10), DX
	ADDQ R9, DX
	MOVQ 8(R10), AX
	ADDQ R9, AX
	MOVQ 16(R10), BX
	ADDQ R9, BX
	MOVQ 24(R10), R8
	ADDQ R9, R8
	VNNI_LOOPZ(oqzloop, oqzstore)
	MOVQ         dst+48(FP), DI
	MOVQ         mult+56(FP), AX
	MOVQ         bias+64(FP), BX
	VBROADCASTSS inv+72(FP), Z24
	VBROADCASTSS hi+76(FP), Z25
	VMOVDQU64    quadShuf<>(SB), Z29
	VBROADCASTSS (AX), Z27
	VBROADCASTSS (BX), Z28
	POST_ROW(Z0, Z1, Z2, Z3)
	QUANTD(Z0, Z1, Z2, Z3)
	VBROADCASTSS 4(AX), Z27
	VBROADCASTSS 4(BX), Z28
	POST_ROW(Z4, Z5, Z6, Z7)
	QUANTD(Z4, Z5, Z6, Z7)
	VBROADCASTSS 8(AX), Z27
	VBROADCASTSS 8(BX), Z28
	POST_ROW(Z8, Z9, Z10, Z11)
	QUANTD(Z8, Z9, Z10, Z11)
	VBROADCASTSS 12(AX), Z27
	VBROADCASTSS 12(BX), Z28
	POST_ROW(Z12, Z13, Z14, Z15)
	QUANTD(Z12, Z13, Z14, Z15)
	PACK_STORE(Z0, Z4, Z8, Z12, 0)
	PACK_STORE(Z1, Z5, Z9, Z13, 64)
	PACK_STORE(Z2, Z6, Z10, Z14, 128)
	PACK_STORE(Z3, Z7, Z11, Z15, 192)
	VZEROUPPER
	RET

// PREFETCH_ROWS prefetches the 4 x 256 bytes of a tile's float32 rows at
// r (row t at r + t*ld bytes; t is scratch) into L1, so that the epilogue,
// which runs after the K loop, finds its rows (written a whole layer
// earlier, usually out of L1 and L2) in cache.
#define PREFETCH_ROWS(r, ld, t) \
	MOVQ r, t; \
	PREFETCHT0 (t); PREFETCHT0 64(t); PREFETCHT0 128(t); PREFETCHT0 192(t); ADDQ ld, t; \
	PREFETCHT0 (t); PREFETCHT0 64(t); PREFETCHT0 128(t); PREFETCHT0 192(t); ADDQ ld, t; \
	PREFETCHT0 (t); PREFETCHT0 64(t); PREFETCHT0 128(t); PREFETCHT0 192(t); ADDQ ld, t; \
	PREFETCHT0 (t); PREFETCHT0 64(t); PREFETCHT0 128(t); PREFETCHT0 192(t)

// ADD_ROW adds the float32 row at DX to four rows of post values when CX
// is not zero.
#define ADD_ROW(r0, r1, r2, r3, lbl) \
	TESTQ CX, CX; JZ lbl; \
	VADDPS (DX), r0, r0; VADDPS 64(DX), r1, r1; VADDPS 128(DX), r2, r2; VADDPS 192(DX), r3, r3; \
lbl:

// func vnniOP4x64(n, kg int, a *int8, lda int, b *byte, offs *int, c *float32, ldc int, mult, bias *float32, relu int, add *float32)
// n (at least 1) row blocks: block r uses weight rows 4r..4r+3, mult and
// bias from 4r, and writes (adds) rows 4r..4r+3 of c (add), ldc apart.
TEXT ·vnniOP4x64(SB), NOSPLIT, $0-96
	VPXORD Z26, Z26, Z26
opblock:
	OP_BLOCK(oploop, opstore, opnoadd, opadd0, opadd1, opadd2, opadd3, oprow0, oprow1, oprow2, oprow3)
	DECQ n+0(FP)
	JZ   opdone
	OP_NEXT(opnext)
	JMP  opblock
opdone:
	VZEROUPPER
	RET

// func vnniOPQ4x64(n, kg int, a *int8, lda int, b *byte, offs *int, c *float32, ldc int, mult, bias *float32, relu int, add *float32, dst *byte, dstStride int, inv, hi float32)
// vnniOP4x64 whose blocks also write their quad bytes, block r at dst +
// r*dstStride.
TEXT ·vnniOPQ4x64(SB), NOSPLIT, $0-120
	VPXORD       Z26, Z26, Z26
	VMOVDQU64    quadShuf<>(SB), Z29
	VBROADCASTSS inv+112(FP), Z24
	VBROADCASTSS hi+116(FP), Z25
opqblock:
	OP_BLOCK(opqloop, opqstore, opqnoadd, opqadd0, opqadd1, opqadd2, opqadd3, opqrow0, opqrow1, opqrow2, opqrow3)
	MOVQ dst+96(FP), DI
	QUANTD(Z0, Z1, Z2, Z3)
	QUANTD(Z4, Z5, Z6, Z7)
	QUANTD(Z8, Z9, Z10, Z11)
	QUANTD(Z12, Z13, Z14, Z15)
	PACK_STORE(Z0, Z4, Z8, Z12, 0)
	PACK_STORE(Z1, Z5, Z9, Z13, 64)
	PACK_STORE(Z2, Z6, Z10, Z14, 128)
	PACK_STORE(Z3, Z7, Z11, Z15, 192)
	DECQ n+0(FP)
	JZ   opqdone
	MOVQ dstStride+104(FP), R9
	ADDQ R9, dst+96(FP)
	OP_NEXT(opqnext)
	JMP  opqblock
opqdone:
	VZEROUPPER
	RET

// func quantQuadAVX512(dst *byte, r0, r1, r2, r3 *float32, n int, mult, bias *float32, inv, hi float32)
TEXT ·quantQuadAVX512(SB), NOSPLIT, $0-72
	MOVQ         dst+0(FP), DI
	MOVQ         r0+8(FP), R8
	MOVQ         r1+16(FP), R9
	MOVQ         r2+24(FP), R10
	MOVQ         r3+32(FP), R11
	MOVQ         n+40(FP), CX
	MOVQ         mult+48(FP), AX
	MOVQ         bias+56(FP), BX
	VBROADCASTSS inv+64(FP), Z24
	VBROADCASTSS hi+68(FP), Z25
	VMOVDQU64    quadShuf<>(SB), Z29
	VBROADCASTSS (AX), Z16
	VBROADCASTSS 4(AX), Z17
	VBROADCASTSS 8(AX), Z18
	VBROADCASTSS 12(AX), Z19
	VBROADCASTSS (BX), Z20
	VBROADCASTSS 4(BX), Z21
	VBROADCASTSS 8(BX), Z22
	VBROADCASTSS 12(BX), Z23

qq16:
	CMPQ    CX, $16
	JL      qqdone
	VMULPS  (R8), Z16, Z0
	VMULPS  (R9), Z17, Z1
	VMULPS  (R10), Z18, Z2
	VMULPS  (R11), Z19, Z3
	VADDPS  Z20, Z0, Z0
	VADDPS  Z21, Z1, Z1
	VADDPS  Z22, Z2, Z2
	VADDPS  Z23, Z3, Z3
	QUANTD(Z0, Z1, Z2, Z3)
	PACK_STORE(Z0, Z1, Z2, Z3, 0)
	ADDQ    $64, R8
	ADDQ    $64, R9
	ADDQ    $64, R10
	ADDQ    $64, R11
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     qq16

qqdone:
	VZEROUPPER
	RET

// func maxU8AVX2(dst, src *byte, n int)
TEXT ·maxU8AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

mu32:
	CMPQ    CX, $32
	JL      mudone
	VMOVDQU (SI), Y0
	VPMAXUB (DI), Y0, Y0
	VMOVDQU Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $32, CX
	JMP     mu32

mudone:
	VZEROUPPER
	RET

// func vnniOI4x64(kg int, a *int8, lda int, b *byte, offs *int, c *int32, ldc int)
TEXT ·vnniOI4x64(SB), NOSPLIT, $0-56
	MOVQ kg+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R8
	MOVQ b+24(FP), DX
	MOVQ offs+32(FP), R14
	MOVQ c+40(FP), DI
	MOVQ ldc+48(FP), R10
	LEAQ (SI)(R8*1), R11
	LEAQ (R11)(R8*1), R12
	LEAQ (R12)(R8*1), R13
	VNNI_LOOPO(oiloop, oistore)
	SHLQ      $2, R10
	VMOVDQU32 Z0, (DI)
	VMOVDQU32 Z1, 64(DI)
	VMOVDQU32 Z2, 128(DI)
	VMOVDQU32 Z3, 192(DI)
	ADDQ      R10, DI
	VMOVDQU32 Z4, (DI)
	VMOVDQU32 Z5, 64(DI)
	VMOVDQU32 Z6, 128(DI)
	VMOVDQU32 Z7, 192(DI)
	ADDQ      R10, DI
	VMOVDQU32 Z8, (DI)
	VMOVDQU32 Z9, 64(DI)
	VMOVDQU32 Z10, 128(DI)
	VMOVDQU32 Z11, 192(DI)
	ADDQ      R10, DI
	VMOVDQU32 Z12, (DI)
	VMOVDQU32 Z13, 64(DI)
	VMOVDQU32 Z14, 128(DI)
	VMOVDQU32 Z15, 192(DI)
	VZEROUPPER
	RET
