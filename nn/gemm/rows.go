package gemm

import "fmt"

// RowsPlan is the blocking of products C = A*B + beta*C in which A (m x k)
// is packed once (PackA) and reused for several B, and B is given by row
// offsets into a slice (MulRows): the shape of an implicit GEMM, in which B
// is a convolution's input read in place instead of its im2col matrix.
//
// MulRows gives bit for bit the C of Sgemm(false, false, m, n, k, 1, A, lda,
// B, ldb, beta, C, ldc) with B stored explicitly: it uses a kernel Sgemm
// may choose (all of them compute every element identically, see
// pickKernel), the same k blocks, and calls it with the same alpha and beta
// on the same values.
type RowsPlan struct {
	kr    *kernel
	m, k  int
	kcMax int
}

// PlanRows returns the plan for products with an m x k matrix A.
func PlanRows(m, k int) RowsPlan {
	if m < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative dimension m=%d k=%d", m, k))
	}
	kr := candidates[0].kr
	if forced != nil {
		kr = forced
	}
	return RowsPlan{kr: kr, m: m, k: k, kcMax: kBlock(kr, max(k, 1))}
}

// PackedLen is the number of floats PackA writes.
func (p RowsPlan) PackedLen() int { return roundUp(p.m, p.kr.mr) * p.k }

// PackA packs the m x k matrix a (row stride lda) into dst (at least
// PackedLen floats) for MulRows.
func (p RowsPlan) PackA(dst, a []float32, lda int) {
	checkMatrix("A", p.m, p.k, a, lda)
	if len(dst) < p.PackedLen() {
		panic(fmt.Sprintf("gemm: packed A needs %d floats, got %d", p.PackedLen(), len(dst)))
	}
	mp := roundUp(p.m, p.kr.mr)
	for pc := 0; pc < p.k; pc += p.kcMax {
		kc := min(p.kcMax, p.k-pc)
		packA(dst[mp*pc:mp*(pc+kc)], a, lda, false, 0, p.m, pc, kc, p.kr.mr)
	}
}

// MulRows computes C = A*B + beta*C for the m x n matrix C (row stride
// ldc), A packed into ap by PackA and B the k x n matrix whose row p is
// b[off[p]*unit : off[p]*unit+n]. When beta is 0, C is not read. It panics
// when a row of B or C does not fit in its slice.
func (p RowsPlan) MulRows(ap []float32, n int, b []float32, off []int, unit int, beta float32, c []float32, ldc int) {
	m, k, kr := p.m, p.k, p.kr
	if n < 0 || unit < 0 {
		panic(fmt.Sprintf("gemm: negative n=%d or unit=%d", n, unit))
	}
	if m == 0 || n == 0 {
		return
	}
	checkMatrix("C", m, n, c, ldc)
	if k == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	if len(ap) < p.PackedLen() || len(off) < k {
		panic(fmt.Sprintf("gemm: packed A has %d floats (needs %d), %d row offsets (needs %d)", len(ap), p.PackedLen(), len(off), k))
	}
	ws := workspaces.Get().(*workspace)
	if cap(ws.off) < k {
		ws.off = make([]int, k)
	}
	offs := ws.off[:k]
	for i, o := range off[:k] {
		o *= unit
		if o < 0 || o+n > len(b) {
			panic(fmt.Sprintf("gemm: row %d of B (offset %d, %d columns) is outside b (%d floats)", i, o, n, len(b)))
		}
		offs[i] = o
	}
	mr, nr := kr.mr, kr.nr
	mp := roundUp(m, mr)
	var panel []float32
	if kr.rows == nil {
		ws.b = grow(ws.b, nr*p.kcMax)
		panel = ws.b
	}
	for jr := 0; jr < n; jr += nr {
		nn := min(nr, n-jr)
		bj := b[jr:]
		for pc := 0; pc < k; pc += p.kcMax {
			kc := min(p.kcMax, k-pc)
			beta := beta
			if pc > 0 {
				beta = 1
			}
			o := offs[pc : pc+kc]
			if panel != nil {
				// A kernel without row offsets: gather the panel,
				// zero-padded as packB does.
				for q, r := range o {
					row := panel[q*nr : (q+1)*nr]
					copy(row[:nn], bj[r:r+nn])
					clear(row[nn:])
				}
			}
			for ir := 0; ir < m; ir += mr {
				a := ap[mp*pc+ir*kc : mp*pc+(ir+mr)*kc]
				cc := c[ir*ldc+jr:]
				if panel != nil {
					kr.fn(kc, a, panel, cc, nr, ldc, 1, beta, min(mr, m-ir), nn)
				} else {
					kr.rows(kc, a, bj, o, cc, ldc, 1, beta, min(mr, m-ir), nn)
				}
			}
		}
	}
	workspaces.Put(ws)
}
