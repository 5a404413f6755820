package gemm

import "sync"

// active is the micro-kernel Sgemm uses, chosen once at start-up (see
// kernel_amd64.go and kernel_other.go). Tests swap it to exercise each
// kernel this CPU can run.
var active = &defaultKernel

// problem holds the arguments of one Sgemm call.
type problem struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a              []float32
	lda            int
	b              []float32
	ldb            int
	c              []float32
	ldc            int
}

// workspace holds the packing buffers of one goroutine. Workspaces live in a
// sync.Pool so that steady-state calls do not allocate.
type workspace struct {
	a, b []float32
}

var workspaces = sync.Pool{New: func() any { return new(workspace) }}

// grow returns s with length at least n, reusing its storage when possible.
func grow(s []float32, n int) []float32 {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]float32, n)
}

// kBlock returns the k-block size used for a product with inner dimension k:
// the k range is cut into equal blocks of at most kr.kc. It depends only on k
// and the kernel, so every part of a split product sums in the same order.
func kBlock(kr *kernel, k int) int {
	nb := (k + kr.kc - 1) / kr.kc
	return (k + nb - 1) / nb
}

// sgemm runs the blocked algorithm for a validated, non-trivial problem.
func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	p := problem{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta,
		a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc}
	kr := active
	ws := workspaces.Get().(*workspace)
	p.block(kr, ws, 0, m, 0, n)
	workspaces.Put(ws)
}

// block computes the part C[i0:i1, j0:j1] of the product with kernel kr:
//
//	for each block of nc columns of C (jc):
//	  for each k block (pc):
//	    pack op(B)[pc, jc] into kc x nr micro-panels
//	    for each block of mc rows of C (ic):
//	      pack op(A)[ic, pc] into mr x kc micro-panels
//	      for each micro-panel of B (jr), for each micro-panel of A (ir):
//	        micro-kernel: C[ir, jr] = alpha*Ap*Bp + beta'*C[ir, jr]
//
// where beta' is beta for the first k block and 1 afterwards.
func (p *problem) block(kr *kernel, ws *workspace, i0, i1, j0, j1 int) {
	mr, nr := kr.mr, kr.nr
	kcMax := kBlock(kr, p.k)
	mcMax := min(kr.mc, roundUp(i1-i0, mr))
	ncMax := min(kr.nc, roundUp(j1-j0, nr))
	ws.a = grow(ws.a, mcMax*kcMax)
	ws.b = grow(ws.b, ncMax*kcMax)
	for jc := j0; jc < j1; jc += ncMax {
		nc := min(ncMax, j1-jc)
		for pc := 0; pc < p.k; pc += kcMax {
			kc := min(kcMax, p.k-pc)
			beta := p.beta
			if pc > 0 {
				beta = 1
			}
			packB(ws.b, p.b, p.ldb, p.transB, pc, kc, jc, nc, nr)
			for ic := i0; ic < i1; ic += mcMax {
				mc := min(mcMax, i1-ic)
				packA(ws.a, p.a, p.lda, p.transA, ic, mc, pc, kc, mr)
				for jr := 0; jr < nc; jr += nr {
					bp := ws.b[jr*kc : jr*kc+nr*kc]
					for ir := 0; ir < mc; ir += mr {
						ap := ws.a[ir*kc : ir*kc+mr*kc]
						off := (ic+ir)*p.ldc + jc + jr
						kr.fn(kc, ap, bp, p.c[off:], p.ldc, p.alpha, beta, min(mr, mc-ir), min(nr, nc-jr))
					}
				}
			}
		}
	}
}

// roundUp rounds x up to a multiple of m.
func roundUp(x, m int) int { return (x + m - 1) / m * m }
