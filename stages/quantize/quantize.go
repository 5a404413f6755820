// Package quantize is the "quantize" stage kind: it turns the float model
// of its "model" input into a k-bit model with one of the baseline
// quantizers (rtn, mse, percentile, bias-corr, ste-qat, adaround),
// calibrating activation scales, bias correction and AdaRound's rounding on
// a fixed batch of training images.
// Output: model.safetensors (levels, scales) and model.json.
//
// Quantize is the one operation behind the stage and `ccq quantize`; both
// build Params (the experiment expansion builds them too). To add a
// quantizer, implement it in package quant/ptq (its name in ptq.Methods, its
// scale rule in ptq.Quantize), add its entry to Methods here and its
// knobs to MethodParams (stages/stageparams); TestMethodTableMatchesQuant
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
	"github.com/ccq-project/ccq/stages/stageparams"
)

func init() { pipeline.Register(Kind{}) }

// Params are the quantize stage's parameters (see stageparams.Quantize),
// and those of `ccq quantize`, which builds them from its flags and calls
// Quantize as the stage does.
type Params = stageparams.Quantize

// MethodParams are the optional knobs of the quantizers.
type MethodParams = stageparams.MethodParams

// Calibration defaults (MethodParams.CalibSize and CalibSeed when zero).
const (
	DefaultCalibSize = stageparams.DefaultCalibSize
	DefaultCalibSeed = stageparams.DefaultCalibSeed
)

// adaRound returns the AdaRound options the parameters give.
func adaRound(mp MethodParams) ptq.AdaRoundOptions {
	return ptq.AdaRoundOptions{Iters: mp.Iters, BatchSize: mp.BatchSize, LR: mp.LR, Lambda: mp.Lambda,
		BetaStart: mp.BetaStart, BetaEnd: mp.BetaEnd, WarmUp: mp.WarmUp, Seed: max(mp.Seed, 1)}
}

// Validate checks p: the method against Methods and ptq.Methods, the
// bit widths and granularity against package quant, the method
// parameters' ranges (Params.Validate) and AdaRound's.
func Validate(p *Params) error {
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
	if err := p.Validate(); err != nil {
		return err
	}
	if p.Method == "adaround" {
		if _, err := adaRound(p.MethodParams).WithDefaults(); err != nil {
			var fe *ptq.FieldError
			if errors.As(err, &fe) {
				return &pipeline.ParamError{Key: "method_params." + fe.Field, Msg: fe.Msg}
			}
			return &pipeline.ParamError{Key: "method_params", Msg: err.Error()}
		}
	}
	return nil
}

// decode reads and checks the parameters.
func decode(pp pipeline.Params) (Params, error) {
	var p Params
	if err := pp.Decode(&p); err != nil {
		return p, err
	}
	return p, Validate(&p)
}

// Kind is the quantize stage kind.
type Kind struct{}

// Name is "quantize".
func (Kind) Name() string { return "quantize" }

// Version changes when the stage computes something different.
func (Kind) Version() string { return "2" }

// Threads: calibration forward passes use two threads.
func (Kind) Threads(pipeline.Params) int { return 2 }

// EstimateAt implements pipeline.ThreadEstimator with the cost model on
// these threads: ste-qat's fine-tuning epochs cost steFactor times a float
// training step per image; the post-training methods a few forward passes
// over the calibration images plus stageFixed (loading, writing, the scale
// searches), and adaround its optimisation steps.
func (Kind) EstimateAt(pp pipeline.Params, up pipeline.Upstream, threads int) time.Duration {
	p, err := decode(pp)
	if err != nil {
		return 0
	}
	p = p.WithDefaults()
	own := Kind{}.Threads(pp)
	plain := func() time.Duration { return pipeline.ScaleEstimate(Kind{}.Estimate(pp), own, threads) }
	s := stagecost.SettingOf(up)
	if s.Arch == "" || s.Train == 0 {
		return plain()
	}
	m, threads := stagecost.Default(), max(1, threads)
	calib := p.MethodParams.CalibSize
	if p.Method == "ste-qat" {
		epochs, batch := max(1, p.MethodParams.Epochs), p.MethodParams.BatchSize
		if batch == 0 {
			batch = 128
		}
		d, ok := m.Duration(stagecost.Work{Op: stagecost.OpTrain, Arch: s.Arch, Batch: batch, Threads: threads},
			steFactor*float64(epochs*s.Train), stageFixed)
		if !ok {
			return plain()
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
			steps := time.Duration(float64(iters) * float64(n) * adaroundSecondsPerWeightStep * float64(time.Second))
			fixed += pipeline.ScaleEstimate(steps, own, threads)
		}
	}
	d, ok := m.Duration(stagecost.Work{Op: stagecost.OpInfer, Arch: s.Arch, Threads: threads}, 3*float64(calib), fixed)
	if !ok {
		return plain()
	}
	return d
}

// adaroundSecondsPerWeightStep is AdaRound's wall time per weight and
// Adam step on two threads, fitted on LeNet-5 (61,470 weights, 10,000
// steps per layer: about 20 s of CPU on the reference machine); the
// per-weight update dominates there, the reconstruction GEMMs on wider
// networks. On other thread counts EstimateAt scales it as if the steps
// split perfectly over the threads (not measured).
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
	if p, err := decode(pp); err == nil && (p.Method == "ste-qat" || p.Method == "adaround") {
		return time.Minute
	}
	return 3 * time.Second
}

// CheckParams validates parameters without running, including that every
// method_params key is one the method reads (see Methods).
func (Kind) CheckParams(pp pipeline.Params) error {
	p, err := decode(pp)
	if err != nil {
		return err
	}
	return checkMethodParams(p.Method, pp)
}

// Run quantizes the input model.
func (Kind) Run(ctx context.Context, sc *pipeline.StageContext) error {
	p, err := decode(sc.Params)
	if err != nil {
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
	if err := Validate(&p); err != nil {
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
		ada := adaRound(mp)
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
