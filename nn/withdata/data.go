// Package withdata connects package nn to package datasets: a dataset
// split as an nn.Source, a dataset's input shape and metadata, and a
// complete training run on a dataset (TrainRun). It keeps nn itself free of
// the dataset code.
package withdata

import (
	"fmt"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/nn"
)

// SplitSource is an nn.Source over one split of a dataset, normalised with the
// dataset's per-channel mean and standard deviation.
type SplitSource struct {
	D *datasets.Dataset
	S *datasets.Split
}

// Len implements nn.Source.
func (s SplitSource) Len() int { return s.S.N }

// Batch implements nn.Source.
func (s SplitSource) Batch(idx []int, x []float32, y []uint8) {
	s.D.Normalize(s.S, idx, x)
	for k, i := range idx {
		y[k] = s.S.Labels[i]
	}
}

// Metadata returns the metadata keys describing the data a model was
// trained on (nn.MetaDataset, nn.MetaMean, nn.MetaStd), for nn.Model.Save.
func Metadata(d *datasets.Dataset) map[string]string {
	return map[string]string{
		nn.MetaDataset: d.Name,
		nn.MetaMean:    nn.FormatFloats(d.Mean),
		nn.MetaStd:     nn.FormatFloats(d.Std),
	}
}

// Shape is the per-image shape of a dataset.
func Shape(d *datasets.Dataset) nn.Shape { return nn.Shape{C: d.C, H: d.H, W: d.W} }

// UseRecordedNormalisation makes d normalise with the mean and standard
// deviation a model's metadata records (Metadata wrote them when it was
// trained), when it records them: a model trained on another split of the
// same dataset sees its own normalisation. path names the model in errors.
func UseRecordedNormalisation(d *datasets.Dataset, md map[string]string, path string) error {
	mean, err := nn.ParseFloats(md[nn.MetaMean])
	if err != nil {
		return fmt.Errorf("%s: metadata %s: %w", path, nn.MetaMean, err)
	}
	std, err := nn.ParseFloats(md[nn.MetaStd])
	if err != nil {
		return fmt.Errorf("%s: metadata %s: %w", path, nn.MetaStd, err)
	}
	if len(mean) == 0 && len(std) == 0 {
		return nil
	}
	if len(mean) != d.C || len(std) != d.C {
		return fmt.Errorf("%s: records normalisation for %d/%d channels, but %s has %d", path, len(mean), len(std), d.Name, d.C)
	}
	d.Mean, d.Std = mean, std
	return nil
}
