package ptq

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/engine"
)

var lenetIn = nn.Shape{C: 1, H: 28, W: 28}

// The relaxation starts at the float weight: s*(lower + step*h(V0)) = w
// inside the level range, the bound outside it, and V0 >= 0 exactly when
// rounding to nearest goes up.
func TestAdaRoundInitReproducesWeights(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, bits := range []int{1, 2, 3, 4, 8} {
		lo, hi := quant.LevelRange(bits)
		for range 2000 {
			s := float32(0.01 + rng.Float64())
			w := float32(rng.NormFloat64()) * s * float32(hi) * 0.7
			lower, step, v := adaInit(w, s, bits)
			x := adaWeight{v: v, scale: float64(s), lower: float64(lower), step: float64(step)}
			got := x.setH()
			r := float64(w) / float64(s)
			switch {
			case bits > 1 && (r >= float64(hi) || r < float64(lo)):
				want := s * float32(min(max(math.Floor(r), float64(lo)), float64(hi)))
				if got != want || step != 0 {
					t.Fatalf("%d bits, w/s = %g outside the range: weight %g (step %d), want the bound %g", bits, r, got, step, want)
				}
			case bits == 1 && math.Abs(r) > 1:
				if math.Abs(float64(got)) != float64(s) || (got > 0) != (w > 0) {
					t.Fatalf("1 bit, w/s = %g: weight %g, want %g with w's sign", r, got, s)
				}
			default:
				if d := math.Abs(float64(got - w)); d > 1e-5*float64(s) {
					t.Fatalf("%d bits, w = %g, s = %g: h(V0) gives %g", bits, w, s, got)
				}
			}
			up := 0.0
			if v >= 0 {
				up = 1
			}
			level := int8(x.lower + x.step*up)
			if near := quant.QuantizeWeight(w, s, bits); level != near && math.Abs(r-math.Floor(r)-0.5) > 1e-4 {
				t.Fatalf("%d bits, w/s = %g: hard rounding of V0 gives %d, nearest %d", bits, r, level, near)
			}
		}
	}
}

// adaFixture is a random LeNet-5 with calibration data.
func adaFixture(t *testing.T, n int) (*quant.FloatModel, []float32, []uint8) {
	t.Helper()
	f := testFloatModel(t, "lenet5", lenetIn, 5)
	x, y := testData(f.Graph, n, 6)
	return f, x, y
}

// layerData returns layer li's float-network input and its input in the
// network given by m (m's levels in the layers before li, m's activation
// quantizers), per sample.
func layerData(t *testing.T, m *quant.Model, fl []quant.FloatLayer, x []float32, n, li int) (xf, xq []float32, l *engine.LayerGeometry) {
	t.Helper()
	ctx := context.Background()
	fr, err := engine.NewFloatProbe(m.Graph, fl, 1)
	if err != nil {
		t.Fatal(err)
	}
	qr, err := engine.NewModelProbe(m, 1)
	if err != nil {
		t.Fatal(err)
	}
	if xf, err = fr.LayerInputs(ctx, li, x, n); err != nil {
		t.Fatal(err)
	}
	if xq, err = qr.LayerInputs(ctx, li, x, n); err != nil {
		t.Fatal(err)
	}
	g := qr.Geometry(li)
	return xf, xq, &g
}

// naiveReconError is the mean over samples and output positions of
// |Wq xq - Wf xf|^2 (summed over output channels), with direct loops in
// float64.
func naiveReconError(l *engine.LayerGeometry, wq, wf, xf, xq []float32, n int) float64 {
	size := l.InShape.Size()
	h, w := l.InShape.H, l.InShape.W
	oh, ow := l.OutShape.H, l.OutShape.W
	var e float64
	for i := 0; i < n; i++ {
		xfi, xqi := xf[i*size:(i+1)*size], xq[i*size:(i+1)*size]
		for o := 0; o < l.Out; o++ {
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					var a, b float64
					for c := 0; c < l.In; c++ {
						for ky := 0; ky < l.K; ky++ {
							for kx := 0; kx < l.K; kx++ {
								iy, ix := oy*l.Stride+ky-l.Pad, ox*l.Stride+kx-l.Pad
								if iy < 0 || iy >= h || ix < 0 || ix >= w {
									continue
								}
								wi := ((o*l.In+c)*l.K+ky)*l.K + kx
								xi := (c*h+iy)*w + ix
								a += float64(wq[wi]) * float64(xqi[xi])
								b += float64(wf[wi]) * float64(xfi[xi])
							}
						}
					}
					e += (a - b) * (a - b)
				}
			}
		}
	}
	return e / float64(n*oh*ow)
}

// dequantized returns layer ql's weights for the given levels.
func dequantized(ql *quant.Layer, levels []int8) []float32 {
	per := len(levels) / ql.Out()
	w := make([]float32, len(levels))
	for j, v := range levels {
		w[j] = ql.Scale(j/per) * float32(v)
	}
	return w
}

// Every learnt level is floor(w/s) or floor(w/s)+1 (the bound for clipped
// weights), and on the calibration data each layer's output reconstruction
// error is at most that of rounding to nearest with the same scales and the
// same (already rounded) input, and at most rtn's for the first layer.
func TestAdaRoundBeatsNearestRounding(t *testing.T) {
	ctx := context.Background()
	const n = 96
	f, x, y := adaFixture(t, n)
	fl, err := quant.Fold(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		bits, act int
		gran      quant.Granularity
	}{{3, 32, quant.PerTensor}, {2, 4, quant.PerChannel}} {
		ao := AdaRoundOptions{Iters: 300, LR: 0.01}
		m, err := Quantize(ctx, f, Options{Method: "adaround", Bits: c.bits, ActBits: c.act, Granularity: c.gran, CalibX: x, CalibLabels: y, AdaRound: ao})
		if err != nil {
			t.Fatal(err)
		}
		if !m.UsedFPGradients || m.Method != "adaround" {
			t.Errorf("model method %q, UsedFPGradients %v: want adaround, true", m.Method, m.UsedFPGradients)
		}
		rtn, err := Quantize(ctx, f, Options{Method: "rtn", Bits: c.bits, ActBits: c.act, Granularity: c.gran, CalibX: x, CalibLabels: y})
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := quant.LevelRange(c.bits)
		changed := 0
		for li := range m.Layers {
			ql := &m.Layers[li]
			near := make([]int8, len(ql.Levels))
			per := len(near) / ql.Out()
			for j, w := range fl[li].Weight {
				s := ql.Scale(j / per)
				near[j] = quant.QuantizeWeight(w, s, c.bits)
				floor := min(max(int(math.Floor(float64(w)/float64(s))), lo), hi)
				if l := int(ql.Levels[j]); l != floor && l != min(floor+1, hi) {
					t.Fatalf("%+v: %s weight %d: w/s = %g, level %d is neither floor nor floor+1", c, ql.Name, j, w/s, l)
				}
				if ql.Levels[j] != near[j] {
					changed++
				}
			}
			xf, xq, l := layerData(t, m, fl, x, n, li)
			ea := naiveReconError(l, dequantized(ql, ql.Levels), fl[li].Weight, xf, xq, n)
			en := naiveReconError(l, dequantized(ql, near), fl[li].Weight, xf, xq, n)
			t.Logf("%+v %s: reconstruction error adaround %.4g, nearest %.4g", c, ql.Name, ea, en)
			if ea > en {
				t.Errorf("%+v %s: adaround's reconstruction error %g > rounding to nearest's %g", c, ql.Name, ea, en)
			}
			if li == 0 {
				r := &rtn.Layers[0]
				er := naiveReconError(l, dequantized(r, r.Levels), fl[0].Weight, xf, xq, n)
				if ea > er {
					t.Errorf("%+v %s: adaround's reconstruction error %g > rtn's %g", c, ql.Name, ea, er)
				}
			}
		}
		if changed == 0 {
			t.Errorf("%+v: adaround rounded every weight to nearest", c)
		}
	}
}

// The regulariser drives h(V) to 0 or 1: at the start every weight's h is
// strictly between them (its fractional part), at the end nearly all are
// clipped.
func TestAdaRoundRegulariserBinarises(t *testing.T) {
	const n = 32
	f, x, y := adaFixture(t, n)
	m, err := Quantize(context.Background(), f, Options{Method: "mse", Bits: 3, CalibX: x, CalibLabels: y})
	if err != nil {
		t.Fatal(err)
	}
	fl, _ := quant.Fold(f)
	const li = 1 // conv2
	xf, xq, l := layerData(t, m, fl, x, n, li)
	o, err := AdaRoundOptions{Iters: 3000, LR: 0.01, Lambda: 0.1}.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	soft := func(ws []adaWeight) (in01 int) {
		for _, w := range ws {
			if w.step != 0 && w.hr > 0 && w.hr < 1 {
				in01++
			}
		}
		return in01
	}
	ql := m.Layers[li]
	ql.Levels = slices.Clone(ql.Levels)
	p := newAdaProblem(l, fl[li].Weight, xf, xq, n, min(o.BatchSize, n))
	init := o
	init.Iters = 0
	ws, err := p.optimise(context.Background(), &ql, fl[li].Weight, 3, init, li, 1)
	if err != nil {
		t.Fatal(err)
	}
	active := 0
	for _, w := range ws {
		if w.step != 0 {
			active++
		}
	}
	if s := soft(ws); s != active || active < len(ws)/2 {
		t.Fatalf("at the start %d of %d weights have 0 < h < 1, want all %d inside the range", s, len(ws), active)
	}
	ws, err = p.optimise(context.Background(), &ql, fl[li].Weight, 3, o, li, 1)
	if err != nil {
		t.Fatal(err)
	}
	if s := soft(ws); s > active/100 {
		t.Errorf("after %d steps %d of %d weights still have 0 < h < 1", o.Iters, s, active)
	}
}

// The same seed gives the same levels, whatever the thread count.
func TestAdaRoundDeterministic(t *testing.T) {
	const n = 48
	f, x, y := adaFixture(t, n)
	run := func(seed uint64, workers int) []int8 {
		m, err := Quantize(context.Background(), f, Options{Method: "adaround", Bits: 2, Granularity: quant.PerChannel, CalibX: x, CalibLabels: y,
			Workers: workers, AdaRound: AdaRoundOptions{Iters: 60, BatchSize: 8, LR: 0.05, Seed: seed}})
		if err != nil {
			t.Fatal(err)
		}
		return m.Flat()
	}
	a := run(1, 1)
	if b := run(1, 2); !slices.Equal(a, b) {
		t.Error("same seed, 1 and 2 workers: different levels")
	}
	if b := run(1, 1); !slices.Equal(a, b) {
		t.Error("same seed: different levels")
	}
}

func TestAdaRoundRejectsBadParameters(t *testing.T) {
	f, x, y := adaFixture(t, 8)
	inf := math.Inf(1)
	for _, c := range []struct {
		o     AdaRoundOptions
		field string
	}{
		{AdaRoundOptions{Iters: -1}, "iters"},
		{AdaRoundOptions{BatchSize: -3}, "batch_size"},
		{AdaRoundOptions{LR: -0.1}, "lr"},
		{AdaRoundOptions{LR: math.NaN()}, "lr"},
		{AdaRoundOptions{Lambda: inf}, "lambda"},
		{AdaRoundOptions{BetaEnd: 0.5}, "beta_end"},
		{AdaRoundOptions{BetaStart: 1.5}, "beta_start"},
		{AdaRoundOptions{BetaStart: -2}, "beta_start"},
		{AdaRoundOptions{WarmUp: 1}, "warm_up"},
		{AdaRoundOptions{WarmUp: -0.2}, "warm_up"},
	} {
		_, err := Quantize(context.Background(), f, Options{Method: "adaround", Bits: 2, CalibX: x, CalibLabels: y, AdaRound: c.o})
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !strings.Contains(err.Error(), "adaround: "+c.field) {
			t.Errorf("%+v: want an error naming %s, got %v", c.o, c.field, err)
		}
	}
	if _, err := Quantize(context.Background(), f, Options{Method: "adaround", Bits: 2}); err == nil || !strings.Contains(err.Error(), "calibration data") {
		t.Errorf("no calibration data: got %v", err)
	}
	o, err := AdaRoundOptions{}.WithDefaults()
	want := AdaRoundOptions{Iters: DefaultAdaRoundIters, BatchSize: DefaultAdaRoundBatch, LR: DefaultAdaRoundLR, Lambda: DefaultAdaRoundLambda,
		BetaStart: DefaultAdaRoundBetaStart, BetaEnd: DefaultAdaRoundBetaEnd, WarmUp: DefaultAdaRoundWarmUp}
	if err != nil || o.Iters != want.Iters || o.BatchSize != want.BatchSize || o.LR != want.LR || o.Lambda != want.Lambda ||
		o.BetaStart != want.BetaStart || o.BetaEnd != want.BetaEnd || o.WarmUp != want.WarmUp {
		t.Errorf("defaults: %+v, %v", o, err)
	}
}

// BenchmarkAdaRoundLeNet5 times AdaRound on a LeNet-5 with 1,024
// calibration images and 1,000 steps per layer (a tenth of the default);
// ns/op divided by 5,000 is the mean cost of a step.
func BenchmarkAdaRoundLeNet5(b *testing.B) {
	f := testFloatModel(b, "lenet5", lenetIn, 5)
	x, y := testData(f.Graph, 1024, 6)
	for b.Loop() {
		if _, err := Quantize(context.Background(), f, Options{Method: "adaround", Bits: 3, CalibX: x, CalibLabels: y, Workers: 1,
			AdaRound: AdaRoundOptions{Iters: 1000}}); err != nil {
			b.Fatal(err)
		}
	}
}

// At 1 bit the two choices of every weight are -1 and +1.
func TestAdaRoundOneBit(t *testing.T) {
	f, x, y := adaFixture(t, 16)
	m, err := Quantize(context.Background(), f, Options{Method: "adaround", Bits: 1, CalibX: x, CalibLabels: y,
		AdaRound: AdaRoundOptions{Iters: 30, BatchSize: 4, LR: 0.05}})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[int8]int{}
	for _, l := range m.Flat() {
		counts[l]++
	}
	if len(counts) != 2 || counts[-1] == 0 || counts[1] == 0 {
		t.Errorf("1-bit levels %v, want both -1 and +1 only", counts)
	}
}
