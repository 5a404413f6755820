// Package vec holds the element-wise float32 kernels of nn's executor
// (scale and shift, ReLU and its gradient mask, residual add, and the batch
// normalisation sums), each with an AVX2 version in assembly and a pure-Go
// twin. The twin runs with the build tag purego, on other architectures and
// on CPUs without AVX2 and FMA. Element-wise kernels give bit-identical
// results in both versions; the sums use eight-lane partial sums in
// assembly and so differ from the twins by rounding only (for a given
// build and CPU they are deterministic).
//
// All slices of one call must have the same length; the functions panic
// otherwise (a programming error). ReLU is max(x, 0) as the x86 MAXPS
// instruction computes it with x second: a NaN passes through and -0 stays
// -0.
package vec

import "fmt"

func check(name string, n int, lens ...int) {
	for _, l := range lens {
		if l != n {
			panic(fmt.Sprintf("vec: %s with slices of lengths %d and %d", name, n, l))
		}
	}
}

// ScaleShift writes dst[i] = x[i]*scale + shift (product rounded, then
// sum), then ReLU when relu.
// dst and x may be the same slice.
func ScaleShift(dst, x []float32, scale, shift float32, relu bool) {
	check("ScaleShift", len(dst), len(x))
	k := 0
	if useAVX2 && len(dst) >= 8 {
		k = len(dst) &^ 7
		scaleShiftAVX2(&dst[0], &x[0], k, scale, shift, b2i(relu))
	}
	scaleShiftGo(dst[k:], x[k:], scale, shift, relu)
}

// Add writes dst[i] = a[i] + b[i], then ReLU when relu.
func Add(dst, a, b []float32, relu bool) {
	check("Add", len(dst), len(a), len(b))
	k := 0
	if useAVX2 && len(dst) >= 8 {
		k = len(dst) &^ 7
		addAVX2(&dst[0], &a[0], &b[0], k, b2i(relu))
	}
	addGo(dst[k:], a[k:], b[k:], relu)
}

// MaskGrad writes dst[i] = dy[i] where out[i] > 0 and 0 elsewhere (the
// gradient through a ReLU whose output is out); with acc it adds that to
// dst instead. dst and dy may be the same slice.
func MaskGrad(dst, dy, out []float32, acc bool) {
	check("MaskGrad", len(dst), len(dy), len(out))
	k := 0
	if useAVX2 && len(dst) >= 8 {
		k = len(dst) &^ 7
		maskGradAVX2(&dst[0], &dy[0], &out[0], k, b2i(acc))
	}
	maskGradGo(dst[k:], dy[k:], out[k:], acc)
}

// Sum returns the sum of x.
func Sum(x []float32) float32 {
	var s float32
	k := 0
	if useAVX2 && len(x) >= 32 {
		k = len(x) &^ 31
		s = sumAVX2(&x[0], k)
	}
	return s + sumGo(x[k:])
}

// SumSqDev returns the sum of (x[i] - mu)^2.
func SumSqDev(x []float32, mu float32) float32 {
	var s float32
	k := 0
	if useAVX2 && len(x) >= 16 {
		k = len(x) &^ 15
		s = sumSqDevAVX2(&x[0], k, mu)
	}
	return s + sumSqDevGo(x[k:], mu)
}

// DotDev returns the sums of d[i] and of d[i]*(x[i] - mu), where d[i] is
// dy[i], or, when out is not nil, dy[i] where out[i] > 0 and 0 elsewhere.
func DotDev(dy, out, x []float32, mu float32) (float32, float32) {
	check("DotDev", len(dy), len(x))
	if out != nil {
		check("DotDev", len(dy), len(out))
	}
	var s, t float32
	k := 0
	if useAVX2 && len(dy) >= 16 {
		k = len(dy) &^ 15
		var o *float32
		if out != nil {
			o = &out[0]
		}
		s, t = dotDevAVX2(&dy[0], o, &x[0], k, mu)
	}
	var ok []float32
	if out != nil {
		ok = out[k:]
	}
	s2, t2 := dotDevGo(dy[k:], ok, x[k:], mu)
	return s + s2, t + t2
}

// BNDx writes dst[i] = (a*d[i] + c*x[i]) + b (each product rounded), with d
// as in DotDev; with acc it adds that to dst instead (dst[i] + value).
func BNDx(dst, dy, out, x []float32, a, c, b float32, acc bool) {
	check("BNDx", len(dst), len(dy), len(x))
	if out != nil {
		check("BNDx", len(dst), len(out))
	}
	k := 0
	if useAVX2 && len(dst) >= 8 {
		k = len(dst) &^ 7
		var o *float32
		if out != nil {
			o = &out[0]
		}
		bnDxAVX2(&dst[0], &dy[0], o, &x[0], k, a, c, b, b2i(acc))
	}
	var ok []float32
	if out != nil {
		ok = out[k:]
	}
	bnDxGo(dst[k:], dy[k:], ok, x[k:], a, c, b, acc)
}

// SGD applies one SGD step with momentum to parameters p with gradients g
// and momentum buffer buf, as torch.optim.SGD (no dampening):
//
//	d = g + wd*p
//	buf = d                (first step, or momentum 0)
//	buf = mu*buf + d       (otherwise)
//	d = d + mu*buf         (Nesterov)  or  d = buf
//	p = p - lr*d
//
// every product and sum rounded to float32 in that order. g is not
// modified.
func SGD(p, g, buf []float32, lr, mu, wd float32, first, nesterov bool) {
	check("SGD", len(p), len(g), len(buf))
	k := 0
	if useAVX2 && len(p) >= 8 {
		k = len(p) &^ 7
		sgdAVX2(&p[0], &g[0], &buf[0], k, lr, mu, wd, b2i(first || mu == 0), b2i(nesterov))
	}
	sgdGo(p[k:], g[k:], buf[k:], lr, mu, wd, first || mu == 0, nesterov)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
