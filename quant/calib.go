package quant

import (
	"context"
	"fmt"
	"math"

	"github.com/ccq-project/ccq/nn"
)

// ActCalibration says how CalibrateActs calibrates activation quantizers.
type ActCalibration struct {
	Bits int // activation bits, 1..8
	// Percentile, when in (0, 100), maps this percentile of |x| to the
	// largest level instead of the maximum.
	Percentile float64
	// X and Labels are the calibration samples (NCHW float32, normalized).
	X       []float32
	Labels  []uint8
	Workers int // goroutines (GOMAXPROCS when <= 0)
}

// CalibrateActs runs the float network on the calibration batch and returns
// every layer's input quantizer: unsigned when its input is non-negative by
// construction (after a ReLU), signed otherwise; the scale maps the maximum
// |x| seen (or its Percentile-th percentile) to the largest level.
func CalibrateActs(ctx context.Context, g nn.Graph, fl []FloatLayer, cal ActCalibration) ([]ActQuant, error) {
	r, err := NewFloatProbe(g, fl, cal.Workers)
	if err != nil {
		return nil, fmt.Errorf("activation calibration: %w", err)
	}
	nw := r.Workers()
	usePct := cal.Percentile > 0 && cal.Percentile < 100
	maxes := make([][]float64, nw)
	vals := make([][][]float64, nw)
	for i := range maxes {
		maxes[i] = make([]float64, len(fl))
		vals[i] = make([][]float64, len(fl))
	}
	onInput := func(wid, li int, x []float32, bc int) {
		m := maxes[wid][li]
		for _, v := range x {
			a := math.Abs(float64(v))
			if a > m {
				m = a
			}
			if usePct {
				vals[wid][li] = append(vals[wid][li], a)
			}
		}
		maxes[wid][li] = m
	}
	if err := r.Run(ctx, cal.X, cal.Labels, onInput, nil); err != nil {
		return nil, fmt.Errorf("activation calibration: %w", err)
	}
	nonneg := nonNegative(g)
	acts := make([]ActQuant, len(fl))
	for li := range fl {
		in := g.Nodes[fl[li].Node].Inputs[0]
		a := ActQuant{Bits: cal.Bits, Signed: !nonneg[in]}
		var c float64
		if usePct {
			var all []float64
			for wid := range vals {
				all = append(all, vals[wid][li]...)
			}
			c = percentile(all, cal.Percentile)
		} else {
			for wid := range maxes {
				c = max(c, maxes[wid][li])
			}
		}
		a.Scale = a.scaleFor(c)
		acts[li] = a
	}
	return acts, nil
}

// channelMeans runs a network and returns the mean output of layer li per
// output channel (over samples and positions).
func channelMeans(ctx context.Context, r *Probe, li int, x []float32, labels []uint8) ([]float64, error) {
	l := r.Geometry(li)
	sums := make([][]float64, r.Workers())
	for i := range sums {
		sums[i] = make([]float64, l.Out)
	}
	per := l.OutShape.H * l.OutShape.W
	onOutput := func(wid, layer int, y []float32, bc int) {
		if layer != li {
			return
		}
		for o := 0; o < l.Out; o++ {
			var s float64
			for _, v := range y[o*per*bc : (o+1)*per*bc] {
				s += float64(v)
			}
			sums[wid][o] += s
		}
	}
	if err := r.Run(ctx, x, labels, nil, onOutput); err != nil {
		return nil, err
	}
	means := make([]float64, l.Out)
	cnt := float64(per * len(labels))
	for o := range means {
		for wid := range sums {
			means[o] += sums[wid][o]
		}
		means[o] /= cnt
	}
	return means, nil
}

// maxBiasCorrSamples caps the calibration samples bias correction uses (it
// runs the network once per layer).
const maxBiasCorrSamples = 512

// correctBiases adjusts each layer's bias in graph order so that its mean
// output per channel on the calibration batch, with every earlier layer
// already quantized and corrected, equals the float network's.
func correctBiases(ctx context.Context, m *Model, fl []FloatLayer, opt Options) error {
	x, labels := opt.CalibX, opt.CalibLabels
	if len(labels) > maxBiasCorrSamples {
		d := m.Graph.Input.Size()
		x, labels = x[:maxBiasCorrSamples*d], labels[:maxBiasCorrSamples]
	}
	fr, err := NewFloatProbe(m.Graph, fl, opt.Workers)
	if err != nil {
		return err
	}
	for li := range m.Layers {
		want, err := channelMeans(ctx, fr, li, x, labels)
		if err != nil {
			return err
		}
		qr, err := NewModelProbe(m, opt.Workers)
		if err != nil {
			return err
		}
		got, err := channelMeans(ctx, qr, li, x, labels)
		if err != nil {
			return err
		}
		for o := range m.Layers[li].Bias {
			m.Layers[li].Bias[o] += float32(want[o] - got[o])
		}
	}
	return nil
}
