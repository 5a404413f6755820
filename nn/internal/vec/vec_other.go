//go:build purego || !amd64

package vec

// useAVX2 is false: only the pure-Go twins exist in this build.
const useAVX2 = false

func scaleShiftAVX2(dst, x *float32, n int, scale, shift float32, relu int) { panic("vec: no AVX2") }
func addAVX2(dst, a, b *float32, n int, relu int)                           { panic("vec: no AVX2") }
func maskGradAVX2(dst, dy, out *float32, n int, acc int)                    { panic("vec: no AVX2") }
func sumAVX2(x *float32, n int) float32                                     { panic("vec: no AVX2") }
func sumSqDevAVX2(x *float32, n int, mu float32) float32                    { panic("vec: no AVX2") }
func dotDevAVX2(dy, out, x *float32, n int, mu float32) (float32, float32)  { panic("vec: no AVX2") }
func bnDxAVX2(dst, dy, out, x *float32, n int, a, c, b float32, acc int)    { panic("vec: no AVX2") }

func sgdAVX2(p, grad, buf *float32, n int, lr, mu, wd float32, first, nesterov int) {
	panic("vec: no AVX2")
}
