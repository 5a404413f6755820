// Package evaluate is the "evaluate" stage kind: it measures a model (the
// float model, a baseline quantizer's output or an evolved k-bit model) on
// the test split, and on the validation split when there is one, and writes
// one row of runs.parquet (run.parquet in its entry) plus the full report
// (eval.json: per-class accuracy, confusion matrix, level histogram, size).
package evaluate

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/nn/withdata"
	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/engine"
	"github.com/ccq-project/ccq/quant/integer"
	"github.com/ccq-project/ccq/results"
	"github.com/ccq-project/ccq/stages/stagecost"
	"github.com/ccq-project/ccq/stages/stageio"
	"github.com/ccq-project/ccq/stages/stageparams"
)

func init() { pipeline.Register(Kind{}) }

// RunFile is the one-row runs table an evaluate stage writes.
const RunFile = "run.parquet"

// ReportFile holds the full evaluation.
const ReportFile = "eval.json"

// Params are the evaluate stage's parameters (see stageparams.Evaluate).
// `ccq evaluate` builds them from its flags and measures with Float and
// Quantized as the stage does.
type Params = stageparams.Evaluate

// DefaultBatch is Params.Batch when zero.
const DefaultBatch = stageparams.DefaultEvalBatch

// Kind is the evaluate stage kind.
type Kind struct{}

// Name is "evaluate".
func (Kind) Name() string { return "evaluate" }

// Version changes when the stage computes something different (4: integer-only
// inference reproduces the float32 fake-quantized values exactly).
func (Kind) Version() string { return "4" }

// Threads: forward passes on two threads.
func (Kind) Threads(pipeline.Params) int { return 2 }

// Estimate: a few seconds for MNIST-sized test sets.
func (Kind) Estimate(pipeline.Params) time.Duration { return 3 * time.Second }

// EstimateAt implements pipeline.ThreadEstimator with the cost model: the
// test and validation images through the model on these threads (the
// quantized evaluator for a k-bit model, a float forward pass for a float
// one), the integer-only check on the test images where it runs (a model
// with quantized activations), plus 0.3 s (loading the dataset and the
// model: measured on the quickstart).
func (Kind) EstimateAt(pp pipeline.Params, up pipeline.Upstream, threads int) time.Duration {
	var p Params
	if pp.Decode(&p) != nil {
		return 0
	}
	p = p.WithDefaults()
	plain := func() time.Duration {
		return pipeline.ScaleEstimate(Kind{}.Estimate(pp), Kind{}.Threads(pp), threads)
	}
	s := stagecost.SettingOf(up)
	if s.Arch == "" || s.Test == 0 {
		return plain()
	}
	images := s.Test
	if !p.SkipValidation {
		images += s.Val
	}
	w := stagecost.Work{Op: stagecost.OpInfer, Arch: s.Arch, Threads: max(1, threads)}
	if s.Bits > 0 {
		w = stagecost.Work{Op: stagecost.OpScore, Arch: s.Arch, Bits: s.Bits, ActBits: s.ActBits, Batch: p.Batch, Threads: w.Threads}
	}
	d, ok := stagecost.Default().Duration(w, float64(images), 300*time.Millisecond)
	if !ok {
		return plain()
	}
	if s.Bits > 0 && s.ActBits > 0 && s.ActBits < 32 && integerRuns(p) {
		iw := stagecost.Work{Op: stagecost.OpInteger, Arch: s.Arch, Bits: s.Bits, ActBits: s.ActBits, Threads: w.Threads}
		if di, ok := stagecost.Default().Duration(iw, float64(s.Test), 0); ok {
			d += di
		}
	}
	return d
}

// integerRuns reports whether Integer runs the integer-only check under p
// (on a model with quantized activations).
func integerRuns(p Params) bool {
	if p.Integer != nil {
		return *p.Integer
	}
	return integer.IntegerFast()
}

// CheckParams validates parameters without running.
func (Kind) CheckParams(pp pipeline.Params) error {
	var p Params
	return pp.Decode(&p)
}

// Report is the content of eval.json.
type Report struct {
	Run        results.RunRow `json:"run"`
	Test       any            `json:"test"`
	Validation any            `json:"validation,omitempty"`
	// Integer is integer-only inference on the test split (models with
	// quantized activations).
	Integer *integer.IntegerCheck `json:"integer,omitempty"`
}

// Run evaluates the input model.
func (Kind) Run(ctx context.Context, sc *pipeline.StageContext) error {
	var p Params
	if err := sc.Decode(&p); err != nil {
		return err
	}
	rec, modelPath, err := stageio.ReadModelRecord(sc, "model")
	if err != nil {
		return err
	}
	d, err := stageio.LoadDataset(ctx, sc)
	if err != nil {
		return err
	}
	row := results.RunRow{
		RunID: rec.RunID, Experiment: sc.Settings.Experiment, Method: rec.Method, Kind: rec.Kind,
		Dataset: rec.Dataset, Model: rec.Model, Bits: int32(rec.Bits), ActBits: int32(rec.ActBits),
		Granularity: rec.Granularity, Seed: rec.Seed, Evaluations: rec.Evaluations, WallTime: rec.WallTime,
		UsedFPGradients: rec.UsedFPGradients, Status: results.StatusOK,
	}
	if rec.StartMethod != "" {
		row.StartMethod = results.String(rec.StartMethod)
	}
	params, err := json.Marshal(rec.Parameters)
	if err != nil {
		return fmt.Errorf("parameters of %s: %w", rec.RunID, err)
	}
	if rec.Parameters == nil {
		params = []byte("{}")
	}
	row.Parameters = string(params)

	rep := Report{}
	switch rec.Kind {
	case results.KindFloat:
		m, md, err := nn.Load(modelPath)
		if err != nil {
			return err
		}
		defer m.Close()
		if err := withdata.UseRecordedNormalisation(d, md, modelPath); err != nil {
			return err
		}
		test, err := Float(ctx, m, d, &d.Test, p, sc.Threads)
		if err != nil {
			return err
		}
		row.TestAcc, row.TestLoss, rep.Test = test.Accuracy, test.Loss, test
		if d.Val.N > 0 && !p.SkipValidation {
			val, err := Float(ctx, m, d, &d.Val, p, sc.Threads)
			if err != nil {
				return err
			}
			row.ValAcc, rep.Validation = results.Float64(val.Accuracy), val
		}
	default:
		m, err := quant.Load(modelPath)
		if err != nil {
			return err
		}
		if err := withdata.UseRecordedNormalisation(d, m.Extra, modelPath); err != nil {
			return err
		}
		test, err := Quantized(ctx, m, d, &d.Test, sc.Threads)
		if err != nil {
			return err
		}
		row.TestAcc, row.TestLoss, rep.Test = test.Accuracy, test.Loss, test
		if m.ActBits != quant.FloatActBits {
			if rep.Integer, err = checkInteger(ctx, sc, &p, m, d, &row); err != nil {
				return err
			}
		}
		if d.Val.N > 0 && !p.SkipValidation {
			val, err := Quantized(ctx, m, d, &d.Val, sc.Threads)
			if err != nil {
				return err
			}
			row.ValAcc, rep.Validation = results.Float64(val.Accuracy), val
		}
	}
	sc.Log.Info("evaluated", "run", row.RunID, "test_acc", row.TestAcc, "test_loss", row.TestLoss)
	sc.SetMeta("test_accuracy", row.TestAcc)
	rep.Run = row
	if err := results.WriteRuns(filepath.Join(sc.OutDir, RunFile), []results.RunRow{row}); err != nil {
		return err
	}
	return stageio.WriteJSON(sc.OutDir, ReportFile, rep)
}

// Float measures float model m on split s of d in batches of p.Batch on
// workers threads (all when 0): the evaluate stage's measurement of a float
// model and `ccq evaluate`'s.
func Float(ctx context.Context, m *nn.Model, d *datasets.Dataset, s *datasets.Split, p Params, workers int) (nn.EvalResult, error) {
	if workers > 0 {
		m.SetThreads(workers)
	}
	return nn.Evaluate(ctx, m, withdata.SplitSource{D: d, S: s}, p.WithDefaults().Batch)
}

// Quantized runs a k-bit model over a whole split (normalised into memory
// at once: 31 MB for MNIST's test set, 123 MB for CIFAR-10's): the evaluate
// stage's measurement of a k-bit model and `ccq evaluate`'s.
func Quantized(ctx context.Context, m *quant.Model, d *datasets.Dataset, s *datasets.Split, workers int) (*engine.Report, error) {
	x, labels, err := engine.SplitData(m.Graph, d, s, 0)
	if err != nil {
		return nil, err
	}
	rep, err := engine.EvaluateModel(ctx, m, x, labels, workers)
	if err != nil {
		return nil, fmt.Errorf("evaluating the %d-bit model: %w", m.Bits, err)
	}
	return rep, nil
}

// checkInteger runs integer-only inference on the test split (see
// Params.Integer) and fills the row's integer columns; a model it cannot
// represent, or a run left out, is noted, not an error.
func checkInteger(ctx context.Context, sc *pipeline.StageContext, p *Params, m *quant.Model, d *datasets.Dataset, row *results.RunRow) (*integer.IntegerCheck, error) {
	c, skipped, err := Integer(ctx, m, d, &d.Test, *p, sc.Threads)
	switch {
	case err != nil:
		return nil, err
	case skipped == IntegerOff:
		row.IntegerNote = results.String("off")
		return nil, nil
	case skipped == IntegerNoVNNI:
		row.IntegerNote = results.String("skipped: no AVX-512 VNNI on this CPU (integer = true runs the pure-Go kernels)")
		sc.Log.Info("integer-only inference skipped: no AVX-512 VNNI (set integer = true to run the pure-Go kernels)", "run", row.RunID)
		return nil, nil
	}
	sc.Log.Info(c.String(), "run", row.RunID)
	if !c.Representable {
		row.IntegerNote = results.String("not representable: " + c.Reason)
		return c, nil
	}
	row.IntegerTestAcc, row.IntegerTestLoss, row.IntegerAgree = results.Float64(c.Accuracy), results.Float64(c.Loss), results.Int64(int64(c.Agree))
	return c, nil
}

// Why Integer did not run.
const (
	IntegerOff    = "off"     // Params.Integer is false
	IntegerNoVNNI = "no-vnni" // unset, and the CPU lacks AVX-512 VNNI
)

// Integer runs integer-only inference of k-bit model m (with quantized
// activations) on split s of d when p.Integer asks for it: unset, where the
// CPU has AVX-512 VNNI; true, always; false, never. It returns the check,
// or why it did not run (IntegerOff, IntegerNoVNNI): the evaluate stage's
// integer check and `ccq evaluate`'s.
func Integer(ctx context.Context, m *quant.Model, d *datasets.Dataset, s *datasets.Split, p Params, workers int) (*integer.IntegerCheck, string, error) {
	if !integerRuns(p) {
		if p.Integer != nil {
			return nil, IntegerOff, nil
		}
		return nil, IntegerNoVNNI, nil
	}
	b := stageio.SplitBatch(d, s, nil)
	c, err := integer.CheckInteger(ctx, m, b.X, b.Labels, workers)
	if err != nil {
		return nil, "", fmt.Errorf("integer-only inference of the %d-bit model: %w", m.Bits, err)
	}
	return c, "", nil
}
