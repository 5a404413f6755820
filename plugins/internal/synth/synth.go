// Package synth is a synthetic test problem for the optimizers: a separable
// loss over levels with a known optimum, observed through noisy mini-batches
// the way the real evaluator's cross-entropy is. Mini-batch b weighs
// variable i by a_{b,i} = max(0, 1 + noise*g) with g standard normal, so
// candidates compared on one batch are ranked by a noisy but unbiased
// version of the true loss
//
//	L(x) = (1/N) sum_i (x_i - t_i)^2
//
// whose minimum 0 is at the target t. The start differs from t by one level
// on a chosen fraction of the variables.
package synth

import (
	"math/rand/v2"

	"github.com/ccq-project/ccq/plugins/optimizer"
)

// Problem is one synthetic instance.
type Problem struct {
	Target []int8
	Start  []int8
	Lo, Hi []int8
	Layers []optimizer.Layer
	Noise  float64
	Seed   uint64

	batch   uint64
	haveW   bool
	weights []float64
}

// New makes an instance with n variables in nLayers layers, 4-bit levels
// (-7..7), the start off by one level on a fraction wrong of the variables,
// and mini-batch noise of the given strength.
func New(n, nLayers int, wrong, noise float64, seed uint64) *Problem {
	r := rand.New(rand.NewPCG(seed, 1))
	p := &Problem{
		Target: make([]int8, n), Start: make([]int8, n),
		Lo: make([]int8, n), Hi: make([]int8, n),
		Noise: noise, Seed: seed, weights: make([]float64, n),
	}
	for i := 0; i < n; i++ {
		p.Lo[i], p.Hi[i] = -7, 7
		t := int8(r.IntN(15) - 7)
		p.Target[i] = t
		p.Start[i] = t
		if r.Float64() < wrong {
			switch {
			case t == 7:
				p.Start[i] = 6
			case t == -7:
				p.Start[i] = -6
			case r.IntN(2) == 0:
				p.Start[i] = t - 1
			default:
				p.Start[i] = t + 1
			}
		}
	}
	off := 0
	for l := 0; l < nLayers; l++ {
		c := n / nLayers
		if l == nLayers-1 {
			c = n - off
		}
		p.Layers = append(p.Layers, optimizer.Layer{Name: "layer" + string(rune('A'+l)), Offset: off, Count: c, Shape: []int{c}})
		off += c
	}
	return p
}

// Optimizer returns the optimizer.Problem for this instance.
func (p *Problem) Optimizer(seed uint64, params string) *optimizer.Problem {
	op := &optimizer.Problem{
		Layers: p.Layers, Start: append([]int8(nil), p.Start...),
		Lo: p.Lo, Hi: p.Hi, Seed: seed,
	}
	if params != "" {
		op.Params = []byte(params)
	}
	return op
}

// TrueLoss is the noise-free loss of a full solution.
func (p *Problem) TrueLoss(x []int8) float64 {
	s := 0.0
	for i, v := range x {
		d := float64(v - p.Target[i])
		s += d * d
	}
	return s / float64(len(x))
}

func (p *Problem) setBatch(b uint64) {
	if p.haveW && p.batch == b {
		return
	}
	r := rand.New(rand.NewPCG(p.Seed^0x9e3779b97f4a7c15, b))
	for i := range p.weights {
		w := 1 + p.Noise*r.NormFloat64()
		if w < 0 {
			w = 0
		}
		p.weights[i] = w
	}
	p.batch, p.haveW = b, true
}

// BatchLoss is the loss of a full solution on mini-batch b.
func (p *Problem) BatchLoss(b uint64, x []int8) float64 {
	p.setBatch(b)
	s := 0.0
	for i, v := range x {
		d := float64(v - p.Target[i])
		s += p.weights[i] * d * d
	}
	return s / float64(len(x))
}

// Score scores candidates (deltas against base) and the base on batch b,
// in time proportional to the deltas' sizes after one pass over the base.
func (p *Problem) Score(b uint64, base []int8, cands []optimizer.Delta, fit []float64) (baseFit float64) {
	fb := p.BatchLoss(b, base)
	n := float64(len(base))
	for k := range cands {
		f := fb * n
		d := &cands[k]
		for e, i := range d.Indices {
			old := float64(base[i] - p.Target[i])
			nw := float64(d.Levels[e] - p.Target[i])
			f += p.weights[i] * (nw*nw - old*old)
		}
		fit[k] = f / n
	}
	return fb
}
