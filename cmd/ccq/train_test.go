package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/nn/withdata"
)

// TestTrainEvaluateMNIST trains LeNet-5 for one epoch on 10,000 MNIST
// images with `ccq train`, then scores the file with `ccq evaluate --json`.
func TestTrainEvaluateMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on real data")
	}
	cache, dir := t.TempDir(), t.TempDir()
	out := filepath.Join(dir, "lenet5.safetensors")
	stdout, err := runCCQ(t, "--log-level", "error", "--data-dir", cache, "train", "--dataset", "mnist", "--model", "lenet5",
		"--epochs", "1", "--warmup", "0", "--limit", "10000", "--threads", "2", "--offline", "--out", out, "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	// The output mixes progress (stderr) and the JSON log (stdout) in this
	// in-process run: take the JSON object.
	var log withdata.RunLog
	if err := json.Unmarshal([]byte(stdout[strings.Index(stdout, "{\n"):]), &log); err != nil {
		t.Fatalf("%v in:\n%s", err, stdout)
	}
	if log.Model != "lenet5" || log.Dataset != "mnist" || log.TrainN != 10000 || len(log.Epochs) != 1 || log.Test == nil {
		t.Fatalf("log %+v", log)
	}
	if log.Test.Accuracy < 0.75 {
		t.Errorf("test accuracy %.3f after one epoch on 10,000 images, want >= 0.75 (a sanity check; nn tests the engine)", log.Test.Accuracy)
	}
	if !strings.Contains(stdout, "epoch 1/1") || !strings.Contains(stdout, "val acc") {
		t.Errorf("no progress lines in:\n%s", stdout)
	}
	b, err := os.ReadFile(out + ".log.json")
	if err != nil || !json.Valid(b) {
		t.Fatalf("log file: %v", err)
	}
	stdout, err = runCCQ(t, "--log-level", "error", "--data-dir", cache, "evaluate", out, "--offline", "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	var rep evalReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v in:\n%s", err, stdout)
	}
	if rep.Dataset != "mnist" || rep.Split != "test" || rep.N != 10000 || rep.Accuracy != log.Test.Accuracy || len(rep.PerClass) != 10 || rep.PerClass[1].N != 1135 {
		t.Errorf("evaluate report %+v, training log test accuracy %v", rep, log.Test.Accuracy)
	}
	stdout, err = runCCQ(t, "--log-level", "error", "--data-dir", cache, "evaluate", out, "--offline", "--split", "val", "--json=false")
	if err != nil || !strings.Contains(stdout, "accuracy") || !strings.Contains(stdout, "on mnist val: 5000 images") {
		t.Errorf("text report: %v\n%s", err, stdout)
	}
}

func TestTrainEvaluateErrors(t *testing.T) {
	if _, err := runCCQ(t, "train", "--dataset", "mnist", "--model", "lenet5", "--out", ""); err == nil || !strings.Contains(err.Error(), "--out") {
		t.Errorf("missing --out: %v", err)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.safetensors")
	os.WriteFile(bad, []byte("not a model"), 0o644)
	if _, err := runCCQ(t, "evaluate", bad, "--dataset", "mnist"); err == nil || !strings.Contains(err.Error(), "bad.safetensors") {
		t.Errorf("corrupt model: %v", err)
	}
}

func TestBenchJSON(t *testing.T) {
	saved := benchFlags
	defer func() { benchFlags = saved }()
	stdout, err := runCCQ(t, "bench", "--models", "mlp", "--min-time", "20ms", "--reps", "1", "--train-batch", "16", "--infer-batch", "32", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v in:\n%s", err, stdout)
	}
	if len(rep.Results) != 1 || rep.Results[0].Model != "mlp" || rep.Results[0].TrainImagesPerSec <= 0 || rep.Results[0].InferImagesPerSec <= 0 {
		t.Errorf("bench report %+v", rep)
	}
	if _, err := runCCQ(t, "bench", "--models", "vgg"); err == nil || !strings.Contains(err.Error(), "vgg") {
		t.Errorf("unknown model: %v", err)
	}
}
