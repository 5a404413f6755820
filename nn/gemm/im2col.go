package gemm

import "fmt"

// ConvOutSize returns the output size of a convolution (or pooling) along
// one spatial axis: (size + 2*pad - kernel)/stride + 1, as in PyTorch with
// dilation 1. It is 0 or less when the kernel does not fit.
func ConvOutSize(size, kernel, stride, pad int) int {
	return (size+2*pad-kernel)/stride + 1
}

// Im2col unfolds one image for a convolution with a square kernel, as
// PyTorch's unfold / Caffe's im2col (dilation 1).
//
// src is the image in CHW order: element (ch, y, x) at src[(ch*h + y)*w + x],
// len(src) >= c*h*w. dst receives the matrix of c*kernel*kernel rows and
// outH*outW columns, row-major, where outH = ConvOutSize(h, kernel, stride,
// pad) and outW likewise from w; len(dst) >= c*kernel*kernel*outH*outW. Row
// r = (ch*kernel + ky)*kernel + kx, column q = oy*outW + ox holds
//
//	src[(ch*h + iy)*w + ix]  with iy = oy*stride - pad + ky, ix = ox*stride - pad + kx,
//
// or 0 where (iy, ix) falls in the zero padding. A convolution with PyTorch
// weights W[out][c][ky][kx] is then the product of W viewed as an out x
// (c*kernel*kernel) matrix with dst: Sgemm(false, false, out, outH*outW,
// c*kernel*kernel, 1, W, c*kernel*kernel, dst, outH*outW, 0, y, outH*outW).
func Im2col(src []float32, c, h, w, kernel, stride, pad int, dst []float32) {
	outH, outW := convCheck("Im2col", len(src), c, h, w, kernel, stride, pad)
	Im2colStrided(src, c, h, w, kernel, stride, pad, dst, outH*outW)
}

// Im2colStrided is Im2col writing rows of dst with stride ld >= outH*outW:
// row r, column q at dst[r*ld + q]; columns outH*outW..ld-1 of each row are
// left untouched. With ld = batch*outH*outW and dst offset by b*outH*outW,
// the images of a batch can be unfolded side by side into one matrix.
func Im2colStrided(src []float32, c, h, w, kernel, stride, pad int, dst []float32, ld int) {
	outH, outW := convCheck("Im2col", len(src), c, h, w, kernel, stride, pad)
	checkCols("Im2col", dst, c*kernel*kernel, outH*outW, ld)
	for ch := 0; ch < c; ch++ {
		img := src[ch*h*w : (ch+1)*h*w]
		for ky := 0; ky < kernel; ky++ {
			// Output rows oy whose input row iy = oy*stride-pad+ky lies in
			// [0, h): oy in [y0, y1).
			y0, y1 := validRange(h, ky, stride, pad, outH)
			for kx := 0; kx < kernel; kx++ {
				row := dst[((ch*kernel+ky)*kernel+kx)*ld:]
				row = row[:outH*outW]
				x0, x1 := validRange(w, kx, stride, pad, outW)
				if y0 >= y1 || x0 >= x1 {
					clear(row)
					continue
				}
				clear(row[:y0*outW])
				clear(row[y1*outW:])
				if stride == 1 && outW == w {
					// "Same" padding: the valid rows are one shifted copy of
					// the image, then the columns that wrapped around from
					// the neighbouring image row are zeroed.
					shift := (ky-pad)*w + (kx - pad)
					s0, s1 := y0*w+shift, y1*w+shift
					d0 := y0 * outW
					if s0 < 0 {
						d0 -= s0
						s0 = 0
					}
					s1 = min(s1, h*w)
					copy(row[d0:], img[s0:s1])
					for oy := y0; oy < y1; oy++ {
						out := row[oy*outW : (oy+1)*outW]
						for i := 0; i < x0; i++ {
							out[i] = 0
						}
						for i := x1; i < outW; i++ {
							out[i] = 0
						}
					}
					continue
				}
				for oy := y0; oy < y1; oy++ {
					out := row[oy*outW : (oy+1)*outW]
					iy := oy*stride - pad + ky
					in := img[iy*w : (iy+1)*w]
					for i := 0; i < x0; i++ {
						out[i] = 0
					}
					ix := x0*stride - pad + kx
					if stride == 1 {
						copy(out[x0:x1], in[ix:])
					} else {
						o := out[x0:x1]
						for i := range o {
							o[i] = in[ix+i*stride]
						}
					}
					for i := x1; i < outW; i++ {
						out[i] = 0
					}
				}
			}
		}
	}
}

// Col2im is the adjoint of Im2col: it adds each element of the
// c*kernel*kernel x outH*outW matrix col (the layout Im2col writes) into the
// image position it was read from, accumulating into dst (CHW, len >=
// c*h*w): dst[(ch*h + iy)*w + ix] += col[r*outH*outW + q] for every
// in-bounds position. Elements that came from the zero padding are dropped.
// Used for the gradient of a convolution with respect to its input; dst
// must be zeroed first if it should hold only this gradient.
func Col2im(col []float32, c, h, w, kernel, stride, pad int, dst []float32) {
	outH, outW := convCheck("Col2im", len(dst), c, h, w, kernel, stride, pad)
	Col2imStrided(col, c, h, w, kernel, stride, pad, dst, outH*outW)
}

// Col2imStrided is Col2im reading rows of col with stride ld >= outH*outW
// (see Im2colStrided).
func Col2imStrided(col []float32, c, h, w, kernel, stride, pad int, dst []float32, ld int) {
	outH, outW := convCheck("Col2im", len(dst), c, h, w, kernel, stride, pad)
	checkCols("Col2im", col, c*kernel*kernel, outH*outW, ld)
	for ky := 0; ky < kernel; ky++ {
		y0, y1 := validRange(h, ky, stride, pad, outH)
		if y0 >= y1 {
			continue
		}
		for kx := 0; kx < kernel; kx++ {
			x0, x1 := validRange(w, kx, stride, pad, outW)
			if x0 >= x1 {
				continue
			}
			ix := x0*stride - pad + kx
			r0 := ky*kernel + kx // row of channel 0; channel ch is row r0 + ch*kernel*kernel
			if stride == 1 {
				// Output row oy adds into input row oy-pad+ky: for every
				// channel, one block of y1-y0 rows of x1-x0 columns. One
				// call covers all channels, whose blocks are h*w apart in
				// dst and kernel*kernel rows apart in col.
				iy := y0 - pad + ky
				addBlocks(dst[iy*w+ix:], w, h*w, col[r0*ld+y0*outW+x0:], outW, kernel*kernel*ld, c, y1-y0, x1-x0)
				continue
			}
			for ch := 0; ch < c; ch++ {
				img := dst[ch*h*w : (ch+1)*h*w]
				row := col[(ch*kernel*kernel+r0)*ld:]
				row = row[:outH*outW]
				for oy := y0; oy < y1; oy++ {
					iy := oy*stride - pad + ky
					in := row[oy*outW+x0 : oy*outW+x1]
					out := img[iy*w : (iy+1)*w]
					for i, v := range in {
						out[ix+i*stride] += v
					}
				}
			}
		}
	}
}

// validRange returns the output columns [x0, x1) whose input column
// ox*stride - pad + kx lies in [0, w).
func validRange(w, kx, stride, pad, outW int) (x0, x1 int) {
	// ox*stride >= pad-kx  <=>  ox >= ceil((pad-kx)/stride)
	lo := pad - kx
	if lo > 0 {
		x0 = (lo + stride - 1) / stride
	}
	// ox*stride <= w-1+pad-kx  <=>  ox <= floor((w-1+pad-kx)/stride)
	hi := w - 1 + pad - kx
	if hi < 0 {
		return 0, 0
	}
	x1 = min(outW, hi/stride+1)
	if x0 > x1 {
		x0 = x1
	}
	return x0, x1
}

// convCheck validates the geometry of Im2col/Col2im and the length n of the
// image slice, returning the output size. It panics on bad arguments, which
// are programming errors.
func convCheck(fn string, n, c, h, w, kernel, stride, pad int) (outH, outW int) {
	if c < 1 || h < 1 || w < 1 || kernel < 1 || stride < 1 || pad < 0 {
		panic(fmt.Sprintf("gemm: %s with c=%d h=%d w=%d kernel=%d stride=%d pad=%d: need c, h, w, kernel, stride >= 1 and pad >= 0",
			fn, c, h, w, kernel, stride, pad))
	}
	outH, outW = ConvOutSize(h, kernel, stride, pad), ConvOutSize(w, kernel, stride, pad)
	if outH < 1 || outW < 1 {
		panic(fmt.Sprintf("gemm: %s: kernel %d does not fit a %dx%d image with padding %d", fn, kernel, h, w, pad))
	}
	if n < c*h*w {
		panic(fmt.Sprintf("gemm: %s: image has %d elements, want c*h*w = %d", fn, n, c*h*w))
	}
	return outH, outW
}

// checkCols panics unless s holds a rows x cols matrix with row stride ld.
func checkCols(fn string, s []float32, rows, cols, ld int) {
	if ld < cols {
		panic(fmt.Sprintf("gemm: %s: row stride %d is smaller than the %d columns", fn, ld, cols))
	}
	if need := (rows-1)*ld + cols; len(s) < need {
		panic(fmt.Sprintf("gemm: %s: column matrix has %d elements, a %dx%d matrix with row stride %d needs %d", fn, len(s), rows, cols, ld, need))
	}
}
