package nn

import (
	"math"

	"github.com/ccq-project/ccq/nn/gemm"
	"github.com/ccq-project/ccq/nn/internal/vec"
)

// This file holds the per-operation kernels. Each works on a contiguous range
// of samples of an NCHW batch (or on a range of channels for batch norm), so
// the executor can split a batch across goroutines. Backward kernels take an
// acc flag: false overwrites the input gradient, true adds to it (a node's
// output may feed several consumers).

// convGeom holds the geometry of a square 2-D convolution.
type convGeom struct {
	c, h, w      int // input channels, height, width
	k, s, p      int // kernel, stride, padding
	oc, oh, ow   int // output channels, height, width
	ckk, ohw, hw int // c*k*k, oh*ow, h*w
}

func newConvGeom(in Shape, out Shape, k, s, p int) convGeom {
	return convGeom{c: in.C, h: in.H, w: in.W, k: k, s: s, p: p, oc: out.C, oh: out.H, ow: out.W,
		ckk: in.C * k * k, ohw: out.H * out.W, hw: in.H * in.W}
}

// direct reports whether the convolution is a plain 1x1 product (no im2col).
func (g *convGeom) direct() bool { return g.k == 1 && g.s == 1 && g.p == 0 }

// im2col writes the ckk x ohw column matrix of one sample x (c x h x w):
// col[((ci*k+ky)*k+kx)*ohw + oy*ow+ox] = x[ci][oy*s-p+ky][ox*s-p+kx], zero
// outside the image.
func im2col(g *convGeom, x, col []float32) {
	k, s, p, ow, oh := g.k, g.s, g.p, g.ow, g.oh
	for ci := 0; ci < g.c; ci++ {
		xc := x[ci*g.hw : (ci+1)*g.hw]
		for ky := 0; ky < k; ky++ {
			for kx := 0; kx < k; kx++ {
				row := col[((ci*k+ky)*k+kx)*g.ohw:][:g.ohw]
				// Valid output columns: 0 <= ox*s - p + kx < w.
				x0, x1 := validRange(kx-p, s, g.w, ow)
				if s == 1 && ow == g.w {
					im2colSame(row, xc, g.w, oh, ky-p, kx-p, x0, x1)
					continue
				}
				y0, y1 := validRange(ky-p, s, g.h, oh)
				clear(row[:y0*ow])
				clear(row[y1*ow:])
				for oy := y0; oy < y1; oy++ {
					r := row[oy*ow : oy*ow+ow]
					for j := 0; j < x0; j++ {
						r[j] = 0
					}
					for j := x1; j < ow; j++ {
						r[j] = 0
					}
					src := xc[(oy*s-p+ky)*g.w:][:g.w]
					if s == 1 {
						// Short rows: a plain loop beats a memmove call.
						d, sr := r[x0:x1], src[x0+kx-p:]
						sr = sr[:len(d)]
						for j, v := range sr {
							d[j] = v
						}
					} else {
						for ox := x0; ox < x1; ox++ {
							r[ox] = src[ox*s+kx-p]
						}
					}
				}
			}
		}
	}
}

// im2colSame fills one im2col row for a stride-1 convolution whose output
// is as wide as its input: the valid output rows are one shifted copy of
// the image (offset dy rows, dx columns), after which the columns that
// wrapped around from neighbouring image rows, outside [x0, x1), are zeroed.
func im2colSame(row, xc []float32, w, oh, dy, dx, x0, x1 int) {
	h := len(xc) / w
	y0, y1 := validRange(dy, 1, h, oh)
	clear(row[:y0*w])
	clear(row[y1*w:])
	if y0 >= y1 {
		return
	}
	shift := dy*w + dx
	a, b := y0*w, y1*w
	a2, b2 := max(a, -shift), min(b, len(xc)-shift)
	if a2 < b2 {
		copy(row[a2:b2], xc[a2+shift:b2+shift])
	}
	if x0 == 0 && x1 == w {
		return
	}
	r := row[y0*w : y1*w]
	for base := 0; base < len(r); base += w {
		for j := base; j < base+x0; j++ {
			r[j] = 0
		}
		for j := base + x1; j < base+w; j++ {
			r[j] = 0
		}
	}
}

// col2im is the adjoint of im2col: it adds (acc) or writes the column matrix
// back into the image gradient dx (c x h x w).
func col2im(g *convGeom, col, dx []float32, acc bool) {
	if !acc {
		clear(dx[:g.c*g.hw])
	}
	k, s, p, ow, oh := g.k, g.s, g.p, g.ow, g.oh
	for ci := 0; ci < g.c; ci++ {
		xc := dx[ci*g.hw : (ci+1)*g.hw]
		for ky := 0; ky < k; ky++ {
			for kx := 0; kx < k; kx++ {
				row := col[((ci*k+ky)*k+kx)*g.ohw:][:g.ohw]
				x0, x1 := validRange(kx-p, s, g.w, ow)
				for oy := 0; oy < oh; oy++ {
					iy := oy*s - p + ky
					if iy < 0 || iy >= g.h {
						continue
					}
					r := row[oy*ow : oy*ow+ow]
					dst := xc[iy*g.w:][:g.w]
					if s == 1 {
						d := dst[x0+kx-p:][:x1-x0]
						for i, v := range r[x0:x1] {
							d[i] += v
						}
					} else {
						for ox := x0; ox < x1; ox++ {
							dst[ox*s+kx-p] += r[ox]
						}
					}
				}
			}
		}
	}
}

// validRange returns the output columns [x0, x1) with 0 <= ox*s+off < w.
func validRange(off, s, w, ow int) (int, int) {
	x0 := 0
	if off < 0 {
		x0 = (-off + s - 1) / s
	}
	x1 := ow
	if last := (w - 1 - off); last < 0 {
		x1 = 0
	} else if l := last/s + 1; l < x1 {
		x1 = l
	}
	if x1 < x0 {
		x1 = x0
	}
	return x0, x1
}

// convForward computes samples [lo, hi) of out = conv(x, w) + b, followed
// by a ReLU when relu is set. col is scratch of at least ckk*ohw values.
func convForward(g *convGeom, x, w, b, out, col []float32, lo, hi int, relu bool) {
	in, os := g.c*g.hw, g.oc*g.ohw
	for n := lo; n < hi; n++ {
		xs, ys := x[n*in:(n+1)*in], out[n*os:(n+1)*os]
		c := xs
		if !g.direct() {
			im2col(g, xs, col)
			c = col
		}
		gemm.Sgemm(false, false, g.oc, g.ohw, g.ckk, 1, w, g.ckk, c, g.ohw, 0, ys, g.ohw)
		biasReLU(ys, b, g.ohw, relu)
	}
}

// biasReLU adds bias b[o] to each row o (of length cols) of y and applies a
// ReLU when relu is set; b may be nil.
func biasReLU(y, b []float32, cols int, relu bool) {
	switch {
	case b != nil:
		for o, v := range b {
			vec.ScaleShift(y[o*cols:(o+1)*cols], y[o*cols:(o+1)*cols], 1, v, relu)
		}
	case relu:
		reluForward(y, y, 0, len(y))
	}
}

// convBackward accumulates samples [lo, hi) of the weight gradient into dw
// (overwritten when lo is the first sample this call sees and zero is set)
// and bias gradient into db, and computes dx when it is not nil.
func convBackward(g *convGeom, x, w, dout, dw, db, dx, col []float32, lo, hi int, zero, acc bool) {
	in, os := g.c*g.hw, g.oc*g.ohw
	if zero {
		clear(dw)
		clear(db)
	}
	for n := lo; n < hi; n++ {
		xs, dys := x[n*in:(n+1)*in], dout[n*os:(n+1)*os]
		c := xs
		if !g.direct() {
			im2col(g, xs, col)
			c = col
		}
		gemm.Sgemm(false, true, g.oc, g.ckk, g.ohw, 1, dys, g.ohw, c, g.ohw, 1, dw, g.ckk)
		if db != nil {
			for o := 0; o < g.oc; o++ {
				db[o] += sum32(dys[o*g.ohw : (o+1)*g.ohw])
			}
		}
		if dx == nil {
			continue
		}
		dxs := dx[n*in : (n+1)*in]
		if g.direct() {
			beta := float32(0)
			if acc {
				beta = 1
			}
			gemm.Sgemm(true, false, g.ckk, g.ohw, g.oc, 1, w, g.ckk, dys, g.ohw, beta, dxs, g.ohw)
			continue
		}
		gemm.Sgemm(true, false, g.ckk, g.ohw, g.oc, 1, w, g.ckk, dys, g.ohw, 0, col, g.ohw)
		col2im(g, col, dxs, acc)
	}
}

// transposedGeom returns the geometry of the convolution that computes a
// stride-1 convolution's input gradient from its output gradient: kernel
// flipped and transposed (see flipWeights), padding k-1-p. ok is false when
// that does not apply (stride > 1, or padding >= kernel).
//
// It is also false when the transposed im2col would be more than twice the
// size of the forward one (a convolution with little padding, as LeNet-5's
// conv2: the transposed one pads by k-1 and its columns are mostly zeros);
// col2im is cheaper there.
func (g *convGeom) transposedGeom() (convGeom, bool) {
	if g.s != 1 || g.p > g.k-1 {
		return convGeom{}, false
	}
	gt := newConvGeom(Shape{g.oc, g.oh, g.ow}, Shape{g.c, g.h, g.w}, g.k, 1, g.k-1-g.p)
	if gt.ckk*gt.ohw > 2*g.ckk*g.ohw {
		return convGeom{}, false
	}
	return gt, true
}

// flipWeights writes wt[c][o][ky][kx] = w[o][c][k-1-ky][k-1-kx]: the
// weights of the transposed convolution.
func flipWeights(g *convGeom, w, wt []float32) {
	kk := g.k * g.k
	for o := 0; o < g.oc; o++ {
		for c := 0; c < g.c; c++ {
			src := w[(o*g.c+c)*kk:][:kk]
			dst := wt[(c*g.oc+o)*kk:][:kk]
			for i := range dst {
				dst[i] = src[kk-1-i]
			}
		}
	}
}

// convBackwardData computes samples [lo, hi) of a stride-1 convolution's
// input gradient as the convolution of dout (geometry gt, from
// transposedGeom) with the flipped weights wt: one im2col and one matrix
// product with a short dimension of only the input channels, instead of a
// product with a short inner dimension followed by col2im.
//
// When dwt is not nil it also accumulates the weight gradient from the same
// im2col of dout, in the transposed layout dwt[c][(o*k+k-1-ky)*k+k-1-kx] =
// dW[o][c][ky][kx] (see unflipGrad), from the layer input x; db, when not
// nil, accumulates the bias gradient. zero clears dwt and db first.
func convBackwardData(gt *convGeom, wt, x, dout, dx, dwt, db, col []float32, lo, hi int, zero, acc bool) {
	in, os := gt.c*gt.hw, gt.oc*gt.ohw
	beta := float32(0)
	if acc {
		beta = 1
	}
	if zero {
		clear(dwt)
		clear(db)
	}
	for n := lo; n < hi; n++ {
		dys := dout[n*in : (n+1)*in]
		im2col(gt, dys, col)
		gemm.Sgemm(false, false, gt.oc, gt.ohw, gt.ckk, 1, wt, gt.ckk, col, gt.ohw, beta, dx[n*os:(n+1)*os], gt.ohw)
		if dwt != nil {
			gemm.Sgemm(false, true, gt.oc, gt.ckk, gt.ohw, 1, x[n*os:(n+1)*os], gt.ohw, col, gt.ohw, 1, dwt, gt.ckk)
		}
		if db != nil {
			for o := range db {
				db[o] += sum32(dys[o*gt.hw : (o+1)*gt.hw])
			}
		}
	}
}

// unflipIndex maps an index of dW[o][c][ky][kx] (geometry g of the forward
// convolution) to its position in the transposed accumulator of
// convBackwardData.
func unflipIndex(g *convGeom, e int) int {
	kk := g.k * g.k
	o, rest := e/(g.c*kk), e%(g.c*kk)
	c, r := rest/kk, rest%kk
	return c*g.oc*kk + o*kk + kk - 1 - r
}

// linearForward computes rows [lo, hi) of out = x w^T + b (x: rows x in,
// w: out x in), followed by a ReLU when relu is set.
func linearForward(x, w, b, out []float32, in, nout, lo, hi int, relu bool) {
	if hi <= lo {
		return
	}
	gemm.Sgemm(false, true, hi-lo, nout, in, 1, x[lo*in:hi*in], in, w, in, 0, out[lo*nout:hi*nout], nout)
	for r := lo; r < hi; r++ {
		row := out[r*nout : (r+1)*nout]
		if b != nil {
			addVec(row, b)
		}
		if relu {
			reluForward(row, row, 0, nout)
		}
	}
}

// linearBackwardW writes the weight gradient dw = dout^T x and bias
// gradient db over rows [lo, hi) (the share of one goroutine; the shares
// are summed afterwards).
func linearBackwardW(x, dout, dw, db []float32, in, nout, lo, hi int) {
	if hi <= lo {
		clear(dw)
		clear(db)
		return
	}
	gemm.Sgemm(true, false, nout, in, hi-lo, 1, dout[lo*nout:hi*nout], nout, x[lo*in:hi*in], in, 0, dw, in)
	if db != nil {
		clear(db)
		for r := lo; r < hi; r++ {
			addVec(db, dout[r*nout:(r+1)*nout])
		}
	}
}

// linearBackwardX computes rows [lo, hi) of dx = dout w.
func linearBackwardX(w, dout, dx []float32, in, nout, lo, hi int, acc bool) {
	if hi <= lo {
		return
	}
	beta := float32(0)
	if acc {
		beta = 1
	}
	gemm.Sgemm(false, false, hi-lo, in, nout, 1, dout[lo*nout:hi*nout], nout, w, in, beta, dx[lo*in:hi*in], in)
}

// bnTrainForward normalises channels [c0, c1) of x (n x c x hw) with batch
// statistics, writes out (through a ReLU when relu is set), saves mean and
// 1/std in mean and invstd, and updates the running statistics with
// momentum. Sums run in float32 within a plane and float64 across planes.
func bnTrainForward(x, gamma, beta, out, mean, invstd, runMean, runVar []float32, n, c, hw, c0, c1 int, eps, momentum float64, relu bool) {
	m := float64(n * hw)
	for ch := c0; ch < c1; ch++ {
		var s float64
		for i := 0; i < n; i++ {
			s += float64(sum32(x[(i*c+ch)*hw:][:hw]))
		}
		mu := s / m
		var v float64
		for i := 0; i < n; i++ {
			v += float64(vec.SumSqDev(x[(i*c+ch)*hw:][:hw], float32(mu)))
		}
		v /= m
		is := 1 / math.Sqrt(v+eps)
		mean[ch], invstd[ch] = float32(mu), float32(is)
		scale := float32(is) * gamma[ch]
		shift := beta[ch] - float32(mu)*scale
		for i := 0; i < n; i++ {
			off := (i*c + ch) * hw
			if relu {
				scaleShiftReLU(out[off:off+hw], x[off:off+hw], scale, shift)
			} else {
				scaleShift(out[off:off+hw], x[off:off+hw], scale, shift)
			}
		}
		unbiased := v
		if m > 1 {
			unbiased = v * m / (m - 1)
		}
		runMean[ch] = float32((1-momentum)*float64(runMean[ch]) + momentum*mu)
		runVar[ch] = float32((1-momentum)*float64(runVar[ch]) + momentum*unbiased)
	}
}

// bnEvalForward applies the running statistics to samples [lo, hi), with a
// ReLU when relu is set.
func bnEvalForward(x, gamma, beta, out, runMean, runVar []float32, c, hw, lo, hi int, eps float64, relu bool) {
	for ch := 0; ch < c; ch++ {
		is := 1 / math.Sqrt(float64(runVar[ch])+eps)
		scale := float32(is) * gamma[ch]
		shift := beta[ch] - runMean[ch]*scale
		for i := lo; i < hi; i++ {
			off := (i*c + ch) * hw
			if relu {
				scaleShiftReLU(out[off:off+hw], x[off:off+hw], scale, shift)
			} else {
				scaleShift(out[off:off+hw], x[off:off+hw], scale, shift)
			}
		}
	}
}

// bnBackward computes, for channels [c0, c1), dgamma, dbeta and dx from the
// saved batch statistics (training-mode batch norm). When mask is not nil
// the output gradient first goes through a ReLU whose output is mask
// (dout is used where mask > 0).
func bnBackward(x, gamma, mean, invstd, dout, mask, dgamma, dbeta, dx []float32, n, c, hw, c0, c1 int, acc bool) {
	m := float64(n * hw)
	for ch := c0; ch < c1; ch++ {
		mu, is := mean[ch], float64(invstd[ch])
		var sdy, sdyx float64
		for i := 0; i < n; i++ {
			off := (i*c + ch) * hw
			var ms []float32
			if mask != nil {
				ms = mask[off : off+hw]
			}
			a, b := vec.DotDev(dout[off:off+hw], ms, x[off:off+hw], mu)
			sdy += float64(a)
			sdyx += float64(b)
		}
		dg := sdyx * is
		dgamma[ch], dbeta[ch] = float32(dg), float32(sdy)
		if dx == nil {
			continue
		}
		// dx = gamma*is/m * (m*dy - sum(dy) - xhat*sum(dy*xhat))
		//    = k*dy + cc*x + b
		k := float64(gamma[ch]) * is
		a := float32(k)
		b := float32(-k * (sdy/m - float64(mu)*dg*is/m))
		cc := float32(-k * dg * is / m)
		for i := 0; i < n; i++ {
			off := (i*c + ch) * hw
			xs, ds, dxs := x[off:off+hw], dout[off:off+hw], dx[off:off+hw]
			var ms []float32
			if mask != nil {
				ms = mask[off : off+hw]
			}
			vec.BNDx(dxs, ds, ms, xs, a, cc, b, acc)
		}
	}
}

// reluForward writes max(x, 0) for elements [lo, hi).
func reluForward(x, out []float32, lo, hi int) {
	vec.ScaleShift(out[lo:hi], x[lo:hi], 1, 0, true)
}

// reluBackward passes dout where the ReLU output is positive, for elements
// [lo, hi) (dx may be dout: in place).
func reluBackward(out, dout, dx []float32, lo, hi int, acc bool) {
	vec.MaskGrad(dx[lo:hi], dout[lo:hi], out[lo:hi], acc)
}

// maxPoolForward computes samples [lo, hi) of a max pool; when idx is not
// nil it records, per output, the offset of the maximum inside its input
// sample (the first one on ties, as PyTorch).
func maxPoolForward(in, out Shape, k, s int, x, y []float32, idx []int32, lo, hi int) {
	is, os := in.Size(), out.Size()
	if k == 2 && s == 2 {
		maxPool2(in, out, x, y, idx, lo, hi)
		return
	}
	for n := lo; n < hi; n++ {
		xs, ys := x[n*is:(n+1)*is], y[n*os:(n+1)*os]
		for c := 0; c < out.C; c++ {
			for oy := 0; oy < out.H; oy++ {
				for ox := 0; ox < out.W; ox++ {
					best := int32((c*in.H+oy*s)*in.W + ox*s)
					bv := float32(math.Inf(-1))
					for ky := 0; ky < k; ky++ {
						row := (c*in.H+oy*s+ky)*in.W + ox*s
						for kx := 0; kx < k; kx++ {
							// As PyTorch: NaN wins, the first maximum wins ties.
							if v := xs[row+kx]; v > bv || v != v {
								bv, best = v, int32(row+kx)
							}
						}
					}
					o := (c*out.H+oy)*out.W + ox
					ys[o] = bv
					if idx != nil {
						idx[n*os+o] = best
					}
				}
			}
		}
	}
}

// maxPool2 is maxPoolForward for 2x2 windows with stride 2.
func maxPool2(in, out Shape, x, y []float32, idx []int32, lo, hi int) {
	is, os := in.Size(), out.Size()
	for n := lo; n < hi; n++ {
		xs, ys := x[n*is:(n+1)*is], y[n*os:(n+1)*os]
		for c := 0; c < out.C; c++ {
			for oy := 0; oy < out.H; oy++ {
				r0 := (c*in.H + 2*oy) * in.W
				top, bot := xs[r0:r0+in.W], xs[r0+in.W:r0+2*in.W]
				o := (c*out.H + oy) * out.W
				yr := ys[o : o+out.W]
				if idx == nil {
					for ox := range yr {
						a, b := max32(top[2*ox], top[2*ox+1]), max32(bot[2*ox], bot[2*ox+1])
						yr[ox] = max32(a, b)
					}
					continue
				}
				ir := idx[n*os+o : n*os+o+out.W]
				for ox := range yr {
					// As PyTorch: the first maximum in window order wins, a NaN always does.
					i := int32(r0 + 2*ox)
					bv := top[2*ox]
					if v := top[2*ox+1]; v > bv || v != v {
						bv, i = v, int32(r0+2*ox+1)
					}
					if v := bot[2*ox]; v > bv || v != v {
						bv, i = v, int32(r0+in.W+2*ox)
					}
					if v := bot[2*ox+1]; v > bv || v != v {
						bv, i = v, int32(r0+in.W+2*ox+1)
					}
					yr[ox], ir[ox] = bv, i
				}
			}
		}
	}
}

// max32 returns the larger of a and b, NaN if either is NaN.
func max32(a, b float32) float32 {
	if b > a || b != b {
		return b
	}
	return a
}

// maxPoolBackward routes each output gradient to its recorded maximum.
func maxPoolBackward(in, out Shape, idx []int32, dout, dx []float32, lo, hi int, acc bool) {
	is, os := in.Size(), out.Size()
	for n := lo; n < hi; n++ {
		dxs := dx[n*is : (n+1)*is]
		if !acc {
			clear(dxs)
		}
		for o, d := range dout[n*os : (n+1)*os] {
			dxs[idx[n*os+o]] += d
		}
	}
}

// avgPoolForward averages each channel of samples [lo, hi).
func avgPoolForward(in Shape, x, y []float32, lo, hi int) {
	hw := in.H * in.W
	inv := 1 / float64(hw)
	for n := lo; n < hi; n++ {
		for c := 0; c < in.C; c++ {
			off := (n*in.C + c) * hw
			y[n*in.C+c] = float32(sum64(x[off:off+hw]) * inv)
		}
	}
}

// avgPoolBackward spreads each channel's gradient evenly over its pixels.
func avgPoolBackward(in Shape, dout, dx []float32, lo, hi int, acc bool) {
	hw := in.H * in.W
	inv := 1 / float32(hw)
	for n := lo; n < hi; n++ {
		for c := 0; c < in.C; c++ {
			d := dout[n*in.C+c] * inv
			dxs := dx[(n*in.C+c)*hw:][:hw]
			if acc {
				addScalar(dxs, d)
			} else {
				for i := range dxs {
					dxs[i] = d
				}
			}
		}
	}
}

// padForward zero-pads the borders of samples [lo, hi) by p pixels.
func padForward(in Shape, p int, x, y []float32, lo, hi int) {
	ow := in.W + 2*p
	oh := in.H + 2*p
	for n := lo; n < hi; n++ {
		for c := 0; c < in.C; c++ {
			src := x[(n*in.C+c)*in.H*in.W:][:in.H*in.W]
			dst := y[(n*in.C+c)*oh*ow:][:oh*ow]
			clear(dst[:p*ow])
			clear(dst[(p+in.H)*ow:])
			for r := 0; r < in.H; r++ {
				d := dst[(p+r)*ow:][:ow]
				clear(d[:p])
				copy(d[p:], src[r*in.W:(r+1)*in.W])
				clear(d[p+in.W:])
			}
		}
	}
}

// padBackward extracts the centre of the output gradient.
func padBackward(in Shape, p int, dout, dx []float32, lo, hi int, acc bool) {
	ow := in.W + 2*p
	oh := in.H + 2*p
	for n := lo; n < hi; n++ {
		for c := 0; c < in.C; c++ {
			d := dx[(n*in.C+c)*in.H*in.W:][:in.H*in.W]
			src := dout[(n*in.C+c)*oh*ow:][:oh*ow]
			for r := 0; r < in.H; r++ {
				s := src[(p+r)*ow+p:][:in.W]
				dr := d[r*in.W : (r+1)*in.W]
				if acc {
					addVec(dr, s)
				} else {
					copy(dr, s)
				}
			}
		}
	}
}

// shortcutAForward subsamples by stride s and zero-pads pc channels on each
// side, for samples [lo, hi).
func shortcutAForward(in, out Shape, s, pc int, x, y []float32, lo, hi int) {
	is, os := in.Size(), out.Size()
	for n := lo; n < hi; n++ {
		ys := y[n*os : (n+1)*os]
		ohw := out.H * out.W
		clear(ys[:pc*ohw])
		clear(ys[(pc+in.C)*ohw:])
		for c := 0; c < in.C; c++ {
			src := x[n*is+c*in.H*in.W:][:in.H*in.W]
			dst := ys[(pc+c)*ohw:][:ohw]
			for oy := 0; oy < out.H; oy++ {
				r := src[oy*s*in.W:]
				d := dst[oy*out.W : (oy+1)*out.W]
				for ox := range d {
					d[ox] = r[ox*s]
				}
			}
		}
	}
}

// shortcutABackward is the adjoint of shortcutAForward.
func shortcutABackward(in, out Shape, s, pc int, dout, dx []float32, lo, hi int, acc bool) {
	is, os := in.Size(), out.Size()
	ohw := out.H * out.W
	for n := lo; n < hi; n++ {
		dxs := dx[n*is : (n+1)*is]
		if !acc {
			clear(dxs)
		}
		for c := 0; c < in.C; c++ {
			src := dout[n*os+(pc+c)*ohw:][:ohw]
			dst := dxs[c*in.H*in.W:][:in.H*in.W]
			for oy := 0; oy < out.H; oy++ {
				r := dst[oy*s*in.W:]
				sr := src[oy*out.W : (oy+1)*out.W]
				for ox, v := range sr {
					r[ox*s] += v
				}
			}
		}
	}
}

// addForward writes a+b (through a ReLU when relu is set) for elements
// [lo, hi).
func addForward(a, b, y []float32, lo, hi int, relu bool) {
	vec.Add(y[lo:hi], a[lo:hi], b[lo:hi], relu)
}

// passGrad writes or adds dout into dx for elements [lo, hi).
func passGrad(dout, dx []float32, lo, hi int, acc bool) {
	if acc {
		addVec(dx[lo:hi], dout[lo:hi])
	} else {
		copy(dx[lo:hi], dout[lo:hi])
	}
}

func addScalar(x []float32, v float32) {
	for i := range x {
		x[i] += v
	}
}

func addVec(dst, src []float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] += v
	}
}

// scaleShiftReLU writes max(x*scale + shift, 0).
func scaleShiftReLU(dst, x []float32, scale, shift float32) {
	vec.ScaleShift(dst, x[:len(dst)], scale, shift, true)
}

func scaleShift(dst, x []float32, scale, shift float32) {
	vec.ScaleShift(dst, x[:len(dst)], scale, shift, false)
}

func sum32(x []float32) float32 { return vec.Sum(x) }

func sum64(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	return s
}
