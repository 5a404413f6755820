// Package stagetest builds the store inputs the stage kinds' tests read: a
// dataset stage's record and a model stage's files, in the layout the
// stages leave them.
package stagetest

import (
	"context"
	"testing"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/nn/withdata"
	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/store"
	"github.com/ccq-project/ccq/stages/stageio"
)

// MNISTLeNet5 loads MNIST (a 500-image validation split, seed 1), writes
// its dataset record as a dataset stage's entry and returns the dataset,
// that input and a random LeNet-5 (seed 3) for it, closed when the test
// ends. It skips the test when MNIST is not available.
func MNISTLeNet5(t *testing.T) (*datasets.Dataset, *pipeline.Input, *nn.Model) {
	t.Helper()
	rec := stageio.DatasetRecord{Name: "mnist", ValSize: 500, SplitSeed: 1}
	d, err := datasets.Load(context.Background(), rec.Name, datasets.Options{ValSize: rec.ValSize, SplitSeed: rec.SplitSeed})
	if err != nil {
		t.Skipf("MNIST not available: %v", err)
	}
	dsDir := t.TempDir()
	if err := stageio.WriteJSON(dsDir, stageio.DatasetFile, rec); err != nil {
		t.Fatal(err)
	}
	g, err := nn.BuildGraph("lenet5", withdata.Shape(d), len(d.Classes))
	if err != nil {
		t.Fatal(err)
	}
	fm, err := nn.NewModel(g, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fm.Close)
	in := &pipeline.Input{Stage: "dataset/mnist", Entry: &store.Entry{Dir: dsDir, Manifest: &store.Manifest{Kind: "dataset"}}}
	return d, in, fm
}

// ModelInput writes a model stage's entry: save writes the model file into
// the folder it is given, rec is its model record; stage and kind name the
// stage the input comes from.
func ModelInput(t *testing.T, stage, kind string, rec stageio.ModelRecord, save func(dir string) error) *pipeline.Input {
	t.Helper()
	dir := t.TempDir()
	if err := save(dir); err != nil {
		t.Fatal(err)
	}
	if err := stageio.WriteJSON(dir, stageio.ModelRecordFile, rec); err != nil {
		t.Fatal(err)
	}
	return &pipeline.Input{Stage: stage, Entry: &store.Entry{Dir: dir, Manifest: &store.Manifest{Kind: kind}}}
}
