//go:build !purego

package vec

import "golang.org/x/sys/cpu"

// useAVX2 selects the assembly kernels.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// The AVX2 kernels process n elements, n a multiple of 8 (Sum: 32;
// SumSqDev, DotDev: 16); the Go wrappers run the twins on the rest. out
// may be nil for dotDevAVX2 and bnDxAVX2 (no mask).

//go:noescape
func scaleShiftAVX2(dst, x *float32, n int, scale, shift float32, relu int)

//go:noescape
func addAVX2(dst, a, b *float32, n int, relu int)

//go:noescape
func maskGradAVX2(dst, dy, out *float32, n int, acc int)

//go:noescape
func sumAVX2(x *float32, n int) float32

//go:noescape
func sumSqDevAVX2(x *float32, n int, mu float32) float32

//go:noescape
func dotDevAVX2(dy, out, x *float32, n int, mu float32) (float32, float32)

//go:noescape
func bnDxAVX2(dst, dy, out, x *float32, n int, a, c, b float32, acc int)

//go:noescape
func sgdAVX2(p, grad, buf *float32, n int, lr, mu, wd float32, first, nesterov int)
