package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// endOfPage returns a slice of n float32s that ends exactly where an
// inaccessible page begins, so that any read or write past its end faults
// (crashing the test) instead of going unnoticed. Masked vector loads and
// stores must not fault on their masked-off lanes.
func endOfPage(t *testing.T, n int) []float32 {
	t.Helper()
	page := unix.Getpagesize()
	size := (n*4+page-1)/page*page + page
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	t.Cleanup(func() { _ = unix.Munmap(mem) })
	if err := unix.Mprotect(mem[size-page:], unix.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	start := size - page - n*4
	return unsafe.Slice((*float32)(unsafe.Pointer(&mem[start])), n)
}

// TestNoAccessPastEnd runs every kernel with its operands ending at an
// inaccessible page: partial panels of B read in place, partial C tiles
// (read when beta != 0), and the tails of the vector kernels.
func TestNoAccessPastEnd(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 17))
	for _, kr := range kernels() {
		for _, sh := range [][3]int{{3, 5, 7}, {kr.mr + 1, kr.nr + 3, 4}, {2*kr.mr - 1, 2*kr.nr - 1, 9}} {
			for tr := 0; tr < 4; tr++ {
				tc := gemmCase{transA: tr&1 != 0, transB: tr&2 != 0, m: sh[0], n: sh[1], k: sh[2], alpha: 1, beta: 0.5}
				ar, ac := storedShape(tc.transA, tc.m, tc.k)
				br, bc := storedShape(tc.transB, tc.k, tc.n)
				tc.lda, tc.ldb, tc.ldc = ac+1, bc+2, tc.n+3
				a := endOfPage(t, matLen(ar, ac, tc.lda))
				b := endOfPage(t, matLen(br, bc, tc.ldb))
				c := endOfPage(t, matLen(tc.m, tc.n, tc.ldc))
				fillRandom(rng, a)
				fillRandom(rng, b)
				fillRandom(rng, c)
				want, mag := exact(tc, a, b, c)
				for _, direct := range []bool{false, true} {
					cc := endOfPage(t, len(c))
					copy(cc, c)
					savedE, savedF := directBEnabled, directBForce
					directBEnabled, directBForce = direct, direct
					withKernel(kr, func() {
						Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, tc.lda, b, tc.ldb, tc.beta, cc, tc.ldc)
					})
					directBEnabled, directBForce = savedE, savedF
					checkResult(t, fmt.Sprintf("%s directB=%v", kr.name, direct), tc, cc, want, mag)
				}
			}
		}
	}
	for _, vk := range vecKernels() {
		for _, n := range []int{1, 7, 15, 17, 33, 70} {
			x, y := endOfPage(t, n), endOfPage(t, n)
			fillRandom(rng, x)
			fillRandom(rng, y)
			vk.axpy(0.5, x, y)
			_ = vk.dot(x, y)
			vk.add(y, n, n, x, n, n, 1, 1, n)
			vk.add(y, n+16, n, x, n+16, n, 1, 1, n) // masked tail (AVX-512)
		}
	}
	for n := 1; n <= 20; n++ {
		src, dst := endOfPage(t, 7*n+n), endOfPage(t, (n-1)*8+8)
		transpose8(dst, 8, src, n, n)
	}
}
