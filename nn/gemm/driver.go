package gemm

import "sync"

// forced, when not nil, is the micro-kernel every Sgemm uses; tests set it
// to exercise each kernel this CPU can run. Otherwise pickKernel chooses.
var forced *kernel

// pickKernel returns the micro-kernel for problem p: among the kernels of
// this build and CPU (candidates, with their relative speeds), the one with
// the least padded work per unit of speed, where the padded work is C's size
// rounded up to whole micro-tiles. The choice depends only on the shape and
// B's layout. All the assembly kernels perform the same arithmetic for every
// element (one FMA per k step in order, then alpha and beta applied the same
// way) and share the k blocking, so the choice does not change results.
func pickKernel(p *problem) *kernel {
	if forced != nil {
		return forced
	}
	aliased := p.directB() && aliasedB(p.ldb)
	best := candidates[0].kr
	bestCost := 0.0
	for i, c := range candidates {
		speed := c.speed
		if aliased {
			speed = c.aliasedSpeed
		}
		cost := float64(roundUp(p.m, c.kr.mr)*roundUp(p.n, c.kr.nr)) / speed
		if i == 0 || cost < bestCost {
			best, bestCost = c.kr, cost
		}
	}
	return best
}

// candidate is a kernel pickKernel may choose, with its speed relative to
// the fastest kernel on large products, in general and when B is read in
// place with an aliasing row stride.
type candidate struct {
	kr                  *kernel
	speed, aliasedSpeed float64
}

// aliasedB reports whether rows of B with stride ldb (in floats) map to the
// same few L1 cache sets: the stride is a multiple of 4 KiB.
func aliasedB(ldb int) bool { return ldb%1024 == 0 }

// directB reports whether the micro-kernel reads op(B) in place instead of
// from packed panels. That needs B not transposed (each k step of a
// micro-panel is then a contiguous run of a row of B). It saves the packing,
// which costs about as much as the arithmetic when few rows of C share each
// B panel (small m); for large m, packed panels are slightly faster, and
// much faster when B's row stride aliases in the L1 cache. Packing only
// moves data: the result is the same either way.
func (p *problem) directB() bool {
	if p.transB || !directBEnabled {
		return false
	}
	if directBForce {
		return true
	}
	return p.m <= 64 || (p.m <= 256 && !aliasedB(p.ldb))
}

// Switches for tests and benchmarks: directBEnabled false always packs B,
// directBForce true reads B in place whenever possible.
var (
	directBEnabled = true
	directBForce   = false
)

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
	off  []int // MulRows: the row offsets in floats
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
	kr := pickKernel(&p)
	if t := splitCount(m, n, k, kr); t > 1 {
		runParallel(&p, kr, t)
		return
	}
	ws := workspaces.Get().(*workspace)
	p.block(kr, ws, 0, m, 0, n)
	workspaces.Put(ws)
}

// block computes the part C[i0:i1, j0:j1] of the product with kernel kr:
//
//	for each block of nc columns of C (jc):
//	  for each k block (pc):
//	    pack op(B)[pc, jc] into kc x nr micro-panels (unless B is read in place)
//	    for each block of mc rows of C (ic):
//	      pack op(A)[ic, pc] into mr x kc micro-panels
//	      for each micro-panel of B (jr), for each micro-panel of A (ir):
//	        micro-kernel: C[ir, jr] = alpha*Ap*Bp + beta'*C[ir, jr]
//
// where beta' is beta for the first k block and 1 afterwards. When B is
// read in place (directB), the micro-kernel gets B's own rows with stride
// ldb; a last, partial panel is then packed, unless the kernel masks its
// loads of B (maskedB) and reads it in place too.
func (p *problem) block(kr *kernel, ws *workspace, i0, i1, j0, j1 int) {
	mr, nr := kr.mr, kr.nr
	kcMax := kBlock(kr, p.k)
	mcMax := min(kr.mc, roundUp(i1-i0, mr))
	ncMax := min(kr.nc, roundUp(j1-j0, nr))
	direct := p.directB()
	ws.a = grow(ws.a, mcMax*kcMax)
	if direct {
		ws.b = grow(ws.b, nr*kcMax)
	} else {
		ws.b = grow(ws.b, ncMax*kcMax)
	}
	for jc := j0; jc < j1; jc += ncMax {
		nc := min(ncMax, j1-jc)
		full := nc / nr * nr // columns in whole micro-panels
		for pc := 0; pc < p.k; pc += kcMax {
			kc := min(kcMax, p.k-pc)
			beta := p.beta
			if pc > 0 {
				beta = 1
			}
			if !direct {
				packB(ws.b, p.b, p.ldb, p.transB, pc, kc, jc, nc, nr)
			} else if full < nc && !kr.maskedB {
				packBRows(ws.b, p.b, p.ldb, pc, kc, jc+full, nc-full, nr)
			}
			for ic := i0; ic < i1; ic += mcMax {
				mc := min(mcMax, i1-ic)
				packA(ws.a, p.a, p.lda, p.transA, ic, mc, pc, kc, mr)
				for jr := 0; jr < nc; jr += nr {
					var bp []float32
					ldb := nr
					switch {
					case !direct:
						bp = ws.b[jr*kc : jr*kc+nr*kc]
					case jr < full || kr.maskedB:
						bp = p.b[pc*p.ldb+jc+jr:]
						ldb = p.ldb
					default:
						bp = ws.b[:nr*kc]
					}
					for ir := 0; ir < mc; ir += mr {
						ap := ws.a[ir*kc : ir*kc+mr*kc]
						off := (ic+ir)*p.ldc + jc + jr
						kr.fn(kc, ap, bp, p.c[off:], ldb, p.ldc, p.alpha, beta, min(mr, mc-ir), min(nr, nc-jr))
					}
				}
			}
		}
	}
}

// roundUp rounds x up to a multiple of m.
func roundUp(x, m int) int { return (x + m - 1) / m * m }
