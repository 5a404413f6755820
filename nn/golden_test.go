package nn

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/nn/safetensors"
)

// goldenArchs are the architectures with a PyTorch golden file. The deeper
// CIFAR ResNets (resnet32, resnet44, resnet56) are built by the same table
// entry code as resnet20 (cifarResNet) and have none yet: generating one
// needs PyTorch (testdata/gen_golden.py); TestCIFARResNetFamily checks
// their structure.
var goldenArchs = []string{"mlp", "lenet5", "resnet20"}

// TestGoldenPyTorch runs each model on the inputs of testdata/golden_*.safetensors
// (written by testdata/gen_golden.py with PyTorch) and compares eval-mode and
// train-mode logits, the loss, parameter gradients and updated batch-norm
// running statistics with PyTorch's.
func TestGoldenPyTorch(t *testing.T) {
	for _, arch := range goldenArchs {
		t.Run(arch, func(t *testing.T) {
			f, err := safetensors.Read(filepath.Join("testdata", "golden_"+arch+".safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			var sd []safetensors.Tensor
			gold := map[string][]float32{}
			var labels []uint8
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
				v, err := tn.Float32s()
				if err != nil {
					t.Fatal(err)
				}
				gold[strings.TrimPrefix(tn.Name, "golden.")] = v
			}
			g, err := BuildGraph(arch, Shape{1, 28, 28}, 10)
			if err != nil {
				t.Fatal(err)
			}
			m, err := NewModel(g, 99)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.LoadStateDict(sd); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"input", "logits_eval", "logits_train", "loss"} {
				if len(gold[k]) == 0 {
					t.Fatalf("golden file has no golden.%s", k)
				}
			}
			x := gold["input"]
			n := len(labels)
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
