// Package stageio holds what several stage kinds share: reading the dataset
// a stage's "dataset" input describes, and small atomic JSON files in a
// stage's output folder. Stages talk to each other only through such files.
package stageio

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/internal/atomicfile"
	"github.com/ccq-project/ccq/pipeline"
)

// DatasetFile is the file a dataset stage writes: the dataset's summary and
// the options that reproduce it.
const DatasetFile = "dataset.json"

// DatasetRecord is the content of DatasetFile.
type DatasetRecord struct {
	// Options are what a later stage passes to datasets.Load.
	Name      string `json:"name"`
	ValSize   int    `json:"val_size"`
	SplitSeed uint64 `json:"split_seed"`
	// Source is the explicit directory the files came from, if any.
	Source  string           `json:"source,omitempty"`
	Summary datasets.Summary `json:"summary"`
}

// WriteJSON writes v as indented JSON to dir/name atomically.
func WriteJSON(dir, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", name, err)
	}
	return atomicfile.Write(filepath.Join(dir, name), append(b, '\n'))
}

// ReadJSON reads dir/name into v, naming the file in errors.
func ReadJSON(dir, name string, v any) error {
	p := filepath.Join(dir, name)
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decoding %s: %w", p, err)
	}
	return nil
}

// LoadDataset loads the dataset that the stage's input named "dataset"
// describes, with the same split, from the run's dataset cache.
func LoadDataset(ctx context.Context, sc *pipeline.StageContext) (*datasets.Dataset, error) {
	in, err := sc.Input("dataset")
	if err != nil {
		return nil, err
	}
	var rec DatasetRecord
	if err := ReadJSON(in.Dir, DatasetFile, &rec); err != nil {
		return nil, fmt.Errorf("stage %s: dataset input: %w", sc.Name, err)
	}
	d, err := datasets.Load(ctx, rec.Name, datasets.Options{
		Dir:       rec.Source,
		CacheDir:  sc.Settings.DataDir,
		ValSize:   rec.ValSize,
		SplitSeed: rec.SplitSeed,
		Logger:    sc.Log,
	})
	if err != nil {
		return nil, fmt.Errorf("stage %s: %w", sc.Name, err)
	}
	return d, nil
}

// Rename moves a file, wrapping the error with both names.
func Rename(from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("renaming %s to %s: %w", from, to, err)
	}
	return nil
}
