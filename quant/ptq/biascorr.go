package ptq

import (
	"context"

	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/engine"
)

// channelMeans runs a network and returns the mean output of layer li per
// output channel (over samples and positions).
func channelMeans(ctx context.Context, r *engine.Probe, li int, x []float32, labels []uint8) ([]float64, error) {
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
func correctBiases(ctx context.Context, m *quant.Model, fl []quant.FloatLayer, opt Options) error {
	x, labels := opt.CalibX, opt.CalibLabels
	if len(labels) > maxBiasCorrSamples {
		d := m.Graph.Input.Size()
		x, labels = x[:maxBiasCorrSamples*d], labels[:maxBiasCorrSamples]
	}
	fr, err := engine.NewFloatProbe(m.Graph, fl, opt.Workers)
	if err != nil {
		return err
	}
	for li := range m.Layers {
		want, err := channelMeans(ctx, fr, li, x, labels)
		if err != nil {
			return err
		}
		qr, err := engine.NewModelProbe(m, opt.Workers)
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
