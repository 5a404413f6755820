package evaluate

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/integer"
	"github.com/ccq-project/ccq/quant/ptq"
	"github.com/ccq-project/ccq/results"
	"github.com/ccq-project/ccq/stages/internal/stagetest"
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
