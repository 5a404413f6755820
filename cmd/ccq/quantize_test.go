package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/nn/safetensors"
	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/evalbench"
)

// saveRandomModel writes a randomly initialised float model for arch and
// input shape, recording mnist as its dataset.
func saveRandomModel(t *testing.T, dir, arch string, in nn.Shape) string {
	t.Helper()
	g, err := nn.BuildGraph(arch, in, 10)
	if err != nil {
		t.Fatal(err)
	}
	m, err := nn.NewModel(g, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	path := filepath.Join(dir, arch+".safetensors")
	if err := m.Save(path, map[string]string{nn.MetaDataset: "mnist"}); err != nil {
		t.Fatal(err)
	}
	return path
}

// quantizeArgs are the flags every quantize call sets (cobra flag values
// persist between in-process runs).
func quantizeArgs(cache, model, out string, extra ...string) []string {
	a := []string{"--log-level", "error", "--data-dir", cache, "quantize", model, "--offline", "--out", out, "--model", "", "--dataset", "",
		"--method", "rtn", "--bits", "4", "--act-bits", "32", "--granularity", "tensor", "--calib", "64", "--no-eval=false", "--integer=false", "--bias-corr-scales", "rtn", "--ste-weights", "dorefa",
		"--iters", "10000", "--lambda", "0.01", "--beta-start", "20", "--beta-end", "2", "--warm-up", "0.2", "--seed", "1"}
	return append(a, extra...)
}

func TestQuantizeCommand(t *testing.T) {
	dir := t.TempDir()
	cache := t.TempDir()
	model := saveRandomModel(t, dir, "lenet5", nn.Shape{C: 1, H: 28, W: 28})
	out := filepath.Join(dir, "q.safetensors")
	stdout, err := runCCQ(t, quantizeArgs(cache, model, out, "--method", "mse", "--bits", "3", "--act-bits", "8", "--granularity", "channel", "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	var rep quantizeReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v in %s", err, stdout)
	}
	if rep.Method != "mse" || rep.Bits != 3 || rep.ActBits != 8 || rep.Test == nil || rep.Test.N != 10000 || len(rep.SourceDigest) != 64 {
		t.Errorf("report %+v", rep)
	}
	m, err := quant.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if m.Bits != 3 || m.ActBits != 8 || m.Granularity != quant.PerChannel || m.SourceDigest != rep.SourceDigest || m.Extra[nn.MetaDataset] != "mnist" {
		t.Errorf("saved model metadata: %+v", m)
	}
	// ccq evaluate dispatches k-bit files to the quantized forward path and
	// finds the same accuracy.
	stdout, err = runCCQ(t, "--log-level", "error", "--data-dir", cache, "evaluate", out, "--offline", "--json", "--split", "test")
	if err != nil {
		t.Fatal(err)
	}
	var ev evalReport
	if err := json.Unmarshal([]byte(stdout), &ev); err != nil {
		t.Fatalf("%v in %s", err, stdout)
	}
	if ev.Format != quant.FormatKBit || ev.Accuracy != rep.Test.Accuracy || ev.N != 10000 {
		t.Errorf("evaluate: %+v, quantize said %v", ev, rep.Test.Accuracy)
	}
}

func TestQuantizeRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	cache := t.TempDir()
	lenet := saveRandomModel(t, dir, "lenet5", nn.Shape{C: 1, H: 28, W: 28})
	cifar := saveRandomModel(t, dir, "resnet20", nn.Shape{C: 3, H: 32, W: 32})
	// A lenet5 file whose fc1 weight has the wrong shape.
	f, err := safetensors.Read(lenet)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := f.Get("fc1.weight")
	*w = safetensors.F32("fc1.weight", []int{120, 399}, make([]float32, 120*399))
	bad := filepath.Join(dir, "bad.safetensors")
	if err := safetensors.Write(bad, f); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		model string
		args  []string
		want  string
	}{
		{lenet, []string{"--bits", "9"}, "--bits: bits 9: expected an integer in 1..8"},
		{lenet, []string{"--bits", "0"}, "--bits: bits 0"},
		{lenet, []string{"--act-bits", "12"}, "--act-bits"},
		{lenet, []string{"--method", "magic"}, `method "magic"`},
		{bad, nil, "fc1.weight"},
		{cifar, []string{"--dataset", "mnist"}, "dataset mnist has 1x28x28 images, the resnet20 model takes 3x32x32"},
	}
	for _, c := range cases {
		out := filepath.Join(dir, "out.safetensors")
		_, err := runCCQ(t, quantizeArgs(cache, c.model, out, append(c.args, "--no-eval")...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: want an error containing %q, got %v", c.args, c.want, err)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%v: output written despite the error", c.args)
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.Contains(e.Name(), "tmp") {
				t.Errorf("%v: temporary file %s left behind", c.args, e.Name())
			}
		}
	}
}

func TestBenchEvaluatorCommand(t *testing.T) {
	stdout, err := runCCQ(t, "--log-level", "error", "bench", "evaluator", "--model", "mlp", "--batch", "64", "--delta", "50",
		"--layer", "fc2", "--candidates", "4", "--seconds", "0.01", "--threads", "0", "--bits", "4", "--act-bits", "32", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r evalbench.BenchResult
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("%v in %s", err, stdout)
	}
	if !(r.IncrementalPerSec > 0) || !(r.FullForwardPerSec > 0) || r.LayerWeights != 256*256 {
		t.Errorf("bench result %+v", r)
	}
	for _, key := range []string{`"arch": "mlp"`, `"act_bits": 32`, `"input": {`} {
		if !strings.Contains(stdout, key) {
			t.Errorf("bench evaluator --json lacks %s:\n%s", key, stdout)
		}
	}
	if _, err := runCCQ(t, "--log-level", "error", "bench", "evaluator", "--model", "mlp", "--layer", "conv9", "--batch", "8", "--json=false"); err == nil || !strings.Contains(err.Error(), `layer "conv9"`) {
		t.Errorf("unknown layer: %v", err)
	}
}

// TestQuantizePyTorchStateDict quantizes a state dict without ccq metadata
// (as PyTorch's save_file writes it), named with --model.
func TestQuantizePyTorchStateDict(t *testing.T) {
	dir := t.TempDir()
	cache := t.TempDir()
	g, err := nn.BuildGraph("mlp", nn.Shape{C: 1, H: 28, W: 28}, 10)
	if err != nil {
		t.Fatal(err)
	}
	m, err := nn.NewModel(g, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	path := filepath.Join(dir, "sd.safetensors")
	if err := safetensors.Write(path, &safetensors.File{Tensors: m.StateDict()}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "q.safetensors")
	if _, err := runCCQ(t, quantizeArgs(cache, path, out, "--model", "mlp", "--no-eval")...); err == nil || !strings.Contains(err.Error(), "needs --dataset") {
		t.Errorf("--model without --dataset: %v", err)
	}
	if _, err := runCCQ(t, quantizeArgs(cache, path, out, "--model", "mlp", "--dataset", "mnist", "--no-eval", "--bits", "2")...); err != nil {
		t.Fatal(err)
	}
	q, err := quant.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if q.Graph.Arch != "mlp" || q.Bits != 2 || q.NumVars() != 784*256+256*256+256*10 {
		t.Errorf("quantized state dict: %s, %d bits, %d weights", q.Graph.Arch, q.Bits, q.NumVars())
	}
	// Later runs must not inherit --model and --dataset (cobra flags persist).
	if _, err := runCCQ(t, quantizeArgs(cache, path, out, "--model", "", "--dataset", "", "--no-eval")...); err == nil {
		t.Error("a file without metadata was accepted without --model")
	}
}

// ccq quantize --method adaround: the same inputs give the same file, the
// model is flagged as made with gradients, and bad parameters are refused
// by name.
func TestQuantizeAdaRound(t *testing.T) {
	dir := t.TempDir()
	cache := t.TempDir()
	model := saveRandomModel(t, dir, "lenet5", nn.Shape{C: 1, H: 28, W: 28})
	var files [2][]byte
	for i := range files {
		out := filepath.Join(dir, "ada.safetensors")
		stdout, err := runCCQ(t, quantizeArgs(cache, model, out, "--method", "adaround", "--bits", "2", "--calib", "32",
			"--iters", "30", "--warm-up", "0.5", "--seed", "4", "--no-eval", "--json")...)
		if err != nil {
			t.Fatal(err)
		}
		var rep quantizeReport
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("%v in %s", err, stdout)
		}
		if rep.Method != "adaround" || !rep.UsedFPGradients || rep.CalibSamples != 32 {
			t.Errorf("report %+v", rep)
		}
		if files[i], err = os.ReadFile(out); err != nil {
			t.Fatal(err)
		}
	}
	if string(files[0]) != string(files[1]) {
		t.Error("same inputs, different adaround outputs")
	}
	for _, c := range [][]string{{"--iters", "-3"}, {"--lambda", "-1"}, {"--warm-up", "1"}, {"--beta-end", "0.5"}} {
		out := filepath.Join(dir, "bad.safetensors")
		_, err := runCCQ(t, quantizeArgs(cache, model, out, append([]string{"--method", "adaround", "--calib", "8", "--no-eval"}, c...)...)...)
		field := strings.ReplaceAll(strings.TrimPrefix(c[0], "--"), "-", "_")
		if err == nil || !strings.HasPrefix(err.Error(), c[0]+": "+c[1]+": ") {
			t.Errorf("%v: want an error naming %s, got %v", c, field, err)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%v: output written despite the error", c)
		}
	}
}
