package evaluate

import (
	"context"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/integer"
	"github.com/ccq-project/ccq/quant/ptq"
	"github.com/ccq-project/ccq/results"
	"github.com/ccq-project/ccq/stages/internal/stagetest"
	"github.com/ccq-project/ccq/stages/stagecost"
	"github.com/ccq-project/ccq/stages/stageio"
)

// inputs writes a dataset record and a random LeNet-5 quantized with rtn
// at W4 and actBits, as the dataset and quantize stages leave them.
func inputs(t *testing.T, actBits int) map[string]*pipeline.Input {
	t.Helper()
	d, ds, fm := stagetest.MNISTLeNet5(t)
	calib := stageio.SplitBatch(d, &d.Train, stageio.CalibrationIndices(d.Train.N, 64, 1))
	m, err := ptq.Quantize(context.Background(), quant.FromNN(fm), ptq.Options{Method: "rtn", Bits: 4, ActBits: actBits,
		Granularity: quant.PerChannel, CalibX: calib.X, CalibLabels: calib.Labels})
	if err != nil {
		t.Fatal(err)
	}
	model := stagetest.ModelInput(t, "quantize/rtn", "quantize", stageio.ModelRecord{
		RunID: "rtn", Kind: results.KindBaseline, Method: "rtn", Dataset: "mnist", Model: "lenet5", Bits: 4, ActBits: actBits,
	}, func(dir string) error { return m.Save(filepath.Join(dir, stageio.ModelFile)) })
	return map[string]*pipeline.Input{"dataset": ds, "model": model}
}

func run(t *testing.T, in map[string]*pipeline.Input, pm map[string]any) (results.RunRow, Report) {
	t.Helper()
	params, err := pipeline.NewParams(pm)
	if err != nil {
		t.Fatal(err)
	}
	if err := (Kind{}).CheckParams(params); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	sc := &pipeline.StageContext{Name: "evaluate/rtn", Kind: "evaluate", Params: params, Inputs: in,
		OutDir: out, Threads: 2, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Settings: pipeline.Settings{Experiment: "test"}}
	if err := (Kind{}).Run(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	rows, err := results.ReadRuns(filepath.Join(out, RunFile))
	if err != nil || len(rows) != 1 {
		t.Fatalf("run rows %v, error %v", rows, err)
	}
	var rep Report
	if err := stageio.ReadJSON(out, ReportFile, &rep); err != nil {
		t.Fatal(err)
	}
	return rows[0], rep
}

// The stage runs integer-only inference for quantized activations (by
// default where the CPU has VNNI, on request elsewhere; off on request)
// and writes its figures next to the fake-quantized ones; with float
// activations the columns stay null.
func TestIntegerColumns(t *testing.T) {
	in := inputs(t, 8)
	row, rep := run(t, in, map[string]any{"skip_validation": true})
	if !integer.IntegerFast() {
		if row.IntegerTestAcc != nil || row.IntegerNote == nil || !strings.HasPrefix(*row.IntegerNote, "skipped") {
			t.Errorf("no VNNI, integer unset: row %+v", row)
		}
		row, rep = run(t, in, map[string]any{"skip_validation": true, "integer": true})
	}
	if row.IntegerTestAcc == nil || row.IntegerAgree == nil || row.IntegerTestLoss == nil || row.IntegerNote != nil || rep.Integer == nil {
		t.Fatalf("integer columns missing: %+v, report %+v", row, rep.Integer)
	}
	n := int64(rep.Integer.N)
	if n == 0 || *row.IntegerAgree > n || *row.IntegerAgree < n*9/10 || *row.IntegerTestAcc != rep.Integer.Accuracy {
		t.Errorf("integer accuracy %v, agreement %d of %d (fake-quant accuracy %v)", *row.IntegerTestAcc, *row.IntegerAgree, n, row.TestAcc)
	}
	row, rep = run(t, in, map[string]any{"skip_validation": true, "integer": false})
	if row.IntegerTestAcc != nil || row.IntegerNote == nil || *row.IntegerNote != "off" || rep.Integer != nil {
		t.Errorf("integer = false: row %+v, report %+v", row, rep.Integer)
	}
	row, rep = run(t, inputs(t, 32), map[string]any{"skip_validation": true})
	if row.IntegerTestAcc != nil || row.IntegerNote != nil || rep.Integer != nil {
		t.Errorf("float activations: integer columns set: %+v", row)
	}
	if !strings.Contains((&integer.IntegerCheck{Reason: "x"}).String(), "not representable (x)") {
		t.Error("a not-representable check does not say so")
	}
}

// TestEstimateCountsTheIntegerCheck checks that the estimate of a model
// with quantized activations adds the integer-only check on the test images
// where it runs, and only there.
func TestEstimateCountsTheIntegerCheck(t *testing.T) {
	const score, check = 1e-5, 1e-3
	old := stagecost.SetDefault(stagecost.New(stagecost.Options{Probe: true}, func(_ context.Context, w stagecost.Work) (float64, error) {
		if w.Op == stagecost.OpInteger {
			return check, nil
		}
		return score, nil
	}))
	defer stagecost.SetDefault(old)
	chain := func(actBits int) stagecost.Chain {
		ds := stagecost.Chain{"dataset": {Kind: "dataset", Params: map[string]any{"name": "fashion-mnist"}}}
		pre := stagecost.Chain{"model": {Kind: "pretrain", Params: map[string]any{"model": "lenet5"}, Up: ds}}
		return stagecost.Chain{"model": {Kind: "quantize", Params: map[string]any{"bits": 4, "act_bits": actBits}, Up: pre}}
	}
	params := func(m map[string]any) pipeline.Params {
		p, err := pipeline.NewParams(m)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	sec := func(d time.Duration) float64 { return d.Seconds() }
	// Fashion-MNIST: 10,000 test images and 5,000 validation images.
	base := 15000*score + 0.3
	if got := sec(Kind{}.EstimateAt(params(map[string]any{"integer": true}), chain(4), 2)); math.Abs(got-(base+10000*check)) > 1e-3 {
		t.Errorf("W4A4 with the integer check: %.3f s, want %.3f", got, base+10000*check)
	}
	if got := sec(Kind{}.EstimateAt(params(map[string]any{"integer": false}), chain(4), 2)); math.Abs(got-base) > 1e-3 {
		t.Errorf("W4A4 without the integer check: %.3f s, want %.3f", got, base)
	}
	if got := sec(Kind{}.EstimateAt(params(map[string]any{"integer": true}), chain(32), 2)); math.Abs(got-base) > 1e-3 {
		t.Errorf("W4A32 (no integer-only inference): %.3f s, want %.3f", got, base)
	}
}
