// Package ste is ccq's gradient-based baseline: quantization-aware
// fine-tuning of a float network with a straight-through estimator
// (QuantizeSTE, the ste-qat method), weights and, below 32 activation bits,
// activations quantized while training. See quant/README.md.
package ste

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/engine"
)

// STEActivationRecipe names what QuantizeSTE does with activations below
// 32 bits: "qat-v1" is quantization-aware training with fixed scales
// calibrated on the float model (before it, fine-tuning kept activations
// float and calibrated the scales afterwards). Change it whenever that
// computation changes: the quantize stage puts it in the key of its ste-qat
// stages with quantized activations, so their old store entries stop being
// reused while every other entry stays valid.
const STEActivationRecipe = "qat-v1"

// STEOptions configures QuantizeSTE.
type STEOptions struct {
	Bits        int
	Granularity quant.Granularity
	// ActBits < 32 quantizes every quantized layer's input during
	// fine-tuning as the evaluator does (see QuantizeSTE); 32 (or 0)
	// keeps activations float.
	ActBits int
	// ActPercentile calibrates activation scales at this percentile of |x|
	// instead of the maximum (0: the maximum).
	ActPercentile float64
	// FloatActivations is the earlier recipe, kept as a contrast: with
	// ActBits < 32, fine-tune with float activations and calibrate the
	// activation scales afterwards on the fine-tuned float shadow weights.
	FloatActivations bool

	Epochs    int     // default 1
	BatchSize int     // default 128
	LR        float64 // default 0.01 (cosine decay to 0)
	Momentum  float64 // default 0.9
	Seed      uint64
	// Weights is the weight quantizer while fine-tuning: "dorefa"
	// (default) or "mse" (see QuantizeSTE).
	Weights string
	// Calibration samples for activation scales (needed when ActBits < 32).
	CalibX       []float32
	CalibLabels  []uint8
	SourceDigest string
	Workers      int
	// Progress, when set, gets the epoch and mean training loss.
	Progress func(epoch int, loss float64)
}

// QuantizeSTE is the gradient-based baseline (it uses full-precision
// gradients and shadow weights, unlike the evolutionary trainer):
// quantization-aware fine-tuning with a straight-through estimator. Batch
// norm is folded first; the network is then trained with its conv and
// linear weights replaced in every forward pass by their k-bit
// quantization, and the gradient with respect to the quantized weights
// brought back to the float shadow weights (SGD with momentum, cosine
// learning rate). Weight quantizers (per tensor or per output channel):
//
//   - "dorefa" (default), DoReFa-style: t = tanh(w) / max|tanh(w)|, level =
//     round(t * hi), weight = a * level / hi with a the least-squares fit
//     of the shadow weights (sum w*q / sum q*q, q = level/hi); the
//     gradient passes straight through the rounding and through tanh and
//     the normalisation (factor a * (1 - tanh(w)^2) / max|tanh(w)|);
//   - "mse": scale the MSE-optimal one of the current weights (recomputed
//     every epoch), level = round(w / scale), gradient straight through.
//
// With ActBits < 32 the activations are quantized during fine-tuning too
// (quantization-aware training of weights and activations): the input of
// every quantized layer goes through the evaluator's activation quantizer,
// x -> scale * clamp(round(x/scale), lo, hi) (unsigned after a ReLU,
// signed on the network input, see ActQuant), as an nn.OpFakeQuant node
// whose gradient passes straight through inside the clipping range and is
// zero outside. The scales are calibrated on the float model before
// fine-tuning, as the post-training methods calibrate theirs, stay fixed
// while training, and are the scales of the result, so the evaluator runs
// the network that was trained. FloatActivations restores the earlier
// recipe (float activations, scales calibrated afterwards).
//
// The result is the quantization of the final shadow weights, flagged
// UsedFPGradients.
//
// It runs its own loop over nn.Model's Forward and Backward because
// nn.Trainer has no hook between the forward pass and the optimizer step.
func QuantizeSTE(ctx context.Context, f *quant.FloatModel, train nn.Source, opt STEOptions) (*quant.Model, error) {
	if err := quant.CheckBits(opt.Bits); err != nil {
		return nil, fmt.Errorf("ste-qat: weight %w", err)
	}
	if opt.ActBits == 0 {
		opt.ActBits = quant.FloatActBits
	}
	if err := quant.CheckActBits(opt.ActBits); err != nil {
		return nil, fmt.Errorf("ste-qat: %w", err)
	}
	if opt.Granularity == "" {
		opt.Granularity = quant.PerTensor
	}
	if _, err := quant.ParseGranularity(string(opt.Granularity)); err != nil {
		return nil, fmt.Errorf("ste-qat: %w", err)
	}
	if opt.Epochs <= 0 {
		opt.Epochs = 1
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = 128
	}
	if opt.LR <= 0 {
		opt.LR = 0.01
	}
	if opt.Momentum == 0 {
		opt.Momentum = 0.9
	}
	if opt.Weights == "" {
		opt.Weights = "dorefa"
	}
	if opt.Weights != "dorefa" && opt.Weights != "mse" {
		return nil, fmt.Errorf("ste-qat: weight quantizer %q: expected dorefa or mse", opt.Weights)
	}
	if train == nil || train.Len() < 2 {
		return nil, fmt.Errorf("ste-qat: needs at least 2 training samples")
	}
	fl, err := quant.Fold(f)
	if err != nil {
		return nil, fmt.Errorf("ste-qat: %w", err)
	}
	dim := f.Graph.Input.Size()
	qat := opt.ActBits != quant.FloatActBits && !opt.FloatActivations
	if opt.ActBits != quant.FloatActBits && (len(opt.CalibLabels) == 0 || len(opt.CalibX) != len(opt.CalibLabels)*dim) {
		return nil, fmt.Errorf("ste-qat: %d-bit activations need a calibration set of %d values per sample", opt.ActBits, dim)
	}
	calibOpt := engine.ActCalibration{Bits: opt.ActBits, Percentile: opt.ActPercentile, X: opt.CalibX, Labels: opt.CalibLabels, Workers: opt.Workers}
	var acts []quant.ActQuant
	if qat {
		if acts, err = engine.CalibrateActs(ctx, f.Graph, fl, calibOpt); err != nil {
			return nil, fmt.Errorf("ste-qat: %w", err)
		}
	}
	g2, err := trainingGraph(f.Graph, fl, acts)
	if err != nil {
		return nil, fmt.Errorf("ste-qat: %w", err)
	}
	m, err := nn.NewModel(g2, opt.Seed)
	if err != nil {
		return nil, fmt.Errorf("ste-qat: %w", err)
	}
	defer m.Close()
	if opt.Workers > 0 {
		m.SetThreads(opt.Workers)
	}
	type qparam struct {
		w, b   *nn.Param
		shadow []float32
		scales []float32 // per group: the scale of the current quantization
		mse    []float32 // per group: MSE-optimal scale (mse scheme)
		levels []int8
		gfac   []float32 // d quantized weight / d shadow weight
		mom    []float32
		bmom   []float32
	}
	qp := make([]qparam, len(fl))
	for i, l := range fl {
		w, b := m.Param(l.Name+".weight"), m.Param(l.Name+".bias")
		if w == nil || b == nil || len(w.Data) != len(l.Weight) || len(b.Data) != len(l.Bias) {
			return nil, fmt.Errorf("ste-qat: layer %q: parameters missing in the batch-norm-free model", l.Name)
		}
		copy(w.Data, l.Weight)
		copy(b.Data, l.Bias)
		qp[i] = qparam{w: w, b: b, shadow: slices.Clone(l.Weight), mom: make([]float32, len(l.Weight)), bmom: make([]float32, len(l.Bias)),
			levels: make([]int8, len(l.Weight)), gfac: make([]float32, len(l.Weight))}
	}
	groups := func(l quant.FloatLayer) int {
		if opt.Granularity == quant.PerChannel {
			return l.Shape[0]
		}
		return 1
	}
	setScales := func() {
		for i := range qp {
			ng := groups(fl[i])
			per := len(qp[i].shadow) / ng
			qp[i].mse = qp[i].mse[:0]
			for gi := 0; gi < ng; gi++ {
				qp[i].mse = append(qp[i].mse, quant.MSEScale(qp[i].shadow[gi*per:(gi+1)*per], opt.Bits))
			}
		}
	}
	// quantize sets the layer's levels, scales and gradient factors from
	// its shadow weights and, when dst is not nil, writes the quantized
	// weights there.
	quantize := func(i int, dst []float32) {
		p := &qp[i]
		ng := groups(fl[i])
		per := len(p.shadow) / ng
		p.scales = p.scales[:0]
		for gi := 0; gi < ng; gi++ {
			r := gi * per
			s := steQuantize(opt.Weights, p.shadow[r:r+per], opt.Bits, p.mse[gi], p.levels[r:r+per], p.gfac[r:r+per])
			p.scales = append(p.scales, s)
			if dst != nil {
				for j := r; j < r+per; j++ {
					dst[j] = s * float32(p.levels[j])
				}
			}
		}
	}
	n := train.Len()
	bs := min(opt.BatchSize, n)
	perEpoch := n / bs
	total := perEpoch * opt.Epochs
	x := make([]float32, bs*dim)
	y := make([]uint8, bs)
	dl := make([]float32, bs*g2.Classes)
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x9e3779b97f4a7c15))
	it := 0
	for epoch := 1; epoch <= opt.Epochs; epoch++ {
		setScales()
		rng.Shuffle(n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		var lossSum float64
		for b := 0; b < perEpoch; b++ {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("ste-qat: %w", err)
			}
			train.Batch(perm[b*bs:(b+1)*bs], x, y)
			for i := range qp {
				quantize(i, qp[i].w.Data)
			}
			logits := m.Forward(x, bs, true)
			loss := nn.SoftmaxCrossEntropy(logits, y, bs, g2.Classes, dl)
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return nil, fmt.Errorf("ste-qat: loss is %v in epoch %d, batch %d: lower the learning rate", loss, epoch, b+1)
			}
			m.Backward(dl)
			lr := float32(opt.LR * 0.5 * (1 + math.Cos(math.Pi*float64(it)/float64(total))))
			mu := float32(opt.Momentum)
			// Straight-through: the gradient with respect to the quantized
			// weights updates the shadow weights.
			for i := range qp {
				p := &qp[i]
				for j, gr := range p.w.Grad {
					p.mom[j] = mu*p.mom[j] + gr*p.gfac[j]
					p.shadow[j] -= lr * p.mom[j]
				}
				for j, gr := range p.b.Grad {
					p.bmom[j] = mu*p.bmom[j] + gr
					p.b.Data[j] -= lr * p.bmom[j]
				}
			}
			lossSum += loss
			it++
		}
		if opt.Progress != nil {
			opt.Progress(epoch, lossSum/float64(max(perEpoch, 1)))
		}
	}
	setScales()
	for i := range qp {
		quantize(i, nil)
	}
	out := &quant.Model{Graph: f.Graph, Bits: opt.Bits, Method: "ste-qat", Granularity: opt.Granularity, ActBits: opt.ActBits,
		UsedFPGradients: true, SourceDigest: opt.SourceDigest}
	final := make([]quant.FloatLayer, len(fl))
	for i, l := range fl {
		ql := quant.Layer{Name: l.Name, Node: l.Node, Shape: slices.Clone(l.Shape), Bias: slices.Clone(qp[i].b.Data),
			Scales: slices.Clone(qp[i].scales), Levels: slices.Clone(qp[i].levels), Act: quant.ActQuant{Bits: quant.FloatActBits}}
		out.Layers = append(out.Layers, ql)
		final[i] = quant.FloatLayer{Name: l.Name, Node: l.Node, Shape: l.Shape, Weight: qp[i].shadow, Bias: ql.Bias}
	}
	if opt.ActBits != quant.FloatActBits {
		if !qat {
			// The earlier recipe: scales calibrated after the fact.
			if acts, err = engine.CalibrateActs(ctx, f.Graph, final, calibOpt); err != nil {
				return nil, fmt.Errorf("ste-qat: %w", err)
			}
		}
		for i := range out.Layers {
			out.Layers[i].Act = acts[i]
		}
	}
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("ste-qat: %w", err)
	}
	return out, nil
}

// steQuantize quantizes one group of shadow weights w with the scheme
// ("dorefa" or "mse", whose scale is mseS): it writes the levels and the
// derivative of each quantized weight with respect to its shadow weight
// (straight through the rounding), and returns the scale (weight = scale *
// level).
func steQuantize(scheme string, w []float32, bits int, mseS float32, levels []int8, gfac []float32) float32 {
	if scheme == "mse" {
		for j, v := range w {
			levels[j] = quant.QuantizeWeight(v, mseS, bits)
			gfac[j] = 1
		}
		return mseS
	}
	_, hi := quant.LevelRange(bits)
	var m float64
	for _, v := range w {
		m = max(m, math.Abs(math.Tanh(float64(v))))
	}
	if m == 0 {
		for j := range w {
			levels[j] = quant.QuantizeWeight(0, 1, bits)
			gfac[j] = 0
		}
		return 1e-8
	}
	var wq, qq float64
	for j, v := range w {
		t := math.Tanh(float64(v)) / m
		levels[j] = quant.QuantizeWeight(float32(t), 1/float32(hi), bits)
		q := float64(levels[j]) / float64(hi)
		wq += float64(v) * q
		qq += q * q
	}
	a := 1e-8
	if qq > 0 && wq > 0 {
		a = wq / qq
	}
	for j, v := range w {
		th := math.Tanh(float64(v))
		gfac[j] = float32(a * (1 - th*th) / m)
	}
	return quant.SafeScale(a / float64(hi))
}

// trainingGraph returns the graph ste-qat fine-tunes: g without its batch
// norms (folded into the layers fl) and, when acts is not nil, with each
// layer's input going through its activation quantizer acts[i] as an
// nn.OpFakeQuant node computing what the evaluator computes.
func trainingGraph(g nn.Graph, fl []quant.FloatLayer, acts []quant.ActQuant) (nn.Graph, error) {
	g2, err := withoutBatchNorm(g)
	if err != nil || acts == nil {
		return g2, err
	}
	q := make(map[string]nn.FakeQuant, len(fl))
	for i, l := range fl {
		q[l.Name] = fakeQuant(acts[i])
	}
	return nn.InsertFakeQuant(g2, q)
}

// fakeQuant is the float32 twin of an enabled activation quantizer: the
// evaluator keeps the level clamp(round(x * (1/Scale)), lo, hi) and
// multiplies the layer's output by Scale, which is the layer applied to
// Scale * level.
func fakeQuant(a quant.ActQuant) nn.FakeQuant {
	lo, hi := a.Levels()
	return nn.FakeQuant{Lo: int(lo), Hi: int(hi), Scale: a.Scale, Binary: a.Signed && a.Bits <= 1}
}

// withoutBatchNorm returns a copy of g with its batch-norm nodes removed
// (their consumers read the convolution directly) and every convolution
// given a bias, for training with folded batch norm.
func withoutBatchNorm(g nn.Graph) (nn.Graph, error) {
	if err := quant.CheckFoldable(g); err != nil {
		return nn.Graph{}, err
	}
	out := nn.Graph{Arch: g.Arch, Input: g.Input, Classes: g.Classes}
	newIdx := make([]int, len(g.Nodes))
	for i, n := range g.Nodes {
		if n.Op == nn.OpBatchNorm {
			newIdx[i] = newIdx[n.Inputs[0]]
			continue
		}
		n.Inputs = slices.Clone(n.Inputs)
		for k, u := range n.Inputs {
			n.Inputs[k] = newIdx[u]
		}
		if n.Op == nn.OpConv {
			n.HasBias = true
		}
		newIdx[i] = len(out.Nodes)
		out.Nodes = append(out.Nodes, n)
	}
	if err := out.Validate(); err != nil {
		return nn.Graph{}, err
	}
	return out, nil
}
