package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/nn/safetensors"
)

// TestEvaluateAndQuantizeRefuseNonFiniteWeights: a float model with a NaN
// or an infinite weight is refused by `ccq evaluate` as by `ccq quantize`,
// with the file and the tensor named (one check, nn.CheckFinite).
func TestEvaluateAndQuantizeRefuseNonFiniteWeights(t *testing.T) {
	dir, cache := t.TempDir(), t.TempDir()
	good := saveRandomModel(t, dir, "lenet5", nn.Shape{C: 1, H: 28, W: 28})
	for _, c := range []struct {
		name, tensor string
		at           int
		value        float32
		want         string
	}{
		{"nan", "conv1.weight", 3, float32(math.NaN()), `tensor "conv1.weight": value 3 is NaN, expected a finite number`},
		{"inf", "fc3.bias", 9, float32(math.Inf(-1)), `tensor "fc3.bias": value 9 is -Inf, expected a finite number`},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := safetensors.Read(good)
			if err != nil {
				t.Fatal(err)
			}
			tensor, ok := f.Get(c.tensor)
			if !ok {
				t.Fatalf("no tensor %s", c.tensor)
			}
			v, err := tensor.Float32s()
			if err != nil {
				t.Fatal(err)
			}
			v[c.at] = c.value
			*tensor = safetensors.F32(c.tensor, tensor.Shape, v)
			bad := filepath.Join(dir, c.name+".safetensors")
			if err := safetensors.Write(bad, f); err != nil {
				t.Fatal(err)
			}
			out, err := runCCQ(t, "--log-level", "error", "--data-dir", cache, "evaluate", bad, "--offline", "--split", "test", "--dataset", "", "--model", "", "--json")
			if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("evaluate: %v, want an error naming %s and containing %q\n%s", err, bad, c.want, out)
			}
			q := filepath.Join(dir, c.name+"-q.safetensors")
			_, err = runCCQ(t, quantizeArgs(cache, bad, q, "--no-eval")...)
			if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("quantize: %v, want an error naming %s and containing %q", err, bad, c.want)
			}
			if _, err := os.Stat(q); !os.IsNotExist(err) {
				t.Errorf("quantize wrote %s", q)
			}
		})
	}
}
