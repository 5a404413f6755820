package kernels

// Element-wise kernels of the forward engine. Each has a pure-Go twin
// (below) that defines its result exactly; on amd64 with AVX2 (and without
// the purego build tag) an assembly version processes the multiple-of-8
// prefix and the twin the rest. Both round identically (multiply, then
// add; no fused multiply-add), so results do not depend on the path.

import "fmt"

// reluGo is the twin of reluAVX2: dst[i] = src[i] if src[i] > 0, else 0
// (NaN gives 0).
func reluGo(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		if v > 0 {
			dst[i] = v
		} else {
			dst[i] = 0
		}
	}
}

// maxGo is the twin of maxAVX2: dst[i] = src[i] if src[i] > dst[i], else
// dst[i].
func maxGo(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		if v > dst[i] {
			dst[i] = v
		}
	}
}

// postGo is the twin of postAVX2: dst[i] = float32(src[i]*m) + b.
func postGo(dst, src []float32, m, b float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = Post(v, m, b)
	}
}

// postReluGo is the twin of postReluAVX2: postGo followed by reluGo.
func postReluGo(dst, src []float32, m, b float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		r := Post(v, m, b)
		if r > 0 {
			dst[i] = r
		} else {
			dst[i] = 0
		}
	}
}

// quantGo is the twin of quantAVX2: x = src[i]*inv, clamped to [lo, hi]
// (x if x > lo else lo, then t if t < hi else hi: NaN gives lo), rounded
// to the nearest integer, halves to even.
func quantGo(dst, src []float32, inv, lo, hi float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		x := v * inv
		t := lo
		if x > lo {
			t = x
		}
		if !(t < hi) {
			t = hi
		}
		dst[i] = RoundEven(t)
	}
}

// Relu writes max(src, 0) to dst (len(dst) >= len(src)).
func Relu(dst, src []float32) {
	k := 0
	if useAsm && len(src) >= 8 {
		k = len(src) &^ 7
		reluAsm(dst[:k], src[:k])
	}
	reluGo(dst[k:], src[k:])
}

// Vmax sets dst to the element-wise maximum of dst and src.
func Vmax(dst, src []float32) {
	k := 0
	if useAsm && len(src) >= 8 {
		k = len(src) &^ 7
		maxAsm(dst[:k], src[:k])
	}
	maxGo(dst[k:], src[k:])
}

// PostVec writes src*m + b to dst, followed by a ReLU when withRelu.
func PostVec(dst, src []float32, m, b float32, withRelu bool) {
	k := 0
	if useAsm && len(src) >= 8 {
		k = len(src) &^ 7
		postAsm(dst[:k], src[:k], m, b, withRelu)
	}
	if withRelu {
		postReluGo(dst[k:], src[k:], m, b)
	} else {
		postGo(dst[k:], src[k:], m, b)
	}
}

// QuantVec writes the activation levels of src to dst (see quantGo).
func QuantVec(dst, src []float32, inv, lo, hi float32) {
	k := 0
	if useAsm && len(src) >= 8 {
		k = len(src) &^ 7
		quantAsm(dst[:k], src[:k], inv, lo, hi)
	}
	quantGo(dst[k:], src[k:], inv, lo, hi)
}

// axpyGo is the twin of axpyAVX2: y[i] += float32(a*x[i]) (multiply, then
// add: no fused multiply-add).
func axpyGo(a float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += float32(a * v)
	}
}

// Axpy computes y += a*x (len(y) >= len(x)).
func Axpy(a float32, x, y []float32) {
	k := 0
	if useAsm && len(x) >= 8 {
		k = len(x) &^ 7
		axpyAsm(a, x[:k], y[:k])
	}
	axpyGo(a, x[k:], y[k:])
}

// addGo is the twin of addAVX2: dst[i] = a[i] + b[i].
func addGo(dst, a, b []float32) {
	dst = dst[:len(a)]
	b = b[:len(a)]
	for i := range a {
		dst[i] = a[i] + b[i]
	}
}

// addReluGo is the twin of addReluAVX2: addGo followed by reluGo.
func addReluGo(dst, a, b []float32) {
	dst = dst[:len(a)]
	b = b[:len(a)]
	for i := range a {
		if v := a[i] + b[i]; v > 0 {
			dst[i] = v
		} else {
			dst[i] = 0
		}
	}
}

// AddVec writes a + b to dst, followed by a ReLU when withRelu.
func AddVec(dst, a, b []float32, withRelu bool) {
	k := 0
	if useAsm && len(a) >= 8 {
		k = len(a) &^ 7
		addAsm(dst[:k], a[:k], b[:k], withRelu)
	}
	if withRelu {
		addReluGo(dst[k:], a[k:], b[k:])
	} else {
		addGo(dst[k:], a[k:], b[k:])
	}
}

// max4Go is the twin of max4AVX2: dst[i] = max(max(a[i], b[i]), max(c[i],
// d[i])), each max returning its first operand when it is greater and its
// second otherwise.
func max4Go(dst, a, b, c, d []float32) {
	dst = dst[:len(a)]
	b, c, d = b[:len(a)], c[:len(a)], d[:len(a)]
	for i := range a {
		x, y := b[i], d[i]
		if a[i] > x {
			x = a[i]
		}
		if c[i] > y {
			y = c[i]
		}
		if x > y {
			dst[i] = x
		} else {
			dst[i] = y
		}
	}
}

// Max4 writes the element-wise maximum of four vectors (a 2x2 pooling
// window) to dst.
func Max4(dst, a, b, c, d []float32) {
	k := 0
	if useAsm && len(a) >= 8 {
		k = len(a) &^ 7
		max4Asm(dst[:k], a[:k], b[:k], c[:k], d[:k])
	}
	max4Go(dst[k:], a[k:], b[k:], c[k:], d[k:])
}

// SumRows sets dst[b] = src[b] + src[n+b] + ... + src[(rows-1)*n+b] for b <
// n = len(dst), adding the rows in order (so every element is the same
// float32 sum as a sequential loop's); rows must be at least 1 and src at
// least rows*n long.
func SumRows(dst, src []float32, rows int) {
	n := len(dst)
	if rows < 1 || len(src) < rows*n {
		panic(fmt.Sprintf("kernels: SumRows of %d rows of %d from %d values", rows, n, len(src)))
	}
	k := 0
	if useAsm && n >= 8 {
		k = n &^ 7
		sumRowsAsm(dst[:k], src, n, rows)
	}
	if k < n {
		sumRowsGo(dst[k:], src[k:], n, rows)
	}
}

// sumRowsGo is SumRows's twin for the columns of dst (row stride ld in src).
func sumRowsGo(dst, src []float32, ld, rows int) {
	for b := range dst {
		s := src[b]
		for p := 1; p < rows; p++ {
			s += src[p*ld+b]
		}
		dst[b] = s
	}
}
