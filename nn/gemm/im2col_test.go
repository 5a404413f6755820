package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// geometry is one Im2col/Col2im configuration.
type geometry struct{ c, h, w, kernel, stride, pad int }

func (g geometry) String() string {
	return fmt.Sprintf("c=%d h=%d w=%d kernel=%d stride=%d pad=%d", g.c, g.h, g.w, g.kernel, g.stride, g.pad)
}

func (g geometry) out() (int, int) {
	return ConvOutSize(g.h, g.kernel, g.stride, g.pad), ConvOutSize(g.w, g.kernel, g.stride, g.pad)
}

// geometries enumerates kernels 1..5, strides 1..3, paddings 0..3 on small
// non-square images, keeping those where the kernel fits.
func geometries() []geometry {
	var out []geometry
	for _, hw := range [][2]int{{1, 1}, {3, 5}, {7, 4}, {8, 8}} {
		for kernel := 1; kernel <= 5; kernel++ {
			for stride := 1; stride <= 3; stride++ {
				for pad := 0; pad <= 3; pad++ {
					g := geometry{c: 1 + (kernel+pad)%3, h: hw[0], w: hw[1], kernel: kernel, stride: stride, pad: pad}
					if oh, ow := g.out(); oh >= 1 && ow >= 1 {
						out = append(out, g)
					}
				}
			}
		}
	}
	// The models' layers: LeNet-5 conv1/conv2, ResNet-20 3x3 convs and the
	// strided 3x3 of a down-sampling block.
	return append(out,
		geometry{1, 28, 28, 5, 1, 2}, geometry{6, 14, 14, 5, 1, 0},
		geometry{16, 32, 32, 3, 1, 1}, geometry{16, 32, 32, 3, 2, 1})
}

// im2colRef is the definition of Im2col, value by value.
func im2colRef(src []float32, g geometry, at func(r, q int) *float32) {
	oh, ow := g.out()
	for ch := 0; ch < g.c; ch++ {
		for ky := 0; ky < g.kernel; ky++ {
			for kx := 0; kx < g.kernel; kx++ {
				r := (ch*g.kernel+ky)*g.kernel + kx
				for oy := 0; oy < oh; oy++ {
					for ox := 0; ox < ow; ox++ {
						iy, ix := oy*g.stride-g.pad+ky, ox*g.stride-g.pad+kx
						v := float32(0)
						if iy >= 0 && iy < g.h && ix >= 0 && ix < g.w {
							v = src[(ch*g.h+iy)*g.w+ix]
						}
						*at(r, oy*ow+ox) = v
					}
				}
			}
		}
	}
}

func TestIm2col(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	for _, g := range geometries() {
		oh, ow := g.out()
		rows, cols := g.c*g.kernel*g.kernel, oh*ow
		for _, extra := range []int{0, 5} {
			ld := cols + extra
			src := newGuarded(g.c*g.h*g.w, rng.IntN(16))
			fillRandom(rng, src.data())
			src.snapshot()
			dst := newGuarded((rows-1)*ld+cols, rng.IntN(16))
			fillRandom(rng, dst.data()) // stale values must be overwritten
			dst.snapshot()
			if extra == 0 {
				Im2col(src.data(), g.c, g.h, g.w, g.kernel, g.stride, g.pad, dst.data())
			} else {
				Im2colStrided(src.data(), g.c, g.h, g.w, g.kernel, g.stride, g.pad, dst.data(), ld)
			}
			what := fmt.Sprintf("Im2col %v ld=%d", g, ld)
			src.checkUnchanged(t, what+" src")
			dst.checkGuards(t, what+" dst")
			want := make([]float32, len(dst.data()))
			copy(want, dst.initial) // gaps keep their values
			im2colRef(src.data(), g, func(r, q int) *float32 { return &want[r*ld+q] })
			for i, v := range dst.data() {
				if math.Float32bits(v) != math.Float32bits(want[i]) {
					t.Fatalf("%s: dst[%d] (row %d, col %d) = %v, want %v", what, i, i/ld, i%ld, v, want[i])
				}
			}
		}
	}
}

func TestCol2im(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	for _, g := range geometries() {
		oh, ow := g.out()
		rows, cols := g.c*g.kernel*g.kernel, oh*ow
		for _, extra := range []int{0, 3} {
			ld := cols + extra
			col := newGuarded((rows-1)*ld+cols, rng.IntN(16))
			fillRandom(rng, col.data())
			col.snapshot()
			dst := newGuarded(g.c*g.h*g.w, rng.IntN(16))
			fillRandom(rng, dst.data()) // Col2im accumulates
			dst.snapshot()
			if extra == 0 {
				Col2im(col.data(), g.c, g.h, g.w, g.kernel, g.stride, g.pad, dst.data())
			} else {
				Col2imStrided(col.data(), g.c, g.h, g.w, g.kernel, g.stride, g.pad, dst.data(), ld)
			}
			what := fmt.Sprintf("Col2im %v ld=%d", g, ld)
			col.checkUnchanged(t, what+" col")
			dst.checkGuards(t, what+" dst")
			// The adjoint of the definition: every (r, q) adds col[r, q] to
			// the source position of Im2col's element (r, q), if any.
			want := make([]float64, len(dst.data()))
			mag := make([]float64, len(dst.data()))
			for i, v := range dst.initial {
				want[i], mag[i] = float64(v), math.Abs(float64(v))
			}
			for ch := 0; ch < g.c; ch++ {
				for ky := 0; ky < g.kernel; ky++ {
					for kx := 0; kx < g.kernel; kx++ {
						r := (ch*g.kernel+ky)*g.kernel + kx
						for oy := 0; oy < oh; oy++ {
							for ox := 0; ox < ow; ox++ {
								iy, ix := oy*g.stride-g.pad+ky, ox*g.stride-g.pad+kx
								if iy >= 0 && iy < g.h && ix >= 0 && ix < g.w {
									v := float64(col.initial[r*ld+oy*ow+ox])
									want[(ch*g.h+iy)*g.w+ix] += v
									mag[(ch*g.h+iy)*g.w+ix] += math.Abs(v)
								}
							}
						}
					}
				}
			}
			terms := g.kernel*g.kernel + 1
			for i, v := range dst.data() {
				if tol := tolerance(terms, mag[i]); math.Abs(float64(v)-want[i]) > tol {
					t.Fatalf("%s: dst[%d] = %v, want %v (tolerance %.3g)", what, i, v, want[i], tol)
				}
			}
		}
	}
}

// TestConvViaIm2col checks the documented use: Im2col then Sgemm computes a
// PyTorch convolution (weights [out][c][ky][kx]) computed directly here.
func TestConvViaIm2col(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 13))
	g := geometry{c: 3, h: 9, w: 7, kernel: 3, stride: 2, pad: 1}
	out := 5
	oh, ow := g.out()
	x := make([]float32, g.c*g.h*g.w)
	wt := make([]float32, out*g.c*g.kernel*g.kernel)
	fillRandom(rng, x)
	fillRandom(rng, wt)
	kk := g.c * g.kernel * g.kernel
	col := make([]float32, kk*oh*ow)
	Im2col(x, g.c, g.h, g.w, g.kernel, g.stride, g.pad, col)
	y := make([]float32, out*oh*ow)
	Sgemm(false, false, out, oh*ow, kk, 1, wt, kk, col, oh*ow, 0, y, oh*ow)
	for o := 0; o < out; o++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				var s, mag float64
				for ch := 0; ch < g.c; ch++ {
					for ky := 0; ky < g.kernel; ky++ {
						for kx := 0; kx < g.kernel; kx++ {
							iy, ix := oy*g.stride-g.pad+ky, ox*g.stride-g.pad+kx
							if iy < 0 || iy >= g.h || ix < 0 || ix >= g.w {
								continue
							}
							p := float64(wt[((o*g.c+ch)*g.kernel+ky)*g.kernel+kx]) * float64(x[(ch*g.h+iy)*g.w+ix])
							s += p
							mag += math.Abs(p)
						}
					}
				}
				got := float64(y[(o*oh+oy)*ow+ox])
				if tol := tolerance(kk, mag); math.Abs(got-s) > tol {
					t.Fatalf("y[%d,%d,%d] = %v, direct convolution %v", o, oy, ox, got, s)
				}
			}
		}
	}
}

func TestIm2colPanics(t *testing.T) {
	img := make([]float32, 2*4*4)
	col := make([]float32, 2*9*16)
	for _, f := range []func(){
		func() { Im2col(img, 2, 4, 4, 3, 0, 1, col) },           // stride 0
		func() { Im2col(img, 2, 4, 4, 7, 1, 0, col) },           // kernel too large
		func() { Im2col(img[:31], 2, 4, 4, 3, 1, 1, col) },      // short image
		func() { Im2col(img, 2, 4, 4, 3, 1, 1, col[:100]) },     // short col
		func() { Col2im(col, 2, 4, 4, 3, 1, 1, img[:5]) },       // short image
		func() { Im2colStrided(img, 2, 4, 4, 3, 1, 1, col, 8) }, // ld < cols
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("bad arguments did not panic")
				}
			}()
			f()
		}()
	}
}

func BenchmarkIm2col(b *testing.B) {
	for _, g := range []geometry{{6, 14, 14, 5, 1, 0}, {16, 32, 32, 3, 1, 1}, {64, 8, 8, 3, 1, 1}} {
		oh, ow := g.out()
		src := make([]float32, g.c*g.h*g.w)
		col := make([]float32, g.c*g.kernel*g.kernel*oh*ow)
		b.Run("im2col/"+g.String(), func(b *testing.B) {
			for b.Loop() {
				Im2col(src, g.c, g.h, g.w, g.kernel, g.stride, g.pad, col)
			}
			b.ReportMetric(float64(len(col)*4*b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
		b.Run("col2im/"+g.String(), func(b *testing.B) {
			for b.Loop() {
				Col2im(col, g.c, g.h, g.w, g.kernel, g.stride, g.pad, src)
			}
			b.ReportMetric(float64(len(col)*4*b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}

// FuzzIm2col checks Im2col against its definition and Col2im against the
// adjoint identity <Im2col(x), y> = <x, Col2im(y)> on random geometries.
func FuzzIm2col(f *testing.F) {
	f.Add(uint8(2), uint8(5), uint8(7), uint8(3), uint8(1), uint8(1), uint64(1))
	f.Add(uint8(1), uint8(1), uint8(1), uint8(1), uint8(3), uint8(0), uint64(2))
	f.Fuzz(func(t *testing.T, c, h, w, kernel, stride, pad uint8, seed uint64) {
		g := geometry{c: int(c%4) + 1, h: int(h%12) + 1, w: int(w%12) + 1,
			kernel: int(kernel%5) + 1, stride: int(stride%3) + 1, pad: int(pad % 4)}
		oh, ow := g.out()
		if oh < 1 || ow < 1 {
			return
		}
		rng := rand.New(rand.NewPCG(seed, 0))
		x := make([]float32, g.c*g.h*g.w)
		fillRandom(rng, x)
		rows, cols := g.c*g.kernel*g.kernel, oh*ow
		col := make([]float32, rows*cols)
		Im2col(x, g.c, g.h, g.w, g.kernel, g.stride, g.pad, col)
		want := make([]float32, len(col))
		im2colRef(x, g, func(r, q int) *float32 { return &want[r*cols+q] })
		for i := range col {
			if col[i] != want[i] {
				t.Fatalf("Im2col %v: element %d = %v, want %v", g, i, col[i], want[i])
			}
		}
		y := make([]float32, len(col))
		fillRandom(rng, y)
		xt := make([]float32, len(x))
		Col2im(y, g.c, g.h, g.w, g.kernel, g.stride, g.pad, xt)
		var lhs, rhs, mag float64
		for i := range col {
			lhs += float64(col[i]) * float64(y[i])
			mag += math.Abs(float64(col[i]) * float64(y[i]))
		}
		for i := range x {
			rhs += float64(x[i]) * float64(xt[i])
			mag += math.Abs(float64(x[i]) * float64(xt[i]))
		}
		if math.Abs(lhs-rhs) > tolerance(g.kernel*g.kernel+1, mag) {
			t.Fatalf("%v: <Im2col(x), y> = %v, <x, Col2im(y)> = %v", g, lhs, rhs)
		}
	})
}
