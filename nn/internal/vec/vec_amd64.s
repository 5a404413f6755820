//go:build !purego

#include "textflag.h"

// Horizontal sum of the eight lanes of Y0 into the low lane of X0 (fixed
// order). Clobbers X1.
#define HSUM \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS       X1, X0, X0 \
	VMOVHLPS     X0, X0, X1 \
	VADDPS       X1, X0, X0 \
	VMOVSHDUP    X0, X1     \
	VADDSS       X1, X0, X0

// func scaleShiftAVX2(dst, x *float32, n int, scale, shift float32, relu int)
TEXT ·scaleShiftAVX2(SB), NOSPLIT, $0-40
	MOVQ         dst+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS scale+24(FP), Y0
	VBROADCASTSS shift+28(FP), Y1
	VXORPS       Y2, Y2, Y2
	MOVQ         relu+32(FP), AX
	TESTQ        AX, AX
	JNE          ssrelu

ssloop:
	TESTQ   CX, CX
	JE      ssdone
	VMULPS  (SI), Y0, Y3
	VADDPS  Y1, Y3, Y3
	VMOVUPS Y3, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     ssloop

ssrelu:
	TESTQ   CX, CX
	JE      ssdone
	VMULPS  (SI), Y0, Y3
	VADDPS  Y1, Y3, Y3
	VMAXPS  Y3, Y2, Y3
	VMOVUPS Y3, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     ssrelu

ssdone:
	VZEROUPPER
	RET

// func addAVX2(dst, a, b *float32, n int, relu int)
TEXT ·addAVX2(SB), NOSPLIT, $0-40
	MOVQ   dst+0(FP), DI
	MOVQ   a+8(FP), SI
	MOVQ   b+16(FP), DX
	MOVQ   n+24(FP), CX
	MOVQ   relu+32(FP), AX
	VXORPS Y2, Y2, Y2
	TESTQ  AX, AX
	JNE    addrelu

addloop:
	TESTQ   CX, CX
	JE      adddone
	VMOVUPS (SI), Y3
	VADDPS  (DX), Y3, Y3
	VMOVUPS Y3, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     addloop

addrelu:
	TESTQ   CX, CX
	JE      adddone
	VMOVUPS (SI), Y3
	VADDPS  (DX), Y3, Y3
	VMAXPS  Y3, Y2, Y3
	VMOVUPS Y3, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     addrelu

adddone:
	VZEROUPPER
	RET

// func maskGradAVX2(dst, dy, out *float32, n int, acc int)
TEXT ·maskGradAVX2(SB), NOSPLIT, $0-40
	MOVQ   dst+0(FP), DI
	MOVQ   dy+8(FP), SI
	MOVQ   out+16(FP), R8
	MOVQ   n+24(FP), CX
	MOVQ   acc+32(FP), AX
	VXORPS Y2, Y2, Y2
	TESTQ  AX, AX
	JNE    mgacc

mgloop:
	TESTQ   CX, CX
	JE      mgdone
	VMOVUPS (R8), Y3
	VCMPPS  $0x1e, Y2, Y3, Y3
	VANDPS  (SI), Y3, Y3
	VMOVUPS Y3, (DI)
	ADDQ    $32, SI
	ADDQ    $32, R8
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     mgloop

mgacc:
	TESTQ   CX, CX
	JE      mgdone
	VMOVUPS (R8), Y3
	VCMPPS  $0x1e, Y2, Y3, Y3
	VANDPS  (SI), Y3, Y3
	VADDPS  (DI), Y3, Y3
	VMOVUPS Y3, (DI)
	ADDQ    $32, SI
	ADDQ    $32, R8
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     mgacc

mgdone:
	VZEROUPPER
	RET

// func sumAVX2(x *float32, n int) float32
TEXT ·sumAVX2(SB), NOSPLIT, $0-20
	MOVQ   x+0(FP), SI
	MOVQ   n+8(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

sumloop:
	TESTQ  CX, CX
	JE     sumdone
	VADDPS (SI), Y0, Y0
	VADDPS 32(SI), Y1, Y1
	VADDPS 64(SI), Y2, Y2
	VADDPS 96(SI), Y3, Y3
	ADDQ   $128, SI
	SUBQ   $32, CX
	JMP    sumloop

sumdone:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM
	MOVSS  X0, ret+16(FP)
	VZEROUPPER
	RET

// func sumSqDevAVX2(x *float32, n int, mu float32) float32
TEXT ·sumSqDevAVX2(SB), NOSPLIT, $0-28
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS mu+16(FP), Y5
	VXORPS       Y0, Y0, Y0
	VXORPS       Y1, Y1, Y1

ssdloop:
	TESTQ       CX, CX
	JE          ssddone
	VMOVUPS     (SI), Y3
	VSUBPS      Y5, Y3, Y3
	VFMADD231PS Y3, Y3, Y0
	VMOVUPS     32(SI), Y4
	VSUBPS      Y5, Y4, Y4
	VFMADD231PS Y4, Y4, Y1
	ADDQ        $64, SI
	SUBQ        $16, CX
	JMP         ssdloop

ssddone:
	VADDPS Y1, Y0, Y0
	HSUM
	MOVSS  X0, ret+24(FP)
	VZEROUPPER
	RET

// func dotDevAVX2(dy, out, x *float32, n int, mu float32) (float32, float32)
TEXT ·dotDevAVX2(SB), NOSPLIT, $0-48
	MOVQ         dy+0(FP), SI
	MOVQ         out+8(FP), R8
	MOVQ         x+16(FP), DX
	MOVQ         n+24(FP), CX
	VBROADCASTSS mu+32(FP), Y5
	VXORPS       Y0, Y0, Y0
	VXORPS       Y1, Y1, Y1
	VXORPS       Y6, Y6, Y6
	VXORPS       Y7, Y7, Y7
	VXORPS       Y2, Y2, Y2
	TESTQ        R8, R8
	JNE          ddmask

ddloop:
	TESTQ       CX, CX
	JE          dddone
	VMOVUPS     (SI), Y3
	VADDPS      Y3, Y0, Y0
	VMOVUPS     (DX), Y4
	VSUBPS      Y5, Y4, Y4
	VFMADD231PS Y4, Y3, Y1
	VMOVUPS     32(SI), Y3
	VADDPS      Y3, Y6, Y6
	VMOVUPS     32(DX), Y4
	VSUBPS      Y5, Y4, Y4
	VFMADD231PS Y4, Y3, Y7
	ADDQ        $64, SI
	ADDQ        $64, DX
	SUBQ        $16, CX
	JMP         ddloop

ddmask:
	TESTQ       CX, CX
	JE          dddone
	VMOVUPS     (R8), Y3
	VCMPPS      $0x1e, Y2, Y3, Y3
	VANDPS      (SI), Y3, Y3
	VADDPS      Y3, Y0, Y0
	VMOVUPS     (DX), Y4
	VSUBPS      Y5, Y4, Y4
	VFMADD231PS Y4, Y3, Y1
	VMOVUPS     32(R8), Y3
	VCMPPS      $0x1e, Y2, Y3, Y3
	VANDPS      32(SI), Y3, Y3
	VADDPS      Y3, Y6, Y6
	VMOVUPS     32(DX), Y4
	VSUBPS      Y5, Y4, Y4
	VFMADD231PS Y4, Y3, Y7
	ADDQ        $64, SI
	ADDQ        $64, R8
	ADDQ        $64, DX
	SUBQ        $16, CX
	JMP         ddmask

dddone:
	VADDPS  Y7, Y1, Y8
	VADDPS  Y6, Y0, Y0
	HSUM
	MOVSS   X0, ret+40(FP)
	VMOVAPS Y8, Y0
	HSUM
	MOVSS  X0, ret1+44(FP)
	VZEROUPPER
	RET

// func bnDxAVX2(dst, dy, out, x *float32, n int, a, c, b float32, acc int)
TEXT ·bnDxAVX2(SB), NOSPLIT, $0-64
	MOVQ         dst+0(FP), DI
	MOVQ         dy+8(FP), SI
	MOVQ         out+16(FP), R8
	MOVQ         x+24(FP), DX
	MOVQ         n+32(FP), CX
	VBROADCASTSS a+40(FP), Y0
	VBROADCASTSS c+44(FP), Y1
	VBROADCASTSS b+48(FP), Y5
	MOVQ         acc+56(FP), AX
	VXORPS       Y2, Y2, Y2

bnloop:
	TESTQ   CX, CX
	JE      bndone
	VMOVUPS (SI), Y3
	TESTQ   R8, R8
	JE      bnnomask
	VMOVUPS (R8), Y6
	VCMPPS  $0x1e, Y2, Y6, Y6
	VANDPS  Y6, Y3, Y3
	ADDQ    $32, R8

bnnomask:
	VMULPS  Y0, Y3, Y3
	VMULPS  (DX), Y1, Y4
	VADDPS  Y4, Y3, Y3
	VADDPS  Y5, Y3, Y3
	TESTQ   AX, AX
	JE      bnstore
	VADDPS  (DI), Y3, Y3

bnstore:
	VMOVUPS Y3, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     bnloop

bndone:
	VZEROUPPER
	RET

// func sgdAVX2(p, grad, buf *float32, n int, lr, mu, wd float32, first, nesterov int)
TEXT ·sgdAVX2(SB), NOSPLIT, $0-64
	MOVQ         p+0(FP), DI
	MOVQ         grad+8(FP), SI
	MOVQ         buf+16(FP), DX
	MOVQ         n+24(FP), CX
	VBROADCASTSS lr+32(FP), Y0
	VBROADCASTSS mu+36(FP), Y1
	VBROADCASTSS wd+40(FP), Y2
	MOVQ         first+48(FP), AX
	MOVQ         nesterov+56(FP), BX

sgdloop:
	TESTQ   CX, CX
	JE      sgddone
	VMOVUPS (DI), Y3        // p
	VMULPS  Y3, Y2, Y4      // wd*p
	VADDPS  (SI), Y4, Y4    // d = g + wd*p
	VMOVAPS Y4, Y5          // b = d
	TESTQ   AX, AX
	JNE     sgdfirst
	VMULPS  (DX), Y1, Y5    // mu*buf
	VADDPS  Y4, Y5, Y5      // b = mu*buf + d

sgdfirst:
	VMOVUPS Y5, (DX)
	TESTQ   BX, BX
	JE      sgdplain
	VMULPS  Y5, Y1, Y6      // mu*b
	VADDPS  Y6, Y4, Y4      // d = d + mu*b
	JMP     sgdupdate

sgdplain:
	VMOVAPS Y5, Y4          // d = b

sgdupdate:
	VMULPS  Y4, Y0, Y4      // lr*d
	VSUBPS  Y4, Y3, Y3      // p - lr*d
	VMOVUPS Y3, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	ADDQ    $32, DX
	SUBQ    $8, CX
	JMP     sgdloop

sgddone:
	VZEROUPPER
	RET
