// Package ptq holds ccq's gradient-free post-training baselines (and
// AdaRound, which learns roundings from a per-layer loss): Quantize turns a
// float model into a k-bit one with rtn, mse, percentile, bias-corr or
// adaround. The scale rules and activation calibration they share are in
// package quant; ste-qat is in quant/ste.
package ptq

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/engine"
)

// Methods lists the quantization methods Quantize knows.
var Methods = []string{"rtn", "mse", "percentile", "bias-corr", "ste-qat", "adaround"}

// Options configures Quantize.
type Options struct {
	Method      string            // one of Methods
	Bits        int               // weight bits, 1..8
	Granularity quant.Granularity // per-tensor (default) or per-channel scales
	ActBits     int               // 32 (default, float activations), or 1..8
	// Calibration samples (NCHW float32, normalized, with labels): needed
	// for quantized activations, bias-corr, ste-qat and adaround.
	CalibX      []float32
	CalibLabels []uint8
	// Percentile clips the weights at this percentile of |w| (method
	// percentile; default 99.9).
	Percentile float64
	// BiasCorrScales is the scale method bias-corr starts from: rtn
	// (default), mse or percentile.
	BiasCorrScales string
	// ActPercentile, when in (0, 100), calibrates activation scales at this
	// percentile of the calibration activations instead of their maximum.
	ActPercentile float64
	// AdaRound holds method adaround's hyper-parameters.
	AdaRound AdaRoundOptions
	// SourceDigest is recorded in the model's metadata.
	SourceDigest string
	Workers      int
}

// Quantize turns a float model into a k-bit model with a gradient-free
// baseline: batch norm folded, weight scales per method (rtn: max |w|;
// mse: the scale minimising the squared weight error, searched on a grid of
// 200 clipping ratios; percentile: a percentile of |w|; bias-corr: rtn
// scales, then each layer's bias corrected in turn so that its mean output
// per channel on the calibration batch matches the float network's;
// BiasCorrScales picks mse or percentile scales instead), levels
// rounded to nearest, activation scales calibrated on the float network.
// 1-bit weights use the mean |w| as scale (the least-squares scale of sign
// weights) for rtn, mse and percentile. adaround starts from mse scales
// and learns each weight's rounding (see adaRound; it uses gradients of a
// per-layer reconstruction loss, so the model is flagged UsedFPGradients).
// ste-qat is implemented elsewhere (it needs the training loop) and
// rejected here.
func Quantize(ctx context.Context, f *quant.FloatModel, opt Options) (*quant.Model, error) {
	if err := quant.CheckBits(opt.Bits); err != nil {
		return nil, fmt.Errorf("quantize: weight %w", err)
	}
	if opt.ActBits == 0 {
		opt.ActBits = quant.FloatActBits
	}
	if err := quant.CheckActBits(opt.ActBits); err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	if opt.Granularity == "" {
		opt.Granularity = quant.PerTensor
	}
	if _, err := quant.ParseGranularity(string(opt.Granularity)); err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	if opt.Percentile == 0 {
		opt.Percentile = 99.9
	}
	if opt.Percentile <= 0 || opt.Percentile > 100 {
		return nil, fmt.Errorf("quantize: percentile %g: expected a value in (0, 100]", opt.Percentile)
	}
	switch opt.Method {
	case "rtn", "mse", "percentile", "bias-corr":
	case "adaround":
		ao, err := opt.AdaRound.WithDefaults()
		if err != nil {
			return nil, fmt.Errorf("quantize: adaround: %w", err)
		}
		opt.AdaRound = ao
	case "ste-qat":
		return nil, fmt.Errorf("quantize: method ste-qat needs the training loop: use QuantizeSTE")
	default:
		return nil, fmt.Errorf("quantize: method %q: expected one of %s", opt.Method, strings.Join(Methods, ", "))
	}
	scales := opt.Method
	if opt.Method == "adaround" {
		scales = "mse"
	}
	if opt.Method == "bias-corr" {
		scales = opt.BiasCorrScales
		if scales == "" {
			scales = "rtn"
		}
		if scales != "rtn" && scales != "mse" && scales != "percentile" {
			return nil, fmt.Errorf("quantize: bias-corr scales %q: expected rtn, mse or percentile", scales)
		}
	}
	needCalib := opt.ActBits != quant.FloatActBits || opt.Method == "bias-corr" || opt.Method == "adaround"
	fl, err := quant.Fold(f)
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	if needCalib {
		if len(opt.CalibLabels) == 0 {
			return nil, fmt.Errorf("quantize: method %s with %d-bit activations needs calibration data", opt.Method, opt.ActBits)
		}
		d := f.Graph.Input.Size()
		if len(opt.CalibX) != len(opt.CalibLabels)*d {
			return nil, fmt.Errorf("quantize: calibration set: %d values for %d samples, the %s model expects %d per sample (%dx%dx%d)",
				len(opt.CalibX), len(opt.CalibLabels), f.Graph.Arch, d, f.Graph.Input.C, f.Graph.Input.H, f.Graph.Input.W)
		}
	}
	m := &quant.Model{Graph: f.Graph, Bits: opt.Bits, Method: opt.Method, Granularity: opt.Granularity,
		ActBits: opt.ActBits, SourceDigest: opt.SourceDigest}
	for _, l := range fl {
		ql := quant.Layer{Name: l.Name, Node: l.Node, Shape: slices.Clone(l.Shape), Bias: slices.Clone(l.Bias),
			Levels: make([]int8, len(l.Weight)), Act: quant.ActQuant{Bits: quant.FloatActBits}}
		groups := 1
		if opt.Granularity == quant.PerChannel {
			groups = l.Shape[0]
		}
		per := len(l.Weight) / groups
		ql.Scales = make([]float32, groups)
		for g := 0; g < groups; g++ {
			w := l.Weight[g*per : (g+1)*per]
			var s float32
			switch scales {
			case "mse":
				s = quant.MSEScale(w, opt.Bits)
			case "percentile":
				s = quant.PercentileScale(w, opt.Bits, opt.Percentile)
			default:
				s = quant.MaxScale(w, opt.Bits)
			}
			ql.Scales[g] = s
			for j, v := range w {
				ql.Levels[g*per+j] = quant.QuantizeWeight(v, s, opt.Bits)
			}
		}
		m.Layers = append(m.Layers, ql)
	}
	if opt.ActBits != quant.FloatActBits {
		acts, err := engine.CalibrateActs(ctx, f.Graph, fl, opt.actCalibration())
		if err != nil {
			return nil, fmt.Errorf("quantize: %w", err)
		}
		for i := range m.Layers {
			m.Layers[i].Act = acts[i]
		}
	}
	if opt.Method == "bias-corr" {
		m.Extra = map[string]string{"ccq.bias_corr_scales": scales}
		if err := correctBiases(ctx, m, fl, opt); err != nil {
			return nil, fmt.Errorf("quantize: bias correction: %w", err)
		}
	}
	if opt.Method == "adaround" {
		m.UsedFPGradients = true
		if err := adaRound(ctx, m, fl, opt); err != nil {
			return nil, fmt.Errorf("quantize: adaround: %w", err)
		}
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	return m, nil
}

// actCalibration is the activation calibration opt asks for.
func (opt Options) actCalibration() engine.ActCalibration {
	return engine.ActCalibration{Bits: opt.ActBits, Percentile: opt.ActPercentile, X: opt.CalibX, Labels: opt.CalibLabels, Workers: opt.Workers}
}
