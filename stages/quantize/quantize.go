// Package quantize is the "quantize" stage kind: it turns the float model
// of its "model" input into a k-bit model with one of the baseline
// quantizers (rtn, mse, percentile, bias-corr, ste-qat, adaround),
// calibrating activation scales, bias correction and AdaRound's rounding on
// a fixed batch of training images.
// Output: model.safetensors (levels, scales) and model.json.
//
// Quantize is the one operation behind the stage and `ccq quantize`; both
// build Params. To add a quantizer, implement it in package quant (its name
// in ptq.Methods, its scale rule in ptq.Quantize), add its entry to
// Methods here and its knobs to MethodParams; TestMethodTableMatchesQuant
// checks the two lists agree.
package quantize

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"time"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/internal/digest"
	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/nn/withdata"
	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/ptq"
	"github.com/ccq-project/ccq/quant/ste"
	"github.com/ccq-project/ccq/stages/stagecost"
	"github.com/ccq-project/ccq/stages/stageio"
)

func init() { pipeline.Register(Kind{}) }

// Params are the quantize stage's parameters, and those of `ccq quantize`,
// which builds them from its flags and calls Quantize as the stage does.
type Params struct {
	Method       string       `json:"method"`
	Bits         int          `json:"bits"`
	Granularity  string       `json:"granularity"`
	ActBits      int          `json:"act_bits"`
	MethodParams MethodParams `json:"method_params"`
}

// MethodParams are the optional knobs of the quantizers.
type MethodParams struct {
	// CalibSize is the number of training images used for calibration
	// (activation scales, bias correction, AdaRound); default 1024.
	CalibSize int `json:"calib_size,omitempty"`
	// CalibSeed picks the calibration images; default 1.
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
	// too, with its own defaults (ptq.DefaultAdaRound*).
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
// package quant reads as its defaults.
func (p Params) WithDefaults() Params {
	if p.MethodParams.CalibSize == 0 {
		p.MethodParams.CalibSize = DefaultCalibSize
	}
	if p.MethodParams.CalibSeed == 0 {
		p.MethodParams.CalibSeed = DefaultCalibSeed
	}
	return p
}

// adaRound returns the AdaRound options the parameters give.
func (mp MethodParams) adaRound() ptq.AdaRoundOptions {
	return ptq.AdaRoundOptions{Iters: mp.Iters, BatchSize: mp.BatchSize, LR: mp.LR, Lambda: mp.Lambda,
		BetaStart: mp.BetaStart, BetaEnd: mp.BetaEnd, WarmUp: mp.WarmUp, Seed: max(mp.Seed, 1)}
}

// Validate checks names and ranges.
func (p *Params) Validate() error {
	if _, ok := LookupMethod(p.Method); !ok || !slices.Contains(ptq.Methods, p.Method) {
		return &pipeline.ParamError{Key: "method", Msg: fmt.Sprintf("unknown method %q (expected one of %v)", p.Method, ptq.Methods)}
	}
	if err := quant.CheckBits(p.Bits); err != nil {
		return &pipeline.ParamError{Key: "bits", Msg: err.Error()}
	}
	if _, err := quant.ParseGranularity(p.Granularity); err != nil {
		return &pipeline.ParamError{Key: "granularity", Msg: err.Error()}
	}
	if err := quant.CheckActBits(p.ActBits); err != nil {
		return &pipeline.ParamError{Key: "act_bits", Msg: err.Error()}
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
	if p.Method == "adaround" {
		if _, err := mp.adaRound().WithDefaults(); err != nil {
			var fe *ptq.FieldError
			if errors.As(err, &fe) {
				return &pipeline.ParamError{Key: "method_params." + fe.Field, Msg: fe.Msg}
			}
			return &pipeline.ParamError{Key: "method_params", Msg: err.Error()}
		}
	}
	return nil
}

// Kind is the quantize stage kind.
type Kind struct{}

// Name is "quantize".
func (Kind) Name() string { return "quantize" }

// Version changes when the stage computes something different.
func (Kind) Version() string { return "2" }

// Threads: calibration forward passes use two threads.
func (Kind) Threads(pipeline.Params) int { return 2 }

// EstimateFrom is the cost model's estimate: ste-qat's fine-tuning epochs
// cost steFactor times a float training step per image; the
// post-training methods a few forward passes over the calibration images
// plus stageFixed (loading, writing, the scale searches).
func (Kind) EstimateFrom(pp pipeline.Params, up pipeline.Upstream) time.Duration {
	var p Params
	if pp.Decode(&p) != nil {
		return 0
	}
	s := stagecost.SettingOf(up)
	if s.Arch == "" || s.Train == 0 {
		return Kind{}.Estimate(pp)
	}
	m, threads := stagecost.Default(), Kind{}.Threads(pp)
	calib := p.MethodParams.CalibSize
	if calib == 0 {
		calib = 1024
	}
	if p.Method == "ste-qat" {
		epochs, batch := max(1, p.MethodParams.Epochs), p.MethodParams.BatchSize
		if batch == 0 {
			batch = 128
		}
		d, ok := m.Duration(stagecost.Work{Op: stagecost.OpTrain, Arch: s.Arch, Batch: batch, Threads: threads},
			steFactor*float64(epochs*s.Train), stageFixed)
		if !ok {
			return Kind{}.Estimate(pp)
		}
		return d
	}
	fixed := stageFixed
	if p.Method == "adaround" {
		iters := p.MethodParams.Iters
		if iters == 0 {
			iters = ptq.DefaultAdaRoundIters
		}
		if n, err := stagecost.Weights(s.Arch); err == nil {
			fixed += time.Duration(float64(iters) * float64(n) * adaroundSecondsPerWeightStep * float64(time.Second))
		}
	}
	d, ok := m.Duration(stagecost.Work{Op: stagecost.OpInfer, Arch: s.Arch, Threads: threads}, 3*float64(calib), fixed)
	if !ok {
		return Kind{}.Estimate(pp)
	}
	return d
}

// adaroundSecondsPerWeightStep is AdaRound's wall time per weight and
// Adam step on two threads, fitted on LeNet-5 (61,470 weights, 10,000
// steps per layer: about 20 s of CPU on the reference machine); the
// per-weight update dominates there, the reconstruction GEMMs on wider
// networks.
const adaroundSecondsPerWeightStep = 3e-8

// stageFixed is what a quantize stage costs besides its images: loading
// the dataset and the model, writing the output (about 0.3 s for LeNet-5
// on MNIST, measured on the quickstart).
const stageFixed = 300 * time.Millisecond

// steFactor is the cost of an ste-qat training image relative to a float
// one (the weight quantizer and its straight-through gradient).
const steFactor = 1.3

// Estimate is the estimate without the cost model: seconds for
// post-training methods, longer for ste-qat and adaround.
func (Kind) Estimate(pp pipeline.Params) time.Duration {
	var p Params
	if pp.Decode(&p) == nil && (p.Method == "ste-qat" || p.Method == "adaround") {
		return time.Minute
	}
	return 3 * time.Second
}

// CheckParams validates parameters without running, including that every
// method_params key is one the method reads (see Methods).
func (Kind) CheckParams(pp pipeline.Params) error {
	var p Params
	if err := pp.Decode(&p); err != nil {
		return err
	}
	return checkMethodParams(p.Method, pp)
}

// Run quantizes the input model.
func (Kind) Run(ctx context.Context, sc *pipeline.StageContext) error {
	var p Params
	if err := sc.Decode(&p); err != nil {
		return err
	}
	start := time.Now()
	src, srcPath, err := stageio.ReadModelRecord(sc, "model")
	if err != nil {
		return err
	}
	d, err := stageio.LoadDataset(ctx, sc)
	if err != nil {
		return err
	}
	fm, md, err := nn.Load(srcPath)
	if err != nil {
		return fmt.Errorf("loading the float model: %w", err)
	}
	defer fm.Close()
	if err := withdata.UseRecordedNormalisation(d, md, srcPath); err != nil {
		return err
	}
	srcDigest, err := digest.File(srcPath)
	if err != nil {
		return err
	}
	qm, _, err := Quantize(ctx, fm, srcDigest, d, p, Options{Workers: sc.Threads, Log: sc.Log, Progress: sc.Progress})
	if err != nil {
		return err
	}
	gran, _ := quant.ParseGranularity(p.Granularity)
	if err := qm.Save(filepath.Join(sc.OutDir, stageio.ModelFile)); err != nil {
		return err
	}
	rec := stageio.ModelRecord{
		RunID: stageio.RunID(sc.Name), Kind: "baseline", Method: p.Method, Parameters: methodParameters(sc.Params),
		Dataset: src.Dataset, Model: src.Model, Bits: p.Bits, ActBits: p.ActBits, Granularity: string(gran),
		Seed: src.Seed, WallTime: time.Since(start).Seconds(), UsedFPGradients: qm.UsedFPGradients,
	}
	return stageio.WriteJSON(sc.OutDir, stageio.ModelRecordFile, rec)
}

// Options are how Quantize runs, not what it computes (except Workers for
// ste-qat, whose training, like nn's, is deterministic for a given seed and
// thread count).
type Options struct {
	// Workers is the number of threads (GOMAXPROCS when 0).
	Workers int
	// Log receives ste-qat's epochs and AdaRound's layers (slog.Default()
	// when nil).
	Log *slog.Logger
	// Progress, when set, receives the fraction done and a short message.
	Progress func(frac float64, msg string)
}

// Quantize turns float model fm, whose file has SHA-256 srcDigest, into a
// k-bit model with the parameters p, calibrating on the training images of
// d that stageio.CalibrationIndices picks (normalised with d's mean and std:
// callers first apply the model's recorded normalisation,
// withdata.UseRecordedNormalisation, as the stage and the command do). It
// is the one operation behind the quantize stage and `ccq quantize`; it
// returns the model and the number of calibration images.
func Quantize(ctx context.Context, fm *nn.Model, srcDigest string, d *datasets.Dataset, p Params, o Options) (*quant.Model, int, error) {
	if err := p.Validate(); err != nil {
		return nil, 0, err
	}
	p = p.WithDefaults()
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	progress := o.Progress
	if progress == nil {
		progress = func(float64, string) {}
	}
	if err := fits(fm.Graph(), d); err != nil {
		return nil, 0, err
	}
	mp := p.MethodParams
	calib := stageio.SplitBatch(d, &d.Train, stageio.CalibrationIndices(d.Train.N, mp.CalibSize, mp.CalibSeed))
	gran, _ := quant.ParseGranularity(p.Granularity)
	progress(0.1, fmt.Sprintf("%s %d bits", p.Method, p.Bits))
	var qm *quant.Model
	var err error
	if p.Method == "ste-qat" {
		qm, err = ste.QuantizeSTE(ctx, quant.FromNN(fm), withdata.SplitSource{D: d, S: &d.Train}, ste.STEOptions{
			Bits: p.Bits, Granularity: gran, ActBits: p.ActBits, ActPercentile: mp.ActPercentile, Epochs: mp.Epochs, BatchSize: mp.BatchSize, LR: mp.LR,
			Seed: max(mp.Seed, 1), Weights: mp.STEWeights, CalibX: calib.X, CalibLabels: calib.Labels,
			SourceDigest: srcDigest, Workers: o.Workers,
			Progress: func(epoch int, loss float64) {
				log.Info("ste-qat epoch", "epoch", epoch, "train_loss", loss)
				progress(0.1+0.9*float64(epoch)/float64(max(mp.Epochs, 1)), fmt.Sprintf("ste-qat epoch %d loss %.4f", epoch, loss))
			},
		})
	} else {
		ada := mp.adaRound()
		ada.Progress = func(done, total int, name string) {
			log.Info("adaround layer", "layer", name, "done", done, "of", total)
			progress(0.1+0.9*float64(done)/float64(total), "adaround "+name)
		}
		qm, err = ptq.Quantize(ctx, quant.FromNN(fm), ptq.Options{
			Method: p.Method, Bits: p.Bits, Granularity: gran, ActBits: p.ActBits,
			CalibX: calib.X, CalibLabels: calib.Labels, Percentile: mp.Percentile, ActPercentile: mp.ActPercentile,
			BiasCorrScales: mp.BiasCorrScales, SourceDigest: srcDigest, Workers: o.Workers, AdaRound: ada,
		})
	}
	if err != nil {
		return nil, 0, fmt.Errorf("%s at %d bits: %w", p.Method, p.Bits, err)
	}
	return qm, calib.N, nil
}

// methodParameters are the parameters that distinguish runs of one method
// in tables: the method's own knobs, not bits or granularity, which are
// columns of their own.
func methodParameters(pp pipeline.Params) map[string]any {
	mp, _ := pp.Get("method_params")
	m, _ := mp.(map[string]any)
	return m
}

// fits checks that the model takes the dataset's images and labels.
func fits(g nn.Graph, d *datasets.Dataset) error {
	if d.C != g.Input.C || d.H != g.Input.H || d.W != g.Input.W {
		return fmt.Errorf("dataset %s has %dx%dx%d images, the %s model takes %dx%dx%d", d.Name, d.C, d.H, d.W, g.Arch, g.Input.C, g.Input.H, g.Input.W)
	}
	if len(d.Classes) > g.Classes {
		return fmt.Errorf("dataset %s has %d classes, the %s model outputs %d", d.Name, len(d.Classes), g.Arch, g.Classes)
	}
	return nil
}
