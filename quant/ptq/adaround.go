package ptq

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/ccq-project/ccq/nn/gemm"
	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/engine"
)

// AdaRound's defaults: the values of Nagel et al., "Up or Down? Adaptive
// Rounding for Post-Training Quantization" (ICML 2020). The paper's 1,024
// calibration images are the calibration set's default size everywhere in
// ccq (Options.CalibX holds them).
const (
	DefaultAdaRoundIters     = 10000 // Adam steps per layer
	DefaultAdaRoundBatch     = 32    // calibration images per step
	DefaultAdaRoundLR        = 1e-3  // Adam learning rate
	DefaultAdaRoundLambda    = 0.01  // weight of the rounding regulariser
	DefaultAdaRoundBetaStart = 20.0  // regulariser exponent when it switches on
	DefaultAdaRoundBetaEnd   = 2.0   // regulariser exponent at the last step
	DefaultAdaRoundWarmUp    = 0.2   // fraction of the steps without the regulariser
)

// The rectified sigmoid's stretch: h(V) = clip(sigmoid(V)*(zeta-gamma)+gamma, 0, 1).
const (
	adaZeta  = 1.1
	adaGamma = -0.1
)

// adaGramBudget caps the memory (bytes) of the per-sample Gram matrices a
// layer may use instead of its stored inputs.
const adaGramBudget = 512 << 20

// AdaRoundOptions are AdaRound's hyper-parameters. A zero field takes its
// default (DefaultAdaRound*).
type AdaRoundOptions struct {
	Iters     int     // Adam steps per layer
	BatchSize int     // calibration images per step (capped at the calibration set)
	LR        float64 // Adam learning rate
	Lambda    float64 // weight of the rounding regulariser
	// The regulariser sum(1 - |2h(V)-1|^beta) is off for the first WarmUp
	// fraction of the steps; beta then decays linearly from BetaStart to
	// BetaEnd.
	BetaStart, BetaEnd float64
	WarmUp             float64
	// Seed picks the calibration images of every step.
	Seed uint64
	// Progress, when set, is called after each layer with the number of
	// layers done, their total and the layer's name.
	Progress func(done, total int, name string)
}

// FieldError is a bad parameter: Field is its name (the key of the
// quantize stage's method_params: iters, batch_size, lr, lambda,
// beta_start, beta_end, warm_up).
type FieldError struct {
	Field string
	Msg   string
}

// Error names the field and what is wrong with it.
func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// WithDefaults returns o with its zero fields set to the defaults, or a
// *FieldError naming the first bad field.
func (o AdaRoundOptions) WithDefaults() (AdaRoundOptions, error) {
	nonNeg := func(field string, v float64) error {
		if !(v >= 0) || math.IsInf(v, 0) {
			return &FieldError{field, fmt.Sprintf("%g: expected a finite number >= 0 (0: the default)", v)}
		}
		return nil
	}
	switch {
	case o.Iters < 0:
		return o, &FieldError{"iters", fmt.Sprintf("%d: expected an integer >= 1 (0: the default, %d)", o.Iters, DefaultAdaRoundIters)}
	case o.BatchSize < 0:
		return o, &FieldError{"batch_size", fmt.Sprintf("%d: expected an integer >= 1 (0: the default, %d)", o.BatchSize, DefaultAdaRoundBatch)}
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"lr", o.LR}, {"lambda", o.Lambda}, {"beta_start", o.BetaStart}, {"beta_end", o.BetaEnd}, {"warm_up", o.WarmUp}} {
		if err := nonNeg(f.name, f.v); err != nil {
			return o, err
		}
	}
	if o.WarmUp >= 1 {
		return o, &FieldError{"warm_up", fmt.Sprintf("%g: expected a fraction of the steps in [0, 1)", o.WarmUp)}
	}
	def := func(p *float64, d float64) {
		if *p == 0 {
			*p = d
		}
	}
	if o.Iters == 0 {
		o.Iters = DefaultAdaRoundIters
	}
	if o.BatchSize == 0 {
		o.BatchSize = DefaultAdaRoundBatch
	}
	def(&o.LR, DefaultAdaRoundLR)
	def(&o.Lambda, DefaultAdaRoundLambda)
	def(&o.BetaStart, DefaultAdaRoundBetaStart)
	def(&o.BetaEnd, DefaultAdaRoundBetaEnd)
	def(&o.WarmUp, DefaultAdaRoundWarmUp)
	if o.BetaEnd < 1 {
		return o, &FieldError{"beta_end", fmt.Sprintf("%g: expected a value >= 1 (below 1 the regulariser's gradient is infinite at h = 1/2)", o.BetaEnd)}
	}
	if o.BetaStart < o.BetaEnd {
		return o, &FieldError{"beta_start", fmt.Sprintf("%g: expected a value >= beta_end (%g): beta is annealed downwards", o.BetaStart, o.BetaEnd)}
	}
	return o, nil
}

// adaRound replaces the levels of m (whose scales and activation
// quantizers are set) layer by layer in graph order with AdaRound's: each
// layer's rounding is learnt on the calibration set against the float
// network's pre-activation output of that layer, the layer's input coming
// from the already rounded preceding layers (with their activations
// quantized when m's are), as in the paper's asymmetric reconstruction.
func adaRound(ctx context.Context, m *quant.Model, fl []quant.FloatLayer, opt Options) error {
	ao := opt.AdaRound
	n := len(opt.CalibLabels)
	fr, err := engine.NewFloatProbe(m.Graph, fl, opt.Workers)
	if err != nil {
		return err
	}
	for li := range m.Layers {
		xf, err := fr.LayerInputs(ctx, li, opt.CalibX, n)
		if err != nil {
			return fmt.Errorf("layer %s: float inputs: %w", fl[li].Name, err)
		}
		qr, err := engine.NewModelProbe(m, opt.Workers)
		if err != nil {
			return err
		}
		xq, err := qr.LayerInputs(ctx, li, opt.CalibX, n)
		if err != nil {
			return fmt.Errorf("layer %s: quantized inputs: %w", fl[li].Name, err)
		}
		geo := qr.Geometry(li)
		p := newAdaProblem(&geo, fl[li].Weight, xf, xq, n, min(ao.BatchSize, n))
		ql := &m.Layers[li]
		if _, err := p.optimise(ctx, ql, fl[li].Weight, m.Bits, ao, uint64(li), qr.Workers()); err != nil {
			return fmt.Errorf("layer %s: %w", fl[li].Name, err)
		}
		if ao.Progress != nil {
			ao.Progress(li+1, len(m.Layers), ql.Name)
		}
	}
	return nil
}

// adaProblem is one layer's reconstruction problem on the calibration set:
// find rounded weights W~ minimising the mean over samples and output
// positions of |W~ xq - W xf|^2 (squared norm over output channels), W the
// float weights, xf the float network's input patch and xq the quantized
// network's. The bias is the same on both sides and cancels.
//
// A step's gradient is 2/(B*P) (W~ Xq - Y) Xq^T over the step's B samples
// (P output positions each; Xq their input patches as columns, Y = W Xf).
// When it is cheaper (convolutions with many positions per sample) it is
// computed as 2/(B*P) (W~ sum G_i - sum T_i) from per-sample matrices
// G_i = Xq_i Xq_i^T and T_i = Y_i Xq_i^T computed once: the same gradient
// with fewer operations per step.
type adaProblem struct {
	l              *engine.LayerGeometry
	out, ckk, p, n int
	bs             int
	gram           bool
	g, t           []float32 // gram: n x ckk x ckk and n x out x ckk
	xq, y          []float32 // direct: n x inputs and n x out x p
	cols, res      []float32 // direct scratch: ckk x bs*p, out x bs*p
	gb, tb         []float32 // gram scratch: ckk x ckk, out x ckk
}

func newAdaProblem(l *engine.LayerGeometry, w, xf, xq []float32, n, bs int) *adaProblem {
	a := &adaProblem{l: l, out: l.Out, ckk: l.CKK, p: l.OutShape.H * l.OutShape.W, n: n, bs: bs}
	out, ckk, p := a.out, a.ckk, a.p
	gramCost := (bs + out) * ckk * ckk
	directCost := 2*out*ckk*bs*p + bs*ckk*p
	a.gram = gramCost < directCost && n*(ckk*ckk+out*ckk)*4 <= adaGramBudget
	size := l.InShape.Size()
	cf := make([]float32, ckk*p)
	cq := make([]float32, ckk*p)
	a.y = make([]float32, n*out*p)
	for i := 0; i < n; i++ {
		a.im2col(xf[i*size:(i+1)*size], cf, p)
		gemm.Sgemm(false, false, out, p, ckk, 1, w, ckk, cf, p, 0, a.y[i*out*p:], p)
	}
	if !a.gram {
		a.xq = xq
		a.cols = make([]float32, ckk*bs*p)
		a.res = make([]float32, out*bs*p)
		return a
	}
	a.g = make([]float32, n*ckk*ckk)
	a.t = make([]float32, n*out*ckk)
	for i := 0; i < n; i++ {
		a.im2col(xq[i*size:(i+1)*size], cq, p)
		gemm.Sgemm(false, true, ckk, ckk, p, 1, cq, p, cq, p, 0, a.g[i*ckk*ckk:], ckk)
		gemm.Sgemm(false, true, out, ckk, p, 1, a.y[i*out*p:], p, cq, p, 0, a.t[i*out*ckk:], ckk)
	}
	a.y = nil
	a.gb = make([]float32, ckk*ckk)
	a.tb = make([]float32, out*ckk)
	a.res = make([]float32, out*ckk)
	return a
}

// im2col unfolds one sample's input x into dst (ckk rows of stride ld).
func (a *adaProblem) im2col(x, dst []float32, ld int) {
	l := a.l
	if !l.Conv {
		for r, v := range x {
			dst[r*ld] = v
		}
		return
	}
	gemm.Im2colStrided(x, l.In, l.InShape.H, l.InShape.W, l.K, l.Stride, l.Pad, dst, ld)
}

// gradient writes d loss / d W~ for the samples idx into grad.
func (a *adaProblem) gradient(wt []float32, idx []int, grad []float32) {
	out, ckk, p := a.out, a.ckk, a.p
	c := float32(2 / float64(len(idx)*p))
	if a.gram {
		clear(a.gb)
		clear(a.tb)
		for _, i := range idx {
			gemm.Axpy(1, a.g[i*ckk*ckk:(i+1)*ckk*ckk], a.gb)
			gemm.Axpy(1, a.t[i*out*ckk:(i+1)*out*ckk], a.tb)
		}
		gemm.Sgemm(false, false, out, ckk, ckk, 1, wt, ckk, a.gb, ckk, 0, a.res, ckk)
		for j := range grad {
			grad[j] = c * (a.res[j] - a.tb[j])
		}
		return
	}
	size := a.l.InShape.Size()
	ld := len(idx) * p
	for b, i := range idx {
		a.im2col(a.xq[i*size:(i+1)*size], a.cols[b*p:], ld)
		for o := 0; o < out; o++ {
			copy(a.res[o*ld+b*p:o*ld+(b+1)*p], a.y[(i*out+o)*p:(i*out+o+1)*p])
		}
	}
	// res = W~ cols - Y, then grad = c * res cols^T.
	gemm.Sgemm(false, false, out, ld, ckk, 1, wt, ckk, a.cols, ld, -1, a.res, ld)
	gemm.Sgemm(false, true, out, ckk, ld, c, a.res, ld, a.cols, ld, 0, grad, ckk)
}

// adaInit returns the lower level of a weight w with scale s, the step d
// (0: the weight is clipped to a bound and its rounding is fixed; 1; 2 for
// 1-bit weights, whose levels are -1 and +1) and the initial V, at which
// s*(lower + d*h(V)) = w.
func adaInit(w, s float32, bits int) (lower int8, d int8, v float64) {
	lo, hi := quant.LevelRange(bits)
	x := float64(w) / float64(s)
	var frac float64
	if bits <= 1 {
		lower, d = -1, 2
		frac = min(max((x+1)/2, 0), 1)
	} else {
		f := math.Floor(x)
		switch {
		case !(f >= float64(lo)): // also NaN
			return int8(lo), 0, 0
		case f >= float64(hi):
			return int8(hi), 0, 0
		}
		lower, d, frac = int8(f), 1, x-f
	}
	// h(V) = frac: sigmoid(V) = (frac - gamma) / (zeta - gamma), in (0, 1).
	q := (frac - adaGamma) / (adaZeta - adaGamma)
	return lower, d, math.Log(q / (1 - q))
}

// optimise learns the rounding of layer ql (scales set) from its float
// weights w and writes its levels; layer seeds the choice of samples. It
// returns the final rounding variables. The per-weight updates of large
// layers run on workers goroutines.
func (a *adaProblem) optimise(ctx context.Context, ql *quant.Layer, w []float32, bits int, o AdaRoundOptions, layer uint64, workers int) ([]adaWeight, error) {
	nw := a.out * a.ckk
	ws := make([]adaWeight, nw)
	wt := make([]float32, nw)
	grad := make([]float32, nw)
	for j := range ws {
		s := ql.Scale(j / a.ckk)
		lower, step, v := adaInit(w[j], s, bits)
		ws[j] = adaWeight{v: v, scale: float64(s), lower: float64(lower), step: float64(step)}
		wt[j] = ws[j].setH()
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0xada0+layer))
	perm := make([]int, a.n)
	for i := range perm {
		perm[i] = i
	}
	warm := int(o.WarmUp * float64(o.Iters))
	for it := 0; it < o.Iters; it++ {
		if it%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		// bs distinct samples: a partial Fisher-Yates shuffle.
		for k := 0; k < a.bs; k++ {
			r := k + rng.IntN(a.n-k)
			perm[k], perm[r] = perm[r], perm[k]
		}
		a.gradient(wt, perm[:a.bs], grad)
		reg := it >= warm
		beta, lam2b := 0.0, 0.0
		if reg {
			rel := float64(it-warm) / float64(max(o.Iters-warm, 1))
			beta = o.BetaEnd + (o.BetaStart-o.BetaEnd)*(1-rel)
			lam2b = o.Lambda * 2 * beta
		}
		step := o.LR / (1 - math.Pow(adamBeta1, float64(it+1)))
		bc2 := 1 / math.Sqrt(1-math.Pow(adamBeta2, float64(it+1)))
		u := adaUpdate{reg: reg, betaM1: beta - 1, lam2b: lam2b, step: step, bc2: bc2}
		if workers <= 1 || nw < adaParallelMin {
			u.apply(ws, grad, wt)
			continue
		}
		var wg sync.WaitGroup
		per := (nw + workers - 1) / workers
		for lo := 0; lo < nw; lo += per {
			hi := min(lo+per, nw)
			wg.Add(1)
			go func() {
				defer wg.Done()
				u.apply(ws[lo:hi], grad[lo:hi], wt[lo:hi])
			}()
		}
		wg.Wait()
	}
	for j := range ws {
		up := 0.0
		if ws[j].v >= 0 { // h(V) >= 1/2
			up = 1
		}
		ql.Levels[j] = int8(ws[j].lower + ws[j].step*up)
	}
	return ws, nil
}

// adaParallelMin is the smallest layer whose per-weight updates are split
// across goroutines (each weight's update is independent, so the result
// does not depend on the split).
const adaParallelMin = 8192

// adaUpdate is one Adam step of the rounding variables.
type adaUpdate struct {
	reg           bool    // the regulariser is on
	betaM1, lam2b float64 // beta-1 and 2*lambda*beta
	step, bc2     float64 // lr / (1-beta1^t) and 1/sqrt(1-beta2^t)
}

// Adam's constants, as torch.optim.Adam's defaults.
const adamBeta1, adamBeta2, adamEps = 0.9, 0.999, 1e-8

// apply updates the rounding variables ws from the reconstruction
// gradient grad (d loss / d weight) and writes the new soft weights to wt.
func (u *adaUpdate) apply(ws []adaWeight, grad, wt []float32) {
	for j := range ws {
		x := &ws[j]
		if x.step == 0 {
			continue // clipped to a bound: V has no effect and no gradient
		}
		var gv float64
		if x.hr > 0 && x.hr < 1 {
			gh := float64(grad[j]) * x.scale * x.step
			if u.reg {
				// d/dh of lambda*(1 - |2h-1|^beta).
				d := 2*x.hr - 1
				if ad := math.Abs(d); ad > 0 {
					gh -= math.Copysign(u.lam2b*math.Exp(u.betaM1*math.Log(ad)), d)
				}
			}
			gv = gh * (adaZeta - adaGamma) * x.sig * (1 - x.sig)
		}
		x.m1 = adamBeta1*x.m1 + (1-adamBeta1)*gv
		x.m2 = adamBeta2*x.m2 + (1-adamBeta2)*gv*gv
		x.v -= u.step * x.m1 / (math.Sqrt(x.m2)*u.bc2 + adamEps)
		wt[j] = x.setH()
	}
}

// adaWeight is one weight's rounding variable V, its Adam moments and its
// current relaxation.
type adaWeight struct {
	v, m1, m2   float64
	sig, hr     float64 // sigmoid(V) and h(V) before clipping
	scale       float64
	lower, step float64 // weight = scale * (lower + step*h(V))
}

// adaClipV is the V beyond which h(V) is clipped to 0 or 1: sigmoid(V) =
// (1-gamma)/(zeta-gamma) = 11/12 at V = ln 11 (and 1/12 at -ln 11).
var adaClipV = math.Log((1 - adaGamma) / (adaZeta - 1))

// setH updates sig and hr from V and returns the soft-rounded weight.
// Where h(V) is clipped, hr is set to 0 or 1 without computing the sigmoid
// (it has no gradient there).
func (x *adaWeight) setH() float32 {
	switch {
	case x.step == 0:
		return float32(x.scale * x.lower)
	case x.v >= adaClipV:
		x.hr = 1
		return float32(x.scale * (x.lower + x.step))
	case x.v <= -adaClipV:
		x.hr = 0
		return float32(x.scale * x.lower)
	}
	x.sig = 1 / (1 + math.Exp(-x.v))
	x.hr = x.sig*(adaZeta-adaGamma) + adaGamma
	return float32(x.scale * (x.lower + x.step*min(max(x.hr, 0), 1)))
}
