package withdata

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/nn"
)

// syntheticCIFAR returns n records in the CIFAR-10 binary format (label
// byte, then 3x32x32 pixels): noise, plus a bright three-row band whose row
// and colour plane depend on the class.
func syntheticCIFAR(rng *rand.Rand, n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		c := rng.IntN(10)
		rec := make([]byte, datasets.CIFAR10RecordSize)
		rec[0] = byte(c)
		img := rec[1:]
		for j := range img {
			img[j] = byte(rng.IntN(60))
		}
		plane := img[(c%3)*1024 : (c%3+1)*1024]
		for r := 3 * c; r < 3*c+3; r++ {
			for x := 4; x < 28; x++ {
				plane[r*32+x] = 200
			}
		}
		b.Write(rec)
	}
	return b.Bytes()
}

// TestCIFARRecipeSynthetic runs ResNet-20 with the CIFAR-10 recipe (SGD 0.1,
// momentum 0.9, weight decay 1e-4, step schedule, random crop with 4-pixel
// padding and horizontal flips) on a small synthetic set in the CIFAR-10
// binary format, read through the datasets package's CIFAR reader: the real
// CIFAR-10 is not reachable from here. It checks the pipeline learns
// (accuracy well above chance), not the published figure.
func TestCIFARRecipeSynthetic(t *testing.T) {
	if testing.Short() {
		t.Skip("trains ResNet-20 for a few seconds")
	}
	rng := rand.New(rand.NewPCG(10, 20))
	d := &datasets.Dataset{Name: "synthetic-cifar", C: 3, H: 32, W: 32, Classes: make([]string, 10),
		Mean: []float32{0.2, 0.2, 0.2}, Std: []float32{0.25, 0.25, 0.25}}
	for _, s := range []struct {
		split *datasets.Split
		n     int
	}{{&d.Train, 320}, {&d.Val, 100}, {&d.Test, 100}} {
		s.split.N = s.n
		s.split.Images = make([]uint8, s.n*datasets.CIFAR10ImageSize)
		s.split.Labels = make([]uint8, s.n)
		if err := datasets.ReadCIFAR10Batch(bytes.NewReader(syntheticCIFAR(rng, s.n)), "synthetic", s.split.Images, s.split.Labels); err != nil {
			t.Fatal(err)
		}
	}
	cfg := nn.TrainConfig{Epochs: 4, BatchSize: 32, LR: 0.1, Momentum: 0.9, WeightDecay: 1e-4, Schedule: nn.ScheduleStep,
		Milestones: []float64{3}, Augment: nn.AugmentCropFlip, Seed: 3}
	_, log, err := TrainRun(context.Background(), d, RunOptions{Arch: "resnet20", Config: cfg, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("val %.3f, test %.3f, train loss %.3f -> %.3f", log.BestValAcc, log.Test.Accuracy, log.Epochs[0].TrainLoss, log.Epochs[3].TrainLoss)
	if log.Test.Accuracy < 0.5 {
		t.Errorf("test accuracy %.3f on the synthetic CIFAR-format set, want >= 0.5 (chance is 0.1)", log.Test.Accuracy)
	}
	if lr := log.Epochs[3].LR; lr > 0.011 {
		t.Errorf("learning rate %v in the last epoch: the step at epoch 3 did not happen", lr)
	}
}
