//go:build !purego

#include "textflag.h"

// func reluAVX2(dst, src *float32, n int)
TEXT ·reluAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	CMPQ CX, $32
	JL   relu8

relu32:
	VMOVUPS (SI), Y1
	VMOVUPS 32(SI), Y2
	VMOVUPS 64(SI), Y3
	VMOVUPS 96(SI), Y4
	VMAXPS  Y0, Y1, Y1
	VMAXPS  Y0, Y2, Y2
	VMAXPS  Y0, Y3, Y3
	VMAXPS  Y0, Y4, Y4
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	VMOVUPS Y3, 64(DI)
	VMOVUPS Y4, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	SUBQ    $32, CX
	CMPQ    CX, $32
	JGE     relu32

relu8:
	CMPQ    CX, $8
	JL      reludone
	VMOVUPS (SI), Y1
	VMAXPS  Y0, Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     relu8

reludone:
	VZEROUPPER
	RET

// func maxAVX2(dst, src *float32, n int)
TEXT ·maxAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

max8:
	CMPQ    CX, $8
	JL      maxdone
	VMOVUPS (SI), Y1
	VMOVUPS (DI), Y2
	// Intel: VMAXPS y1, y1(src), y2(dst): src > dst ? src : dst
	VMAXPS  Y2, Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     max8

maxdone:
	VZEROUPPER
	RET

// func postAVX2(dst, src *float32, n int, m, b float32)
TEXT ·postAVX2(SB), NOSPLIT, $0-32
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS m+24(FP), Y5
	VBROADCASTSS b+28(FP), Y6
	CMPQ         CX, $16
	JL           post8

post16:
	VMOVUPS (SI), Y1
	VMOVUPS 32(SI), Y2
	VMULPS  Y5, Y1, Y1
	VMULPS  Y5, Y2, Y2
	VADDPS  Y6, Y1, Y1
	VADDPS  Y6, Y2, Y2
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	SUBQ    $16, CX
	CMPQ    CX, $16
	JGE     post16

post8:
	CMPQ    CX, $8
	JL      postdone
	VMOVUPS (SI), Y1
	VMULPS  Y5, Y1, Y1
	VADDPS  Y6, Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     post8

postdone:
	VZEROUPPER
	RET

// func postReluAVX2(dst, src *float32, n int, m, b float32)
TEXT ·postReluAVX2(SB), NOSPLIT, $0-32
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS m+24(FP), Y5
	VBROADCASTSS b+28(FP), Y6
	VXORPS       Y0, Y0, Y0
	CMPQ         CX, $16
	JL           pr8

pr16:
	VMOVUPS (SI), Y1
	VMOVUPS 32(SI), Y2
	VMULPS  Y5, Y1, Y1
	VMULPS  Y5, Y2, Y2
	VADDPS  Y6, Y1, Y1
	VADDPS  Y6, Y2, Y2
	VMAXPS  Y0, Y1, Y1
	VMAXPS  Y0, Y2, Y2
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	SUBQ    $16, CX
	CMPQ    CX, $16
	JGE     pr16

pr8:
	CMPQ    CX, $8
	JL      prdone
	VMOVUPS (SI), Y1
	VMULPS  Y5, Y1, Y1
	VADDPS  Y6, Y1, Y1
	VMAXPS  Y0, Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     pr8

prdone:
	VZEROUPPER
	RET

// func quantAVX2(dst, src *float32, n int, inv, lo, hi float32)
TEXT ·quantAVX2(SB), NOSPLIT, $0-36
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS inv+24(FP), Y5
	VBROADCASTSS lo+28(FP), Y6
	VBROADCASTSS hi+32(FP), Y7

q8:
	CMPQ     CX, $8
	JL       qdone
	VMOVUPS  (SI), Y1
	VMULPS   Y5, Y1, Y1
	// Intel VMAXPS y1, y1, lo: x > lo ? x : lo
	VMAXPS   Y6, Y1, Y1
	// Intel VMINPS y1, y1, hi: t < hi ? t : hi
	VMINPS   Y7, Y1, Y1
	VROUNDPS $0, Y1, Y1
	VMOVUPS  Y1, (DI)
	ADDQ     $32, SI
	ADDQ     $32, DI
	SUBQ     $8, CX
	JMP      q8

qdone:
	VZEROUPPER
	RET

// func axpyAVX2(a float32, x, y *float32, n int)
TEXT ·axpyAVX2(SB), NOSPLIT, $0-32
	VBROADCASTSS a+0(FP), Y5
	MOVQ         x+8(FP), SI
	MOVQ         y+16(FP), DI
	MOVQ         n+24(FP), CX
	CMPQ         CX, $32
	JL           ax8

ax32:
	VMULPS  (SI), Y5, Y1
	VMULPS  32(SI), Y5, Y2
	VMULPS  64(SI), Y5, Y3
	VMULPS  96(SI), Y5, Y4
	VADDPS  (DI), Y1, Y1
	VADDPS  32(DI), Y2, Y2
	VADDPS  64(DI), Y3, Y3
	VADDPS  96(DI), Y4, Y4
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	VMOVUPS Y3, 64(DI)
	VMOVUPS Y4, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	SUBQ    $32, CX
	CMPQ    CX, $32
	JGE     ax32

ax8:
	CMPQ    CX, $8
	JL      axdone
	VMULPS  (SI), Y5, Y1
	VADDPS  (DI), Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     ax8

axdone:
	VZEROUPPER
	RET

// func axpyAVX512(a float32, x, y *float32, n int)
TEXT ·axpyAVX512(SB), NOSPLIT, $0-32
	VBROADCASTSS a+0(FP), Z5
	MOVQ         x+8(FP), SI
	MOVQ         y+16(FP), DI
	MOVQ         n+24(FP), CX
	CMPQ         CX, $64
	JL           az16

az64:
	VMULPS  (SI), Z5, Z1
	VMULPS  64(SI), Z5, Z2
	VMULPS  128(SI), Z5, Z3
	VMULPS  192(SI), Z5, Z4
	VADDPS  (DI), Z1, Z1
	VADDPS  64(DI), Z2, Z2
	VADDPS  128(DI), Z3, Z3
	VADDPS  192(DI), Z4, Z4
	VMOVUPS Z1, (DI)
	VMOVUPS Z2, 64(DI)
	VMOVUPS Z3, 128(DI)
	VMOVUPS Z4, 192(DI)
	ADDQ    $256, SI
	ADDQ    $256, DI
	SUBQ    $64, CX
	CMPQ    CX, $64
	JGE     az64

az16:
	CMPQ    CX, $16
	JL      azdone
	VMULPS  (SI), Z5, Z1
	VADDPS  (DI), Z1, Z1
	VMOVUPS Z1, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     az16

azdone:
	VZEROUPPER
	RET

// func addAVX2(dst, a, b *float32, n int)
TEXT ·addAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX

add8:
	CMPQ    CX, $8
	JL      adddone
	VMOVUPS (SI), Y1
	VADDPS  (DX), Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     add8

adddone:
	VZEROUPPER
	RET

// func addReluAVX2(dst, a, b *float32, n int)
TEXT ·addReluAVX2(SB), NOSPLIT, $0-32
	MOVQ   dst+0(FP), DI
	MOVQ   a+8(FP), SI
	MOVQ   b+16(FP), DX
	MOVQ   n+24(FP), CX
	VXORPS Y0, Y0, Y0

ar8:
	CMPQ    CX, $8
	JL      ardone
	VMOVUPS (SI), Y1
	VADDPS  (DX), Y1, Y1
	VMAXPS  Y0, Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     ar8

ardone:
	VZEROUPPER
	RET

// func max4AVX2(dst, a, b, c, d *float32, n int)
TEXT ·max4AVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ c+24(FP), R8
	MOVQ d+32(FP), R9
	MOVQ n+40(FP), CX

m4:
	CMPQ    CX, $8
	JL      m4done
	VMOVUPS (SI), Y1
	VMOVUPS (DX), Y2
	VMOVUPS (R8), Y3
	VMOVUPS (R9), Y4
	// Intel VMAXPS y1, y1(a), y2(b): a > b ? a : b
	VMAXPS  Y2, Y1, Y1
	// Intel VMAXPS y3, y3(c), y4(d): c > d ? c : d
	VMAXPS  Y4, Y3, Y3
	// Intel VMAXPS y1, y1(x), y3(y): x > y ? x : y
	VMAXPS  Y3, Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, R8
	ADDQ    $32, R9
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     m4

m4done:
	VZEROUPPER
	RET

// func sumRowsAVX2(dst, src *float32, n, ld, rows int)
// dst[b] = src[b] + src[ld+b] + ... + src[(rows-1)*ld+b], rows added in
// order, for b < n (a positive multiple of 8), 8 columns at a time.
TEXT ·sumRowsAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ ld+24(FP), R8
	SHLQ $2, R8
	MOVQ rows+32(FP), R9

sr8:
	VMOVUPS (SI), Y0
	LEAQ    (SI)(R8*1), DX
	MOVQ    R9, R10
	DECQ    R10
	JZ      srstore

srrow:
	VADDPS (DX), Y0, Y0
	ADDQ   R8, DX
	DECQ   R10
	JNZ    srrow

srstore:
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     sr8
	VZEROUPPER
	RET
