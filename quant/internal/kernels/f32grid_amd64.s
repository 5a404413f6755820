//go:build !purego

#include "textflag.h"

// Float32 rounding on grids, 8 int64 lanes at a time: the AVX-512 bodies
// of GridAffine.Row and AddRound, element for element RoundF32 as
// f32grid.go writes it.
//
// Constants: Z31 ones (1 per lane), Z30 zero, Z29 40 (64 - 24: the cut
// width is 40 - lzcnt(|v|)).
//
// ROUND(V, DMIN) rounds V in place to float32 on its grid, DMIN the
// per-lane -149 - e (subnormals); Z1-Z6 are scratch:
//   s = V >> 63; a = |V|; d = max(40 - lzcnt(a), DMIN, 0);
//   mask = (1 << d) - 1; q = (a + (((mask >> 1) + ((a >> d) & 1)) & mask)) &^ mask;
//   V = (q ^ s) - s.
#define ROUND(V, DMIN) \
	VPSRAQ   $63, V, Z1; \
	VPABSQ   V, Z2; \
	VPLZCNTQ Z2, Z3; \
	VPSUBQ   Z3, Z29, Z3; \
	VPMAXSQ  DMIN, Z3, Z3; \
	VPMAXSQ  Z30, Z3, Z3; \
	VPSLLVQ  Z3, Z31, Z4; \
	VPSUBQ   Z31, Z4, Z4; \
	VPSRLQ   $1, Z4, Z5; \
	VPSRLVQ  Z3, Z2, Z6; \
	VPANDQ   Z31, Z6, Z6; \
	VPADDQ   Z6, Z5, Z5; \
	VPANDQ   Z4, Z5, Z5; \
	VPADDQ   Z5, Z2, Z2; \
	VPANDNQ  Z2, Z4, Z2; \
	VPXORQ   Z1, Z2, Z2; \
	VPSUBQ   Z1, Z2, V

// func gridRowAVX512(dst *int64, acc *int32, n int, p *gridParams)
// n a positive multiple of 8; p: corr, m, dminE, shift, bias, dminX, floor.
TEXT ·gridRowAVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ acc+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ p+24(FP), AX
	MOVQ $1, BX
	VPBROADCASTQ BX, Z31
	VPXORQ       Z30, Z30, Z30
	MOVQ $40, BX
	VPBROADCASTQ BX, Z29
	VPBROADCASTQ 0(AX), Z28
	VPBROADCASTQ 8(AX), Z27
	VPBROADCASTQ 16(AX), Z26
	VPBROADCASTQ 24(AX), Z25
	VPBROADCASTQ 32(AX), Z24
	VPBROADCASTQ 40(AX), Z23
	VPBROADCASTQ 48(AX), Z22

gridloop:
	VPMOVSXDQ (SI), Z0
	VPSUBQ    Z28, Z0, Z0
	ROUND(Z0, Z30)
	VPMULLQ   Z27, Z0, Z0
	ROUND(Z0, Z26)
	VPSLLVQ   Z25, Z0, Z0
	VPADDQ    Z24, Z0, Z0
	ROUND(Z0, Z23)
	VPMAXSQ   Z22, Z0, Z0
	VMOVDQU64 Z0, (DI)
	ADDQ      $32, SI
	ADDQ      $64, DI
	SUBQ      $8, CX
	JNZ       gridloop
	VZEROUPPER
	RET

// func addRoundAVX512(dst, x, y *int64, n int, p *addParams)
// n a positive multiple of 8; p: ea, eb, dmin, floor.
TEXT ·addRoundAVX512(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ y+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ p+32(FP), AX
	MOVQ $1, BX
	VPBROADCASTQ BX, Z31
	VPXORQ       Z30, Z30, Z30
	MOVQ $40, BX
	VPBROADCASTQ BX, Z29
	VPBROADCASTQ 0(AX), Z25
	VPBROADCASTQ 8(AX), Z24
	VPBROADCASTQ 16(AX), Z23
	VPBROADCASTQ 24(AX), Z22

addloop:
	VMOVDQU64 (SI), Z0
	VMOVDQU64 (DX), Z7
	VPSLLVQ   Z25, Z0, Z0
	VPSLLVQ   Z24, Z7, Z7
	VPADDQ    Z7, Z0, Z0
	ROUND(Z0, Z23)
	VPMAXSQ   Z22, Z0, Z0
	VMOVDQU64 Z0, (DI)
	ADDQ      $64, SI
	ADDQ      $64, DX
	ADDQ      $64, DI
	SUBQ      $8, CX
	JNZ       addloop
	VZEROUPPER
	RET

// Threshold counts, 8 lanes at a time: v clamped to [base, top], the
// bucket's start count gathered, then the walk past every threshold <= v
// (gathers of t[k], while any lane moves), lead added, and each count's low
// byte stored at every fourth byte (mask 0x11111111).
//
// Registers: Z20 base, Z21 top, Z22 shift, Z23 corr, Y24 lead, Y25 dword
// ones, K4 the store mask, R8 start, R9 t.
#define COUNT_SETUP \
	MOVQ         0(AX), R9; \
	MOVQ         8(AX), R8; \
	VPBROADCASTD 16(AX), Y24; \
	VPBROADCASTQ 24(AX), Z20; \
	VPBROADCASTQ 32(AX), Z21; \
	VPBROADCASTQ 40(AX), Z22; \
	VPBROADCASTQ 48(AX), Z23; \
	MOVL         $1, BX; \
	VPBROADCASTD BX, Y25; \
	MOVL         $0x11111111, BX; \
	KMOVD        BX, K4

// COUNT_START clamps the 8 values of Z0 and gathers their buckets' start
// counts into Y2; COUNT_STEP gathers t[k] into Z3 and sets K3 on the lanes
// with t[k] <= v (the walk moves them); COUNT_STORE adds lead and stores
// the low bytes at (DI).
#define COUNT_START \
	VPMAXSQ    Z20, Z0, Z0; \
	VPMINSQ    Z21, Z0, Z0; \
	VPSUBQ     Z20, Z0, Z1; \
	VPSRLVQ    Z22, Z1, Z1; \
	KXNORB     K1, K1, K1; \
	VPXORD     Y2, Y2, Y2; \
	VPGATHERQD (R8)(Z1*4), K1, Y2

#define COUNT_STEP \
	KXNORB     K2, K2, K2; \
	VPXORQ     Z3, Z3, Z3; \
	VPGATHERDQ (R9)(Y2*8), K2, Z3; \
	VPCMPQ     $2, Z0, Z3, K3

#define COUNT_STORE \
	VPADDD   Y24, Y2, Y2; \
	VMOVDQU8 Y2, K4, (DI)

// func countAccsAVX512(dst *byte, acc *int32, n int, p *countParams)
// n a positive multiple of 8; p: t, start, lead, base, top, sh, corr.
TEXT ·countAccsAVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ acc+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ p+24(FP), AX
	COUNT_SETUP

accloop:
	VPMOVSXDQ (SI), Z0
	VPSUBQ    Z23, Z0, Z0
	COUNT_START

accwalk:
	COUNT_STEP
	KORTESTB K3, K3
	JZ       accdone
	VPADDD   Y25, Y2, K3, Y2
	JMP      accwalk

accdone:
	COUNT_STORE
	ADDQ      $32, SI
	ADDQ      $32, DI
	SUBQ      $8, CX
	JNZ       accloop
	VZEROUPPER
	RET

// func countValuesAVX512(dst *byte, v *int64, n int, p *countParams)
// n a positive multiple of 8.
TEXT ·countValuesAVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ v+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ p+24(FP), AX
	COUNT_SETUP

valloop:
	VMOVDQU64 (SI), Z0
	COUNT_START

valwalk:
	COUNT_STEP
	KORTESTB K3, K3
	JZ       valdone
	VPADDD   Y25, Y2, K3, Y2
	JMP      valwalk

valdone:
	COUNT_STORE
	ADDQ      $64, SI
	ADDQ      $32, DI
	SUBQ      $8, CX
	JNZ       valloop
	VZEROUPPER
	RET
