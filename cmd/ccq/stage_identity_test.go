package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/nn/safetensors"
	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/store"
	"github.com/ccq-project/ccq/stages/evaluate"
	"github.com/ccq-project/ccq/stages/pretrain"
	"github.com/ccq-project/ccq/stages/quantize"
	"github.com/ccq-project/ccq/stages/stageio"
	"github.com/ccq-project/ccq/stages/stageparams"
)

// runStage runs one stage kind in a fresh output folder, as the executor
// would, with the parameters v encodes (as the experiment expansion
// encodes them), and returns that folder.
func runStage(t *testing.T, k interface {
	pipeline.Kind
	CheckParams(pipeline.Params) error
}, name, cache string, v stageparams.Validator, in map[string]string) string {
	t.Helper()
	params, err := stageparams.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.CheckParams(params); err != nil {
		t.Fatal(err)
	}
	inputs := map[string]*pipeline.Input{}
	for n, dir := range in {
		inputs[n] = &pipeline.Input{Stage: n, Entry: &store.Entry{Dir: dir, Manifest: &store.Manifest{Kind: n}}}
	}
	out := t.TempDir()
	sc := &pipeline.StageContext{Name: name, Kind: k.Name(), Params: params, Inputs: inputs, OutDir: out, Threads: 2,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Settings: pipeline.Settings{Experiment: "identity", DataDir: cache}}
	if err := k.Run(context.Background(), sc); err != nil {
		t.Fatalf("stage %s: %v", name, err)
	}
	return out
}

// withoutDatasetMetadata re-encodes a safetensors file without the dataset
// and normalisation keys that the commands record for standalone use (a
// stage's output records its dataset in model.json instead).
func withoutDatasetMetadata(t *testing.T, path string) []byte {
	t.Helper()
	f, err := safetensors.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{nn.MetaDataset, nn.MetaMean, nn.MetaStd} {
		delete(f.Metadata, k)
	}
	b, err := safetensors.Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCommandsMatchStages checks that `ccq train`, `ccq quantize` and `ccq
// evaluate` by hand give bit-identical outputs to the pretrain, quantize
// and evaluate stages for the same parameters and inputs: one LeNet-5
// epoch on 2,000 MNIST images, four quantizers (ste-qat on a 1,000-image
// training split), and both evaluations.
func TestCommandsMatchStages(t *testing.T) {
	cache := t.TempDir()
	dsDir := t.TempDir()
	if err := stageio.WriteJSON(dsDir, stageio.DatasetFile, stageio.DatasetRecord{Name: "mnist", ValSize: 500, SplitSeed: 2}); err != nil {
		t.Fatal(err)
	}
	split := []string{"--offline", "--val-size", "500", "--split-seed", "2", "--threads", "2"}
	common := []string{"--log-level", "error", "--data-dir", cache}

	// pretrain
	ptDir := runStage(t, pretrain.Kind{}, "pretrain/lenet5", cache, &pretrain.Params{Model: "lenet5", TrainLimit: 2000,
		Recipe: stageparams.Recipe{Epochs: 1, Seed: 3, LR: 0.05, Momentum: 0.9, BatchSize: 64}}, map[string]string{"dataset": dsDir})
	dir := t.TempDir()
	float := filepath.Join(dir, "float.safetensors")
	args := append(append(common, "train", "--dataset", "mnist", "--model", "lenet5", "--out", float, "--epochs", "1", "--limit", "2000",
		"--seed", "3", "--lr", "0.05", "--momentum", "0.9", "--batch", "64", "--wd", "0", "--warmup", "0", "--nesterov=false",
		"--schedule", "cosine", "--gamma", "0.1", "--milestones", "", "--augment", "none", "--init", "", "--json"), split...)
	if _, err := runCCQ(t, args...); err != nil {
		t.Fatal(err)
	}
	stageModel, err := os.ReadFile(filepath.Join(ptDir, stageio.ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	cliModel, err := os.ReadFile(float)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stageModel, cliModel) {
		t.Error("ccq train and the pretrain stage wrote different models")
	}

	// quantize, from the stage's float model
	cases := []struct {
		method, gran string
		bits, act    int
		mp           quantize.MethodParams
		flags        []string
	}{
		{"rtn", "tensor", 4, 32, quantize.MethodParams{}, nil},
		{"bias-corr", "channel", 4, 8, quantize.MethodParams{CalibSize: 256, CalibSeed: 5, BiasCorrScales: "percentile", Percentile: 99.5},
			[]string{"--calib", "256", "--calib-seed", "5", "--bias-corr-scales", "percentile", "--percentile", "99.5"}},
		{"adaround", "tensor", 3, 32, quantize.MethodParams{CalibSize: 64, Iters: 20, BatchSize: 16, Seed: 2},
			[]string{"--calib", "64", "--iters", "20", "--batch", "16", "--seed", "2"}},
	}
	var lastStage, lastCLI string
	for _, c := range cases {
		pm := &quantize.Params{Method: c.method, Bits: c.bits, Granularity: c.gran, ActBits: c.act, MethodParams: c.mp}
		qDir := runStage(t, quantize.Kind{}, "quantize/"+c.method, cache, pm, map[string]string{"dataset": dsDir, "model": ptDir})
		out := filepath.Join(dir, c.method+".safetensors")
		args := append(quantizeArgs(cache, filepath.Join(ptDir, stageio.ModelFile), out, "--method", c.method, "--bits", itoa(c.bits),
			"--granularity", c.gran, "--act-bits", itoa(c.act), "--calib-seed", "1", "--percentile", "99.9", "--no-eval"), split...)
		if _, err := runCCQ(t, append(args, c.flags...)...); err != nil {
			t.Fatalf("%s: %v", c.method, err)
		}
		if !bytes.Equal(withoutDatasetMetadata(t, filepath.Join(qDir, stageio.ModelFile)), withoutDatasetMetadata(t, out)) {
			t.Errorf("%s: ccq quantize and the quantize stage wrote different models", c.method)
		}
		lastStage, lastCLI = qDir, out
	}

	// ste-qat fine-tunes over the whole training split: a dataset whose
	// validation split leaves 1,000 training images keeps it quick.
	steDs := t.TempDir()
	if err := stageio.WriteJSON(steDs, stageio.DatasetFile, stageio.DatasetRecord{Name: "mnist", ValSize: 59000, SplitSeed: 2}); err != nil {
		t.Fatal(err)
	}
	steDir := runStage(t, quantize.Kind{}, "quantize/ste-qat", cache, &quantize.Params{Method: "ste-qat", Bits: 2, Granularity: "channel", ActBits: 8,
		MethodParams: quantize.MethodParams{CalibSize: 128, Epochs: 1, BatchSize: 100, LR: 0.02, Seed: 4, STEWeights: "mse"}},
		map[string]string{"dataset": steDs, "model": ptDir})
	steOut := filepath.Join(dir, "ste-qat.safetensors")
	args = append(quantizeArgs(cache, filepath.Join(ptDir, stageio.ModelFile), steOut, "--method", "ste-qat", "--bits", "2",
		"--granularity", "channel", "--act-bits", "8", "--calib", "128", "--epochs", "1", "--batch", "100", "--lr", "0.02", "--seed", "4",
		"--ste-weights", "mse", "--no-eval"), "--offline", "--val-size", "59000", "--split-seed", "2", "--threads", "2")
	if _, err := runCCQ(t, args...); err != nil {
		t.Fatalf("ste-qat: %v", err)
	}
	if !bytes.Equal(withoutDatasetMetadata(t, filepath.Join(steDir, stageio.ModelFile)), withoutDatasetMetadata(t, steOut)) {
		t.Error("ste-qat: ccq quantize and the quantize stage wrote different models")
	}

	// evaluate: the float model and the last k-bit model
	for _, m := range []struct{ stage, file string }{{ptDir, float}, {lastStage, lastCLI}} {
		evDir := runStage(t, evaluate.Kind{}, "evaluate/x", cache, &evaluate.Params{}, map[string]string{"dataset": dsDir, "model": m.stage})
		var rep struct {
			Test nn.EvalResult `json:"test"`
		}
		if err := stageio.ReadJSON(evDir, evaluate.ReportFile, &rep); err != nil {
			t.Fatal(err)
		}
		stdout, err := runCCQ(t, append(append(common, "evaluate", m.file, "--json", "--split", "test", "--model", "", "--dataset", "", "--batch", "1024"), split...)...)
		if err != nil {
			t.Fatal(err)
		}
		var got evalReport
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatalf("%v in %s", err, stdout)
		}
		want, _ := json.Marshal(rep.Test.Confusion)
		have, _ := json.Marshal(got.Confusion)
		if got.Accuracy != rep.Test.Accuracy || got.Loss != rep.Test.Loss || got.N != rep.Test.N || !bytes.Equal(want, have) {
			t.Errorf("%s: ccq evaluate gives accuracy %v loss %v on %d, the stage %v %v on %d", m.file, got.Accuracy, got.Loss, got.N,
				rep.Test.Accuracy, rep.Test.Loss, rep.Test.N)
		}
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
