package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Each test below checks one operation's float32 forward against the float64
// reference in ref64_test.go, and its backward against central finite
// differences of the float64 reference (L = sum(R * y) for a random R), in
// both overwrite and accumulate mode.

const (
	fdStep = 1e-6
	rtol   = 2e-4
	atol   = 2e-5
)

// checkInputGrad checks a parameter-free operation: fwd/bwd are the engine
// kernels over the whole batch, ref the float64 reference.
func checkInputGrad(t *testing.T, name string, rng *rand.Rand, x []float64, ny int,
	fwd func(x, y []float32), bwd func(dy, dx []float32, acc bool), ref func(x []float64) []float64) {
	t.Helper()
	y := make([]float32, ny)
	fwd(to32(x), y)
	want := ref(x)
	if len(want) != ny {
		t.Fatalf("%s: reference gives %d outputs, engine %d", name, len(want), ny)
	}
	assertClose(t, name+" forward", y, want, 1e-5, 1e-6)
	r := round32(randVec(rng, ny, 1))
	num := numGrad(func() float64 { return dot64(r, ref(x)) }, x, fdStep)
	dx := make([]float32, len(x))
	for i := range dx {
		dx[i] = float32(math.NaN()) // overwrite mode must not read dx
	}
	bwd(to32(r), dx, false)
	assertClose(t, name+" dx", dx, num, rtol, atol)
	// Accumulate mode adds to what is there.
	base := round32(randVec(rng, len(x), 1))
	dx = to32(base)
	bwd(to32(r), dx, true)
	for i := range num {
		num[i] += base[i]
	}
	assertClose(t, name+" dx (accumulate)", dx, num, rtol, atol)
}

func TestConvForwardBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		c, h, w, oc, k, s, p int
		bias                 bool
	}{
		{2, 5, 5, 3, 3, 1, 1, true},
		{2, 6, 7, 4, 3, 2, 1, false},
		{3, 5, 5, 2, 1, 1, 0, true}, // 1x1: direct product, no im2col
		{1, 7, 7, 2, 5, 1, 2, true}, // LeNet conv1 geometry
		{2, 5, 5, 3, 3, 2, 0, true},
		{2, 4, 5, 2, 2, 2, 0, false},
		{2, 3, 3, 2, 3, 1, 2, true}, // padding larger than needed
		{2, 8, 8, 3, 5, 1, 0, true}, // LeNet conv2 geometry: input gradient through col2im
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("c%d_%dx%d_oc%d_k%d_s%d_p%d_b%v", tc.c, tc.h, tc.w, tc.oc, tc.k, tc.s, tc.p, tc.bias), func(t *testing.T) {
			const n = 3
			in := Shape{tc.c, tc.h, tc.w}
			out := Shape{tc.oc, (tc.h+2*tc.p-tc.k)/tc.s + 1, (tc.w+2*tc.p-tc.k)/tc.s + 1}
			g := newConvGeom(in, out, tc.k, tc.s, tc.p)
			x := round32(randVec(rng, n*in.Size(), 1))
			w := round32(randVec(rng, tc.oc*g.ckk, 0.5))
			var b []float64
			if tc.bias {
				b = round32(randVec(rng, tc.oc, 0.5))
			}
			col := make([]float32, g.ckk*g.ohw)
			y := make([]float32, n*out.Size())
			var b32 []float32
			if b != nil {
				b32 = to32(b)
			}
			convForward(&g, to32(x), to32(w), b32, y, col, 0, 1, false)
			convForward(&g, to32(x), to32(w), b32, y, col, 1, n, false)
			want, _ := refConv(x, n, in, w, b, tc.oc, tc.k, tc.s, tc.p)
			assertClose(t, "forward", y, want, 1e-5, 1e-6)

			r := round32(randVec(rng, len(want), 1))
			loss := func() float64 {
				yy, _ := refConv(x, n, in, w, b, tc.oc, tc.k, tc.s, tc.p)
				return dot64(r, yy)
			}
			ndx, ndw := numGrad(loss, x, fdStep), numGrad(loss, w, fdStep)
			var ndb []float64
			var db []float32
			if b != nil {
				ndb = numGrad(loss, b, fdStep)
				db = make([]float32, tc.oc)
			}
			dw := make([]float32, len(w))
			dx := make([]float32, len(x))
			// Two calls over a split batch: the second accumulates into dw/db.
			convBackward(&g, to32(x), to32(w), to32(r), dw, db, dx, col, 0, 1, true, false)
			convBackward(&g, to32(x), to32(w), to32(r), dw, db, dx, col, 1, n, false, false)
			assertClose(t, "dx", dx, ndx, rtol, atol)
			assertClose(t, "dw", dw, ndw, rtol, atol)
			if b != nil {
				assertClose(t, "db", db, ndb, rtol, atol)
			}
			if gt, ok := g.transposedGeom(); ok {
				wt := make([]float32, len(w))
				flipWeights(&g, to32(w), wt)
				tcol := make([]float32, gt.ckk*gt.ohw)
				dxt := make([]float32, len(x))
				dwt := make([]float32, len(w))
				var dbt []float32
				if b != nil {
					dbt = make([]float32, tc.oc)
				}
				convBackwardData(&gt, wt, to32(x), to32(r), dxt, dwt, dbt, tcol, 0, 2, true, false)
				convBackwardData(&gt, wt, to32(x), to32(r), dxt, dwt, dbt, tcol, 2, n, false, false)
				assertClose(t, "dx (transposed convolution)", dxt, ndx, rtol, atol)
				unflipped := make([]float32, len(w))
				for e := range unflipped {
					unflipped[e] = dwt[unflipIndex(&g, e)]
				}
				assertClose(t, "dw (from the im2col of dout)", unflipped, ndw, rtol, atol)
				if b != nil {
					assertClose(t, "db (transposed path)", dbt, ndb, rtol, atol)
				}
			}
			base := round32(randVec(rng, len(x), 1))
			dx = to32(base)
			convBackward(&g, to32(x), to32(w), to32(r), dw, db, dx, col, 0, n, true, true)
			for i := range ndx {
				ndx[i] += base[i]
			}
			assertClose(t, "dx (accumulate)", dx, ndx, rtol, atol)
			assertClose(t, "dw (single call)", dw, ndw, rtol, atol)
		})
	}
}

func TestLinearForwardBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, bias := range []bool{true, false} {
		const n, in, out = 5, 7, 4
		x := round32(randVec(rng, n*in, 1))
		w := round32(randVec(rng, out*in, 0.5))
		var b []float64
		var b32, db []float32
		if bias {
			b = round32(randVec(rng, out, 0.5))
			b32 = to32(b)
			db = make([]float32, out)
		}
		y := make([]float32, n*out)
		linearForward(to32(x), to32(w), b32, y, in, out, 0, 2, false)
		linearForward(to32(x), to32(w), b32, y, in, out, 2, n, false)
		assertClose(t, "linear forward", y, refLinear(x, n, in, w, b, out), 1e-5, 1e-6)
		r := round32(randVec(rng, n*out, 1))
		loss := func() float64 { return dot64(r, refLinear(x, n, in, w, b, out)) }
		// Two shares over rows, summed (as the executor's goroutines do).
		dw, dw2 := make([]float32, out*in), make([]float32, out*in)
		var db2 []float32
		if bias {
			db2 = make([]float32, out)
		}
		linearBackwardW(to32(x), to32(r), dw, db, in, out, 0, 2)
		linearBackwardW(to32(x), to32(r), dw2, db2, in, out, 2, n)
		addVec(dw, dw2)
		assertClose(t, "linear dw", dw, numGrad(loss, w, fdStep), rtol, atol)
		if bias {
			addVec(db, db2)
			assertClose(t, "linear db", db, numGrad(loss, b, fdStep), rtol, atol)
		}
		linearBackwardW(to32(x), to32(r), dw2, db2, in, out, 3, 3) // an empty share is zero
		if slices.ContainsFunc(dw2, func(v float32) bool { return v != 0 }) {
			t.Error("empty share of the linear weight gradient is not zero")
		}
		checkInputGrad(t, "linear", rng, x, n*out,
			func(x, y []float32) { linearForward(x, to32(w), b32, y, in, out, 0, n, false) },
			func(dy, dx []float32, acc bool) {
				linearBackwardX(to32(w), dy, dx, in, out, 0, 3, acc)
				linearBackwardX(to32(w), dy, dx, in, out, 3, n, acc)
			},
			func(x []float64) []float64 { return refLinear(x, n, in, w, b, out) })
	}
}

func TestBatchNormTrainForwardBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n = 3
	sh := Shape{3, 2, 3}
	hw := sh.H * sh.W
	x := round32(randVec(rng, n*sh.Size(), 2))
	for i := range x { // give channels different means
		x[i] += float64((i / hw) % sh.C)
	}
	x = round32(x)
	gamma := round32(randVec(rng, sh.C, 1))
	beta := round32(randVec(rng, sh.C, 1))
	mean, invstd := make([]float32, sh.C), make([]float32, sh.C)
	rm, rv := []float32{0.5, -1, 0}, []float32{1, 2, 0.5}
	y := make([]float32, len(x))
	bnTrainForward(to32(x), to32(gamma), to32(beta), y, mean, invstd, rm, rv, n, sh.C, hw, 0, 1, bnEps, bnMomentum, false)
	bnTrainForward(to32(x), to32(gamma), to32(beta), y, mean, invstd, rm, rv, n, sh.C, hw, 1, sh.C, bnEps, bnMomentum, false)
	assertClose(t, "bn forward", y, refBN(x, n, sh, gamma, beta, nil, nil, true), 1e-5, 1e-5)
	// Running statistics: (1-m)*old + m*batch, variance unbiased.
	for c := 0; c < sh.C; c++ {
		var mu, v float64
		m := float64(n * hw)
		for i := 0; i < n; i++ {
			for j := 0; j < hw; j++ {
				mu += x[(i*sh.C+c)*hw+j] / m
			}
		}
		for i := 0; i < n; i++ {
			for j := 0; j < hw; j++ {
				d := x[(i*sh.C+c)*hw+j] - mu
				v += d * d / (m - 1)
			}
		}
		oldM, oldV := []float64{0.5, -1, 0}[c], []float64{1, 2, 0.5}[c]
		assertClose(t, fmt.Sprintf("running_mean[%d]", c), rm[c:c+1], []float64{0.9*oldM + 0.1*mu}, 1e-6, 1e-7)
		assertClose(t, fmt.Sprintf("running_var[%d]", c), rv[c:c+1], []float64{0.9*oldV + 0.1*v}, 1e-6, 1e-7)
	}
	r := round32(randVec(rng, len(x), 1))
	loss := func() float64 { return dot64(r, refBN(x, n, sh, gamma, beta, nil, nil, true)) }
	dg, db := make([]float32, sh.C), make([]float32, sh.C)
	dx := make([]float32, len(x))
	bnBackward(to32(x), to32(gamma), mean, invstd, to32(r), nil, dg, db, dx, n, sh.C, hw, 0, 2, false)
	bnBackward(to32(x), to32(gamma), mean, invstd, to32(r), nil, dg, db, dx, n, sh.C, hw, 2, sh.C, false)
	assertClose(t, "bn dx", dx, numGrad(loss, x, 1e-5), 1e-3, 1e-4)
	assertClose(t, "bn dgamma", dg, numGrad(loss, gamma, fdStep), rtol, atol)
	assertClose(t, "bn dbeta", db, numGrad(loss, beta, fdStep), rtol, atol)
	base := round32(randVec(rng, len(x), 1))
	dx = to32(base)
	bnBackward(to32(x), to32(gamma), mean, invstd, to32(r), nil, dg, db, dx, n, sh.C, hw, 0, sh.C, true)
	want := numGrad(loss, x, 1e-5)
	for i := range want {
		want[i] += base[i]
	}
	assertClose(t, "bn dx (accumulate)", dx, want, 1e-3, 1e-4)
}

func TestBatchNormEval(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const n = 2
	sh := Shape{3, 2, 2}
	x := round32(randVec(rng, n*sh.Size(), 1))
	g, b := round32(randVec(rng, 3, 1)), round32(randVec(rng, 3, 1))
	rm := round32(randVec(rng, 3, 1))
	rv := []float64{0.5, 1, 2}
	y := make([]float32, len(x))
	bnEvalForward(to32(x), to32(g), to32(b), y, to32(rm), to32(rv), sh.C, sh.H*sh.W, 0, n, bnEps, false)
	assertClose(t, "bn eval", y, refBN(x, n, sh, g, b, rm, rv, false), 1e-5, 1e-6)
}

func TestReLU(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	x := randVec(rng, 40, 1)
	for i := range x { // keep away from the kink
		if math.Abs(x[i]) < 0.05 {
			x[i] = 0.1
		}
	}
	x = round32(x)
	y := make([]float32, len(x))
	checkInputGrad(t, "relu", rng, x, len(x),
		func(x, y []float32) { reluForward(x, y, 0, 13); reluForward(x, y, 13, len(x)) },
		func(dy, dx []float32, acc bool) {
			reluForward(to32(x), y, 0, len(x))
			reluBackward(y, dy, dx, 0, len(x), acc)
		},
		refReLU)
}

func TestMaxPool(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, tc := range []struct{ k, s int }{{2, 2}, {3, 2}, {2, 1}} {
		const n = 2
		in := Shape{2, 6, 5}
		out := Shape{2, (6-tc.k)/tc.s + 1, (5-tc.k)/tc.s + 1}
		x := round32(randVec(rng, n*in.Size(), 1))
		idx := make([]int32, n*out.Size())
		y := make([]float32, n*out.Size())
		checkInputGrad(t, fmt.Sprintf("maxpool k%d s%d", tc.k, tc.s), rng, x, n*out.Size(),
			func(x, y []float32) { maxPoolForward(in, out, tc.k, tc.s, x, y, nil, 0, n) },
			func(dy, dx []float32, acc bool) {
				maxPoolForward(in, out, tc.k, tc.s, to32(x), y, idx, 0, n)
				maxPoolBackward(in, out, idx, dy, dx, 0, 1, acc)
				maxPoolBackward(in, out, idx, dy, dx, 1, n, acc)
			},
			func(x []float64) []float64 { y, _ := refMaxPool(x, n, in, tc.k, tc.s); return y })
	}
}

func TestMaxPoolNaNAndTies(t *testing.T) {
	in, out := Shape{1, 2, 2}, Shape{1, 1, 1}
	y := make([]float32, 1)
	idx := make([]int32, 1)
	maxPoolForward(in, out, 2, 2, []float32{1, 3, 3, 2}, y, idx, 0, 1)
	if y[0] != 3 || idx[0] != 1 {
		t.Errorf("tie: got %v at %d, want 3 at 1 (the first maximum)", y[0], idx[0])
	}
	maxPoolForward(in, out, 2, 2, []float32{1, float32(math.NaN()), 3, 2}, y, idx, 0, 1)
	if !math.IsNaN(float64(y[0])) || idx[0] != 1 {
		t.Errorf("NaN: got %v at %d, want NaN at 1", y[0], idx[0])
	}
	maxPoolForward(in, out, 2, 2, []float32{1, float32(math.NaN()), 3, 2}, y, nil, 0, 1)
	if !math.IsNaN(float64(y[0])) {
		t.Errorf("NaN (inference): got %v, want NaN", y[0])
	}
	// The generic path (3x3 windows) agrees.
	in3, out3 := Shape{1, 3, 3}, Shape{1, 1, 1}
	maxPoolForward(in3, out3, 3, 3, []float32{1, 5, 2, 5, 0, float32(math.NaN()), 4, 3, 2}, y, idx, 0, 1)
	if !math.IsNaN(float64(y[0])) || idx[0] != 5 {
		t.Errorf("3x3 NaN: got %v at %d, want NaN at 5", y[0], idx[0])
	}
	maxPoolForward(in3, out3, 3, 3, []float32{1, 5, 2, 5, 0, 1, 4, 3, 2}, y, idx, 0, 1)
	if y[0] != 5 || idx[0] != 1 {
		t.Errorf("3x3 tie: got %v at %d, want 5 at 1", y[0], idx[0])
	}
}

func TestAvgPoolPadShortcutFlattenAdd(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	const n = 2
	in := Shape{3, 4, 5}
	x := round32(randVec(rng, n*in.Size(), 1))
	checkInputGrad(t, "avgpool", rng, x, n*in.C,
		func(x, y []float32) { avgPoolForward(in, x, y, 0, n) },
		func(dy, dx []float32, acc bool) {
			avgPoolBackward(in, dy, dx, 0, 1, acc)
			avgPoolBackward(in, dy, dx, 1, n, acc)
		},
		func(x []float64) []float64 { return refAvgPool(x, n, in) })
	const p = 2
	po := Shape{in.C, in.H + 2*p, in.W + 2*p}
	checkInputGrad(t, "pad", rng, x, n*po.Size(),
		func(x, y []float32) {
			for i := range y {
				y[i] = float32(math.NaN()) // pad must write the borders
			}
			padForward(in, p, x, y, 0, n)
		},
		func(dy, dx []float32, acc bool) { padBackward(in, p, dy, dx, 0, n, acc) },
		func(x []float64) []float64 { y, _ := refPad(x, n, in, p); return y })
	for _, s := range []int{1, 2} {
		for _, pc := range []int{0, 2} {
			so := Shape{in.C + 2*pc, (in.H + s - 1) / s, (in.W + s - 1) / s}
			checkInputGrad(t, fmt.Sprintf("shortcutA s%d pc%d", s, pc), rng, x, n*so.Size(),
				func(x, y []float32) {
					for i := range y {
						y[i] = float32(math.NaN())
					}
					shortcutAForward(in, so, s, pc, x, y, 0, 1)
					shortcutAForward(in, so, s, pc, x, y, 1, n)
				},
				func(dy, dx []float32, acc bool) { shortcutABackward(in, so, s, pc, dy, dx, 0, n, acc) },
				func(x []float64) []float64 { y, _ := refShortcutA(x, n, in, s, pc); return y })
		}
	}
	other := round32(randVec(rng, len(x), 1))
	checkInputGrad(t, "add", rng, x, len(x),
		func(x, y []float32) { addForward(x, to32(other), y, 0, len(x), false) },
		func(dy, dx []float32, acc bool) { passGrad(dy, dx, 0, len(x), acc) },
		func(x []float64) []float64 {
			y := make([]float64, len(x))
			for i := range y {
				y[i] = x[i] + other[i]
			}
			return y
		})
}

func TestSoftmaxCrossEntropy(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	const n, classes = 4, 5
	logits := round32(randVec(rng, n*classes, 3))
	logits[0] = 80 // large logits must not overflow
	logits = round32(logits)
	labels := []uint8{0, 3, 4, 1}
	d := make([]float32, n*classes)
	loss := SoftmaxCrossEntropy(to32(logits), labels, n, classes, d)
	want := refCE(logits, labels, n, classes)
	if math.Abs(loss-want) > 1e-5*math.Abs(want) {
		t.Errorf("loss %v, want %v", loss, want)
	}
	assertClose(t, "dlogits", d, numGrad(func() float64 { return refCE(logits, labels, n, classes) }, logits, fdStep), rtol, atol)
	if l2 := SoftmaxCrossEntropy(to32(logits), labels, n, classes, nil); l2 != loss {
		t.Errorf("loss without gradient %v, with %v", l2, loss)
	}
}

func TestIm2colValidRange(t *testing.T) {
	// validRange must agree with a brute-force scan for many geometries.
	for w := 1; w <= 7; w++ {
		for s := 1; s <= 3; s++ {
			for off := -4; off <= 4; off++ {
				for ow := 0; ow <= 8; ow++ {
					x0, x1 := validRange(off, s, w, ow)
					for ox := 0; ox < ow; ox++ {
						in := ox*s+off >= 0 && ox*s+off < w
						if in != (ox >= x0 && ox < x1) {
							t.Fatalf("validRange(off %d, s %d, w %d, ow %d) = [%d,%d): wrong at %d", off, s, w, ow, x0, x1, ox)
						}
					}
				}
			}
		}
	}
}

// TestFusedReLUVariants checks each kernel's fused-ReLU path against the
// unfused kernel followed by a separate ReLU (forward), and the masked
// batch-norm backward against a separate ReLU backward.
func TestFusedReLUVariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	relu := func(v []float32) []float64 {
		r := make([]float64, len(v))
		for i, x := range v {
			r[i] = math.Max(float64(x), 0)
		}
		return r
	}
	// Convolution with and without bias.
	in, out := Shape{2, 5, 5}, Shape{3, 5, 5}
	g := newConvGeom(in, out, 3, 1, 1)
	x, w, b := to32(randVec(rng, 2*in.Size(), 1)), to32(randVec(rng, 3*g.ckk, 1)), to32(randVec(rng, 3, 1))
	col := make([]float32, g.ckk*g.ohw)
	for _, bias := range [][]float32{b, nil} {
		y, yr := make([]float32, 2*out.Size()), make([]float32, 2*out.Size())
		convForward(&g, x, w, bias, y, col, 0, 2, false)
		convForward(&g, x, w, bias, yr, col, 0, 2, true)
		assertClose(t, "conv+relu", yr, relu(y), 0, 0)
	}
	// Linear.
	xl, wl := to32(randVec(rng, 3*4, 1)), to32(randVec(rng, 5*4, 1))
	yl, ylr := make([]float32, 15), make([]float32, 15)
	linearForward(xl, wl, b[:1:1], yl[:0], 4, 5, 0, 0, false) // empty range is a no-op
	linearForward(xl, wl, nil, yl, 4, 5, 0, 3, false)
	linearForward(xl, wl, nil, ylr, 4, 5, 0, 3, true)
	assertClose(t, "linear+relu", ylr, relu(yl), 0, 0)
	// Add.
	a2 := to32(randVec(rng, 50, 1))
	ya, yar := make([]float32, 50), make([]float32, 50)
	addForward(x[:50], a2, ya, 0, 50, false)
	addForward(x[:50], a2, yar, 0, 50, true)
	assertClose(t, "add+relu", yar, relu(ya), 0, 0)
	// Batch norm, train and eval.
	sh := Shape{3, 2, 2}
	xb := to32(randVec(rng, 4*sh.Size(), 1))
	gm, bt := to32(randVec(rng, 3, 1)), to32(randVec(rng, 3, 1))
	mean, invstd := make([]float32, 3), make([]float32, 3)
	rm, rv := []float32{0, 0, 0}, []float32{1, 1, 1}
	yb, ybr := make([]float32, len(xb)), make([]float32, len(xb))
	bnTrainForward(xb, gm, bt, yb, mean, invstd, slices.Clone(rm), slices.Clone(rv), 4, 3, 4, 0, 3, bnEps, bnMomentum, false)
	bnTrainForward(xb, gm, bt, ybr, mean, invstd, slices.Clone(rm), slices.Clone(rv), 4, 3, 4, 0, 3, bnEps, bnMomentum, true)
	assertClose(t, "bn train+relu", ybr, relu(yb), 0, 0)
	ye, yer := make([]float32, len(xb)), make([]float32, len(xb))
	bnEvalForward(xb, gm, bt, ye, mean, invstd, 3, 4, 0, 4, bnEps, false)
	bnEvalForward(xb, gm, bt, yer, mean, invstd, 3, 4, 0, 4, bnEps, true)
	assertClose(t, "bn eval+relu", yer, relu(ye), 0, 0)
	dy := to32(randVec(rng, len(xb), 1))
	masked := make([]float32, len(dy))
	reluBackward(ybr, dy, masked, 0, len(dy), false)
	for _, acc := range []bool{false, true} {
		dg1, db1, dx1 := make([]float32, 3), make([]float32, 3), to32(randVec(rng, len(xb), 1))
		dg2, db2, dx2 := make([]float32, 3), make([]float32, 3), slices.Clone(dx1)
		bnBackward(xb, gm, mean, invstd, masked, nil, dg1, db1, dx1, 4, 3, 4, 0, 3, acc)
		bnBackward(xb, gm, mean, invstd, dy, ybr, dg2, db2, dx2, 4, 3, 4, 0, 3, acc)
		assertClose(t, "bn backward masked dx", dx2, to64(dx1), 1e-6, 1e-7)
		assertClose(t, "bn backward masked dgamma", dg2, to64(dg1), 1e-6, 1e-7)
		assertClose(t, "bn backward masked dbeta", db2, to64(db1), 1e-6, 1e-7)
	}
}
