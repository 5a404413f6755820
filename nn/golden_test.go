package nn

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/nn/safetensors"
)

// TestGoldenPyTorch imports (Import), for every architecture of the table,
// the PyTorch state dict of testdata/golden_<arch>.safetensors (written by
// testdata/gen_golden.py with PyTorch), runs the model on the file's inputs
// (whose shape, N x C x H x W, gives the model's input) and compares
// eval-mode and train-mode logits, the loss, parameter gradients and
// updated batch-norm running statistics with PyTorch's.
func TestGoldenPyTorch(t *testing.T) {
	for _, arch := range Archs {
		t.Run(arch, func(t *testing.T) {
			f, err := safetensors.Read(filepath.Join("testdata", "golden_"+arch+".safetensors"))
			if err != nil {
				t.Fatalf("every architecture needs a PyTorch golden file (add it to testdata/gen_golden.py and run it): %v", err)
			}
			var sd []safetensors.Tensor
			gold := map[string][]float32{}
			var labels []uint8
			var input Shape
			for _, tn := range f.Tensors {
				if !strings.HasPrefix(tn.Name, "golden.") {
					sd = append(sd, tn)
					continue
				}
				if tn.Name == "golden.labels" {
					v, err := tn.Int64s()
					if err != nil {
						t.Fatal(err)
					}
					for _, l := range v {
						labels = append(labels, uint8(l))
					}
					continue
				}
				if tn.Name == "golden.input" {
					if len(tn.Shape) != 4 {
						t.Fatalf("golden.input has shape %v, want N x C x H x W", tn.Shape)
					}
					input = Shape{tn.Shape[1], tn.Shape[2], tn.Shape[3]}
				}
				v, err := tn.Float32s()
				if err != nil {
					t.Fatal(err)
				}
				gold[strings.TrimPrefix(tn.Name, "golden.")] = v
			}
			// The state dict alone, as torch's safetensors save_file writes
			// it, goes through Import (which takes the classes from the
			// final layer).
			state := filepath.Join(t.TempDir(), arch+".safetensors")
			if err := safetensors.Write(state, &safetensors.File{Metadata: f.Metadata, Tensors: sd}); err != nil {
				t.Fatal(err)
			}
			m, _, err := Import(state, arch, input)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			g := m.Graph()
			for _, k := range []string{"input", "logits_eval", "logits_train", "loss"} {
				if len(gold[k]) == 0 {
					t.Fatalf("golden file has no golden.%s", k)
				}
			}
			x := gold["input"]
			n := len(labels)
			if len(gold["logits_eval"]) != n*g.Classes {
				t.Fatalf("imported %d classes, golden logits have %d values for %d inputs", g.Classes, len(gold["logits_eval"]), n)
			}
			assertClose(t, "eval logits", m.Forward(x, n, false), to64(gold["logits_eval"]), 1e-4, 1e-4)
			logits := m.Forward(x, n, true)
			assertClose(t, "train logits", logits, to64(gold["logits_train"]), 1e-4, 1e-4)
			d := make([]float32, len(logits))
			loss := SoftmaxCrossEntropy(logits, labels, n, g.Classes, d)
			assertClose(t, "loss", []float32{float32(loss)}, to64(gold["loss"]), 1e-5, 0)
			m.Backward(d)
			grads := 0
			for k, v := range gold {
				switch {
				case strings.HasPrefix(k, "grad."):
					name := CanonicalName(arch, strings.TrimPrefix(k, "grad."))
					p := m.Param(name)
					if p == nil {
						t.Fatalf("golden gradient for %s: no such parameter", name)
					}
					assertClose(t, "grad "+name, p.Grad, to64(v), 1e-3, 1e-5)
					grads++
				case strings.HasPrefix(k, "after."):
					name := CanonicalName(arch, strings.TrimPrefix(k, "after."))
					mean, variance := m.BatchNormStats(name[:strings.LastIndex(name, ".")])
					got := mean
					if strings.HasSuffix(name, "running_var") {
						got = variance
					}
					if got == nil {
						t.Fatalf("golden statistic %s: no such batch norm", name)
					}
					assertClose(t, name+" after a training step", got, to64(v), 1e-5, 1e-6)
				}
			}
			if grads == 0 {
				t.Error("golden file holds no gradients")
			}
		})
	}
}
