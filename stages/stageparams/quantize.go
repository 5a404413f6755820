package stageparams

import (
	"fmt"

	"github.com/ccq-project/ccq/pipeline"
)

// Quantize are the quantize stage's parameters (one combination of an
// experiment's [[quantize]] entry) and those of `ccq quantize`, which
// builds them from its flags.
type Quantize struct {
	// Method is the quantizer (checked against the stage's table of
	// methods, stages/quantize.Methods).
	Method string `json:"method"`
	// Bits and ActBits are the weight and activation widths (checked
	// against package quant's ranges by the stage).
	Bits    int `json:"bits"`
	ActBits int `json:"act_bits"`
	// Granularity is "tensor" or "channel" (checked by the stage).
	Granularity  string       `json:"granularity"`
	MethodParams MethodParams `json:"method_params,omitzero"`
}

// MethodParams are the optional knobs of the quantizers (the experiment's
// [quantize.params]); zero means the default.
type MethodParams struct {
	// CalibSize is the number of training images used for calibration
	// (activation scales, bias correction, AdaRound); default
	// DefaultCalibSize.
	CalibSize int `json:"calib_size,omitempty"`
	// CalibSeed picks the calibration images; default DefaultCalibSeed.
	CalibSeed uint64 `json:"calib_seed,omitempty"`
	// Percentile clips weights at this percentile of |w| (method percentile).
	Percentile float64 `json:"percentile,omitempty"`
	// ActPercentile calibrates activation scales at this percentile instead
	// of the maximum.
	ActPercentile float64 `json:"act_percentile,omitempty"`
	// BiasCorrScales picks the scales bias-corr starts from ("rtn", "mse"
	// or "percentile"; default rtn).
	BiasCorrScales string `json:"bias_corr_scales,omitempty"`
	// ste-qat's fine-tuning: epochs (default 1), lr (0.01, cosine), batch
	// size (128), seed (1) and the weight quantizer ("dorefa" or "mse").
	// adaround uses lr (Adam, default 0.001), batch_size (32) and seed (1)
	// too, with its own defaults (package quant/ptq's DefaultAdaRound*).
	Epochs     int     `json:"epochs,omitempty"`
	LR         float64 `json:"lr,omitempty"`
	BatchSize  int     `json:"batch_size,omitempty"`
	Seed       uint64  `json:"seed,omitempty"`
	STEWeights string  `json:"ste_weights,omitempty"`
	// adaround: Adam steps per layer (default 10000), the regulariser's
	// weight (0.01), its exponent's schedule (20 down to 2) and the
	// fraction of steps before it switches on (0.2). Zero: the default.
	Iters     int     `json:"iters,omitempty"`
	Lambda    float64 `json:"lambda,omitempty"`
	BetaStart float64 `json:"beta_start,omitempty"`
	BetaEnd   float64 `json:"beta_end,omitempty"`
	WarmUp    float64 `json:"warm_up,omitempty"`
}

// Calibration defaults (MethodParams.CalibSize and CalibSeed when zero).
const (
	DefaultCalibSize = 1024
	DefaultCalibSeed = 1
)

// WithDefaults returns the parameters with zero calibration settings
// replaced by their defaults; the quantizers' own knobs keep zero, which
// the quantizers (quant/ptq, quant/ste) read as their defaults.
func (p Quantize) WithDefaults() Quantize {
	if p.MethodParams.CalibSize == 0 {
		p.MethodParams.CalibSize = DefaultCalibSize
	}
	if p.MethodParams.CalibSeed == 0 {
		p.MethodParams.CalibSeed = DefaultCalibSeed
	}
	return p
}

// Validate checks that a method is named and the method parameters'
// ranges and enumerations.
func (p *Quantize) Validate() error {
	if p.Method == "" {
		return errEmpty("method")
	}
	mp := p.MethodParams
	switch {
	case mp.CalibSize < 0:
		return &pipeline.ParamError{Key: "method_params.calib_size", Msg: "must be >= 0"}
	case mp.Percentile < 0 || mp.Percentile > 100:
		return &pipeline.ParamError{Key: "method_params.percentile", Msg: "expected a percentile in (0, 100]"}
	case mp.ActPercentile < 0 || mp.ActPercentile > 100:
		return &pipeline.ParamError{Key: "method_params.act_percentile", Msg: "expected a percentile in (0, 100]"}
	case mp.Epochs < 0 || mp.BatchSize < 0 || mp.LR < 0:
		return &pipeline.ParamError{Key: "method_params", Msg: "epochs, batch_size and lr must be >= 0"}
	case mp.STEWeights != "" && mp.STEWeights != "dorefa" && mp.STEWeights != "mse":
		return &pipeline.ParamError{Key: "method_params.ste_weights", Msg: fmt.Sprintf("%q: expected dorefa or mse", mp.STEWeights)}
	case mp.BiasCorrScales != "" && mp.BiasCorrScales != "rtn" && mp.BiasCorrScales != "mse" && mp.BiasCorrScales != "percentile":
		return &pipeline.ParamError{Key: "method_params.bias_corr_scales", Msg: fmt.Sprintf("%q: expected rtn, mse or percentile", mp.BiasCorrScales)}
	}
	return nil
}
