//go:build !purego

package gemm

import "golang.org/x/sys/cpu"

//go:generate go run ./internal/asmgen -asm kernels_amd64.s -go kernels_amd64.go

// asmFunc is the signature of the generated assembly micro-kernels.
type asmFunc func(kc int, a, b, c *float32, ldb, ldc int, alpha, beta float32, mr, nr int)

// asmKernel adapts an assembly micro-kernel with an MR x NR tile to
// microFunc. The index expressions check that the panels and the C tile are
// in bounds before the assembly runs.
func asmKernel(f asmFunc, MR, NR int, maskedB bool) microFunc {
	bcols := NR
	return func(kc int, a, b []float32, c []float32, ldb, ldc int, alpha, beta float32, mr, nr int) {
		_ = a[kc*MR-1]
		if maskedB {
			_ = b[(kc-1)*ldb+nr-1]
		} else {
			_ = b[(kc-1)*ldb+bcols-1]
		}
		_ = c[(mr-1)*ldc+nr-1]
		f(kc, &a[0], &b[0], &c[0], ldb, ldc, alpha, beta, mr, nr)
	}
}

// asmRowsFunc is the signature of the generated assembly micro-kernels that
// take B by row offsets.
type asmRowsFunc func(kc int, a, b, c *float32, off *int, ldc int, alpha, beta float32, mr, nr int)

// asmRowsKernel adapts such a kernel with MR rows to rowsFunc. The index
// expressions check the A panel, the offsets and the C tile; the caller
// (MulRows) has checked that every row of B lies inside b.
func asmRowsKernel(f asmRowsFunc, MR int) rowsFunc {
	return func(kc int, a, b []float32, off []int, c []float32, ldc int, alpha, beta float32, mr, nr int) {
		_ = a[kc*MR-1]
		_ = off[kc-1]
		_ = c[(mr-1)*ldc+nr-1]
		f(kc, &a[0], &b[0], &c[0], &off[0], ldc, alpha, beta, mr, nr)
	}
}

// The assembly kernels with the cache blocking they are used with. All of
// them use kc = 384: k blocks, hence results, are the same whichever kernel
// pickKernel chooses, on AVX2 and AVX-512 machines alike.
var (
	avx512Kernels = []kernel{
		{name: "avx512_8x32", mr: 8, nr: 32, kc: 384, mc: 192, nc: 3072, fn: asmKernel(avx512_8x32, 8, 32, true), maskedB: true,
			rows: asmRowsKernel(avx512_8x32r, 8)},
		{name: "avx512_8x48", mr: 8, nr: 48, kc: 384, mc: 192, nc: 3072, fn: asmKernel(avx512_8x48, 8, 48, true), maskedB: true},
		{name: "avx512_6x64", mr: 6, nr: 64, kc: 384, mc: 192, nc: 3072, fn: asmKernel(avx512_6x64, 6, 64, true), maskedB: true},
		{name: "avx512_16x16b", mr: 16, nr: 16, kc: 384, mc: 192, nc: 3072, fn: asmKernel(avx512_16x16b, 16, 16, true), maskedB: true},
	}
	avx2Kernels = []kernel{
		{name: "avx2_6x16", mr: 6, nr: 16, kc: 384, mc: 144, nc: 3072, fn: asmKernel(avx2_6x16, 6, 16, false)},
		{name: "avx2_4x24", mr: 4, nr: 24, kc: 384, mc: 144, nc: 3072, fn: asmKernel(avx2_4x24, 4, 24, false)},
	}
)

var (
	hasAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasBMI2
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
)

// candidates are the micro-kernels pickKernel chooses from on this CPU, with
// their speed relative to the best on large products, as measured on AMD
// Zen 5 (EPYC 9xx5): 8x48 is a little slower than 8x32 in general but
// faster when it reads B in place with a row stride that is a multiple of
// 4 KiB (see aliasedB).
var candidates = func() []candidate {
	switch {
	case hasAVX512:
		return []candidate{
			{kr: &avx512Kernels[0], speed: 1, aliasedSpeed: 0.85},
			{kr: &avx512Kernels[1], speed: 0.97, aliasedSpeed: 0.97},
			{kr: &avx512Kernels[2], speed: 0.93, aliasedSpeed: 0.93},
			{kr: &avx512Kernels[3], speed: 0.85, aliasedSpeed: 0.85},
		}
	case hasAVX2:
		return []candidate{
			{kr: &avx2Kernels[0], speed: 1, aliasedSpeed: 1},
			{kr: &avx2Kernels[1], speed: 1, aliasedSpeed: 1},
		}
	}
	return []candidate{{kr: &goKernel, speed: 1, aliasedSpeed: 1}}
}()

// kernels lists the micro-kernels this build can run on this CPU.
func kernels() []*kernel {
	out := []*kernel{&goKernel}
	if hasAVX2 {
		for i := range avx2Kernels {
			out = append(out, &avx2Kernels[i])
		}
	}
	if hasAVX512 {
		for i := range avx512Kernels {
			out = append(out, &avx512Kernels[i])
		}
	}
	return out
}
