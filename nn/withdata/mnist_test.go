package withdata

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/nn"
)

// TestTrainMNISTSubset trains LeNet-5 for one epoch on 10,000 real MNIST
// training images (a few seconds) and requires at least 88% test accuracy
// (it reaches about 90% with 2 threads). Skipped with -short or when MNIST
// is not available offline (it comes with the GoMNIST module in go.mod).
func TestTrainMNISTSubset(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on real data for a few seconds")
	}
	ctx := context.Background()
	d, err := datasets.Load(ctx, "mnist", datasets.Options{Offline: true, CacheDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Skipf("MNIST not available offline: %v", err)
	}
	out := filepath.Join(t.TempDir(), "lenet5.safetensors")
	cfg := nn.TrainConfig{Epochs: 1, BatchSize: 128, LR: 0.05, Momentum: 0.9, Schedule: nn.ScheduleCosine, Seed: 1}
	_, log, err := TrainRun(ctx, d, RunOptions{Arch: "lenet5", Config: cfg, Threads: 2, Out: out, TrainLimit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if log.Test == nil || log.Test.N != 10000 {
		t.Fatalf("no test result over the 10,000 test images: %+v", log.Test)
	}
	t.Logf("test accuracy %.4f, loss %.4f; validation %.4f", log.Test.Accuracy, log.Test.Loss, log.BestValAcc)
	if log.Test.Accuracy < 0.88 {
		t.Errorf("test accuracy %.4f after one epoch on 10k images, want >= 0.88", log.Test.Accuracy)
	}
	// The written model reproduces the result.
	m2, md, err := nn.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if md[nn.MetaDataset] != "mnist" || md[nn.MetaMean] == "" {
		t.Errorf("metadata %v lacks the dataset and normalisation", md)
	}
	r2, err := nn.Evaluate(ctx, m2, SplitSource{d, &d.Test}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Accuracy != log.Test.Accuracy {
		t.Errorf("saved model scores %.4f, the trained one %.4f", r2.Accuracy, log.Test.Accuracy)
	}
	if _, err := os.Stat(out + ".log.json"); err != nil {
		t.Errorf("no training log: %v", err)
	}
}
