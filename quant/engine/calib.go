package engine

import (
	"github.com/ccq-project/ccq/quant"

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
func CalibrateActs(ctx context.Context, g nn.Graph, fl []quant.FloatLayer, cal ActCalibration) ([]quant.ActQuant, error) {
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
	nonneg := quant.NonNegativeOutputs(g)
	acts := make([]quant.ActQuant, len(fl))
	for li := range fl {
		in := g.Nodes[fl[li].Node].Inputs[0]
		a := quant.ActQuant{Bits: cal.Bits, Signed: !nonneg[in]}
		var c float64
		if usePct {
			var all []float64
			for wid := range vals {
				all = append(all, vals[wid][li]...)
			}
			c = quant.Percentile(all, cal.Percentile)
		} else {
			for wid := range maxes {
				c = max(c, maxes[wid][li])
			}
		}
		a.Scale = a.ScaleFor(c)
		acts[li] = a
	}
	return acts, nil
}
