package quant

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/ccq-project/ccq/nn"
)

// STEOptions configures QuantizeSTE.
type STEOptions struct {
	Bits        int
	Granularity Granularity
	ActBits     int     // activations are float during fine-tuning; with ActBits < 32 their scales are calibrated afterwards
	Epochs      int     // default 1
	BatchSize   int     // default 128
	LR          float64 // default 0.01 (cosine decay to 0)
	Momentum    float64 // default 0.9
	Seed        uint64
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
// quantization (scale: the MSE-optimal scale of the current weights,
// recomputed at the start of every epoch), and the gradient with respect to
// the quantized weights applied to the float shadow weights (SGD with
// momentum, cosine learning rate). The result is the quantization of the
// final shadow weights, flagged UsedFPGradients. Activations stay float
// during fine-tuning.
//
// It runs its own loop over nn.Model's Forward and Backward because
// nn.Trainer has no hook between the forward pass and the optimizer step.
func QuantizeSTE(ctx context.Context, f *FloatModel, train nn.Source, opt STEOptions) (*Model, error) {
	if err := CheckBits(opt.Bits); err != nil {
		return nil, fmt.Errorf("ste-qat: weight %w", err)
	}
	if opt.ActBits == 0 {
		opt.ActBits = FloatActBits
	}
	if err := CheckActBits(opt.ActBits); err != nil {
		return nil, fmt.Errorf("ste-qat: %w", err)
	}
	if opt.Granularity == "" {
		opt.Granularity = PerTensor
	}
	if _, err := ParseGranularity(string(opt.Granularity)); err != nil {
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
	if train == nil || train.Len() < 2 {
		return nil, fmt.Errorf("ste-qat: needs at least 2 training samples")
	}
	fl, err := Fold(f)
	if err != nil {
		return nil, fmt.Errorf("ste-qat: %w", err)
	}
	g2, err := withoutBatchNorm(f.Graph)
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
		scales []float32
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
		qp[i] = qparam{w: w, b: b, shadow: slices.Clone(l.Weight), mom: make([]float32, len(l.Weight)), bmom: make([]float32, len(l.Bias))}
	}
	groups := func(l FloatLayer) int {
		if opt.Granularity == PerChannel {
			return l.Shape[0]
		}
		return 1
	}
	setScales := func() {
		for i := range qp {
			ng := groups(fl[i])
			per := len(qp[i].shadow) / ng
			qp[i].scales = qp[i].scales[:0]
			for gi := 0; gi < ng; gi++ {
				qp[i].scales = append(qp[i].scales, mseScale(qp[i].shadow[gi*per:(gi+1)*per], opt.Bits))
			}
		}
	}
	quantizeInto := func(i int, dst []float32) {
		per := len(qp[i].shadow) / len(qp[i].scales)
		for j, v := range qp[i].shadow {
			s := qp[i].scales[j/per]
			dst[j] = s * float32(QuantizeWeight(v, s, opt.Bits))
		}
	}
	n := train.Len()
	bs := min(opt.BatchSize, n)
	perEpoch := n / bs
	total := perEpoch * opt.Epochs
	dim := g2.Input.Size()
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
				quantizeInto(i, qp[i].w.Data)
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
					p.mom[j] = mu*p.mom[j] + gr
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
	out := &Model{Graph: f.Graph, Bits: opt.Bits, Method: "ste-qat", Granularity: opt.Granularity, ActBits: opt.ActBits,
		UsedFPGradients: true, SourceDigest: opt.SourceDigest}
	final := make([]FloatLayer, len(fl))
	for i, l := range fl {
		ql := Layer{Name: l.Name, Node: l.Node, Shape: slices.Clone(l.Shape), Bias: slices.Clone(qp[i].b.Data),
			Scales: slices.Clone(qp[i].scales), Levels: make([]int8, len(l.Weight)), Act: ActQuant{Bits: FloatActBits}}
		per := len(l.Weight) / len(ql.Scales)
		for j, v := range qp[i].shadow {
			ql.Levels[j] = QuantizeWeight(v, ql.Scales[j/per], opt.Bits)
		}
		out.Layers = append(out.Layers, ql)
		final[i] = FloatLayer{Name: l.Name, Node: l.Node, Shape: l.Shape, Weight: qp[i].shadow, Bias: ql.Bias}
	}
	if opt.ActBits != FloatActBits {
		if len(opt.CalibLabels) == 0 || len(opt.CalibX) != len(opt.CalibLabels)*dim {
			return nil, fmt.Errorf("ste-qat: %d-bit activations need a calibration set of %d values per sample", opt.ActBits, dim)
		}
		acts, err := calibrateActs(ctx, f.Graph, final, Options{ActBits: opt.ActBits, CalibX: opt.CalibX, CalibLabels: opt.CalibLabels, Workers: opt.Workers})
		if err != nil {
			return nil, fmt.Errorf("ste-qat: %w", err)
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

// withoutBatchNorm returns a copy of g with its batch-norm nodes removed
// (their consumers read the convolution directly) and every convolution
// given a bias, for training with folded batch norm.
func withoutBatchNorm(g nn.Graph) (nn.Graph, error) {
	if err := checkFoldable(g); err != nil {
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
