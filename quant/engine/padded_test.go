package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/nn/gemm"
)

// TestPadInputLayout checks padInput against the layout it documents,
// computed pixel by pixel: padded pixel (Y, X) of channel c at plane
// (Y%s)*s + X%s, pixel (Y/s, X/s), zero outside the image, starting from a
// buffer of NaNs (every value must be written).
func TestPadInputLayout(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 7))
	for _, g := range [][5]int{{3, 1, 1, 5, 3}, {3, 2, 1, 7, 2}, {5, 2, 2, 6, 1}, {3, 3, 1, 8, 2}, {1, 2, 0, 5, 3}, {2, 1, 2, 4, 2}} {
		k, st, pad, hw, bc := g[0], g[1], g[2], g[3], g[4]
		l := testConv(3, 2, k, st, pad, hw, hw+1)
		x := randomSlice(rng, l.inS.Size()*bc)
		xp := make([]float32, l.padLen*bc)
		fillNaN(xp)
		l.padInput(x, xp, bc)
		hq, wq := l.planeDims()
		h, w := l.inS.H, l.inS.W
		for c := 0; c < l.in; c++ {
			for yy := 0; yy < hq*st; yy++ {
				for xx := 0; xx < wq*st; xx++ {
					plane := (yy%st)*st + xx%st
					for b := 0; b < bc; b++ {
						got := xp[(((plane*l.in+c)*hq+yy/st)*wq+xx/st)*bc+b]
						var want float32
						if y, xi := yy-pad, xx-pad; y >= 0 && y < h && xi >= 0 && xi < w {
							want = x[((c*h+y)*w+xi)*bc+b]
						}
						if math.Float32bits(got) != math.Float32bits(want) {
							t.Fatalf("k=%d stride=%d pad=%d: channel %d padded pixel (%d, %d) sample %d is %v, want %v", k, st, pad, c, yy, xx, b, got, want)
						}
					}
				}
			}
		}
	}
}

// TestEpiloguePadsNext checks that a fused epilogue writing the next
// convolution's padded input (epilogue.next), with the output stored or
// not (padOnly), with or without a residual sum, fills it exactly as
// padInput does from the stored output, for next layers of every stride
// and padding, starting from a buffer of NaNs; or, with the sum computed
// in place (resPad, next layers of stride 1), from the residual input
// padded.
func TestEpiloguePadsNext(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 3))
	// Per case: the layer's kernel, stride and padding, then the next's.
	for _, g := range [][6]int{{3, 1, 1, 3, 1, 1}, {3, 1, 2, 5, 1, 2}, {1, 2, 1, 2, 2, 0}, {3, 2, 1, 3, 2, 1}, {3, 3, 1, 3, 3, 2}, {2, 1, 0, 3, 1, 1}} {
		for _, mode := range []string{"stored", "padOnly", "sum", "sum+padOnly", "resPad", "resPad+padOnly"} {
			k, st, pad, k2, st2, pad2 := g[0], g[1], g[2], g[3], g[4], g[5]
			resPad := strings.HasPrefix(mode, "resPad")
			hasSum, padOnly := strings.HasPrefix(mode, "sum") || resPad, strings.HasSuffix(mode, "padOnly")
			if resPad && st2 != 1 {
				continue
			}
			hw, bc, in, out := 9, 3, 2, 3
			l := testConv(in, out, k, st, pad, hw, hw+2)
			l.relu = true
			for o := range out {
				l.mult[o], l.bias[o] = 0.5, float32(o)-1
			}
			q := testConv(out, 2, k2, st2, pad2, l.outS.H, l.outS.W)
			name := fmt.Sprintf("k=%d stride=%d pad=%d, next k=%d stride=%d pad=%d, %s", k, st, pad, q.k, q.stride, q.pad, mode)
			x := randomSlice(rng, l.inS.Size()*bc)
			w := make([]float32, out*l.ckk)
			for i := range w {
				w[i] = float32(rng.IntN(15) - 7)
			}
			per := l.outS.H * l.outS.W * bc
			res := randomSlice(rng, out*per)
			run := func(next *qlayer, padOnly bool) (y, sum, xp []float32) {
				y, sum = make([]float32, out*per), make([]float32, out*per)
				ep := epilogue{l: l, acc: make([]float32, out*per), y: y, per: per, keepY: !padOnly, keepAcc: false}
				if hasSum {
					ep.sum, ep.in0, ep.in1, ep.yFirst, ep.sumRelu = sum, y, res, true, true
				}
				if next != nil {
					xp = make([]float32, next.padLen*bc)
					fillNaN(xp)
					if resPad {
						next.padInput(res, xp, bc)
					}
					ep.next, ep.pad, ep.padOnly, ep.resPad = next, xp, padOnly, resPad
				}
				plan := gemm.PlanRows(out, l.ckk)
				l.denseEp(w, x, make([]float32, plan.PackedLen()), make([]float32, l.padLen*bc), false, bc, &ep)
				return y, sum, xp
			}
			y, sum, _ := run(nil, false)
			src := y
			if hasSum {
				src = sum
			}
			want := make([]float32, q.padLen*bc)
			q.padInput(src, want, bc)
			gotY, gotSum, got := run(q, padOnly)
			if i := firstDiff(got, want); i >= 0 {
				t.Fatalf("%s: padded value %d is %v, padInput gives %v", name, i, got[i], want[i])
			}
			if !padOnly {
				if i := firstDiff(gotY, y); i >= 0 {
					t.Fatalf("%s: output %d is %v, want %v", name, i, gotY[i], y[i])
				}
			}
			if i := firstDiff(gotSum, sum); hasSum && !padOnly && i >= 0 {
				t.Fatalf("%s: sum %d is %v, want %v", name, i, gotSum[i], sum[i])
			}
		}
	}
}

// testConv returns a convolution layer (multipliers 1, biases 0) with its
// implicit-GEMM fields planned.
func testConv(in, out, k, st, pad, h, w int) *qlayer {
	l := &qlayer{conv: true, out: out, in: in, k: k, stride: st, pad: pad,
		inS: nnShape(in, h, w), outS: nnShape(out, (h+2*pad-k)/st+1, (w+2*pad-k)/st+1)}
	l.ckk = in * k * k
	l.mult, l.bias = make([]float32, out), make([]float32, out)
	for o := range out {
		l.mult[o] = 1
	}
	l.rowsPer = 1
	l.planImplicit()
	return l
}

// randomSlice returns n normal random values.
func randomSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}
