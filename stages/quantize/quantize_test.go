package quantize

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/stages/internal/stagetest"
	"github.com/ccq-project/ccq/stages/stageio"
)

// inputs writes a dataset record and a random float LeNet-5 in the layout
// the dataset and pretrain stages leave in the store.
func inputs(t *testing.T) map[string]*pipeline.Input {
	t.Helper()
	_, ds, fm := stagetest.MNISTLeNet5(t)
	model := stagetest.ModelInput(t, "pretrain/lenet5", "pretrain", stageio.ModelRecord{
		RunID: "lenet5", Kind: "pretrain", Method: "sgd", Dataset: "mnist", Model: "lenet5", Bits: 32, ActBits: 32,
	}, func(dir string) error { return fm.Save(filepath.Join(dir, stageio.ModelFile), nil) })
	return map[string]*pipeline.Input{"dataset": ds, "model": model}
}

func run(t *testing.T, in map[string]*pipeline.Input, pm map[string]any) (*quant.Model, stageio.ModelRecord) {
	t.Helper()
	params, err := pipeline.NewParams(pm)
	if err != nil {
		t.Fatal(err)
	}
	if err := (Kind{}).CheckParams(params); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	sc := &pipeline.StageContext{Name: "quantize/adaround-w3-tensor-a4", Kind: "quantize", Params: params, Inputs: in,
		OutDir: out, Threads: 2, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Settings: pipeline.Settings{Experiment: "test"}}
	if err := (Kind{}).Run(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	m, err := quant.Load(filepath.Join(out, stageio.ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	var rec stageio.ModelRecord
	if err := stageio.ReadJSON(out, stageio.ModelRecordFile, &rec); err != nil {
		t.Fatal(err)
	}
	return m, rec
}

// The stage runs adaround with its method parameters, flags the model as
// made with gradients and gives the same levels for the same parameters.
func TestAdaRoundStage(t *testing.T) {
	in := inputs(t)
	pm := map[string]any{"method": "adaround", "bits": 3, "granularity": "tensor", "act_bits": 4,
		"method_params": map[string]any{"calib_size": 48, "iters": 40, "batch_size": 8, "lr": 0.05, "seed": 2}}
	a, rec := run(t, in, pm)
	if a.Method != "adaround" || !a.UsedFPGradients || !rec.UsedFPGradients || rec.Method != "adaround" || a.ActBits != 4 || a.Bits != 3 {
		t.Errorf("model %s %d bits act %d gradients %v; record %+v", a.Method, a.Bits, a.ActBits, a.UsedFPGradients, rec)
	}
	if rec.Parameters["iters"] == nil {
		t.Errorf("record parameters %v lack the method parameters", rec.Parameters)
	}
	b, _ := run(t, in, pm)
	if !slices.Equal(a.Flat(), b.Flat()) {
		t.Error("same parameters, different levels")
	}
}

func TestAdaRoundStageRejectsBadParameters(t *testing.T) {
	for _, c := range []struct {
		mp  map[string]any
		key string
	}{
		{map[string]any{"iters": -5}, "method_params.iters"},
		{map[string]any{"batch_size": -1}, "batch_size"},
		{map[string]any{"lambda": -1}, "method_params.lambda"},
		{map[string]any{"beta_end": 0.5}, "method_params.beta_end"},
		{map[string]any{"beta_start": 10, "beta_end": 12}, "method_params.beta_start"},
		{map[string]any{"warm_up": 1.5}, "method_params.warm_up"},
		{map[string]any{"iterations": 5}, "iterations"},
	} {
		params, err := pipeline.NewParams(map[string]any{"method": "adaround", "bits": 2, "granularity": "tensor", "act_bits": 32, "method_params": c.mp})
		if err != nil {
			t.Fatal(err)
		}
		err = (Kind{}).CheckParams(params)
		var pe *pipeline.ParamError
		if !errors.As(err, &pe) || !strings.Contains(pe.Error(), c.key) {
			t.Errorf("%v: want a parameter error on %s, got %v", c.mp, c.key, err)
		}
	}
}
