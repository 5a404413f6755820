// Package withdata connects package nn to package datasets: a dataset
// split as an nn.Source, a dataset's input shape and metadata, and a
// complete training run on a dataset (TrainRun). It keeps nn itself free of
// the dataset code.
package withdata

import (
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
