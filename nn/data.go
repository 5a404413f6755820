package nn

import (
	"github.com/ccq-project/ccq/datasets"
)

// SplitSource is a Source over one split of a dataset, normalised with the
// dataset's per-channel mean and standard deviation.
type SplitSource struct {
	D *datasets.Dataset
	S *datasets.Split
}

// Len implements Source.
func (s SplitSource) Len() int { return s.S.N }

// Batch implements Source.
func (s SplitSource) Batch(idx []int, x []float32, y []uint8) {
	s.D.Normalize(s.S, idx, x)
	for k, i := range idx {
		y[k] = s.S.Labels[i]
	}
}

// Subset is a Source over the first N examples of another Source (all of
// them when N is larger).
type Subset struct {
	Src Source
	N   int
}

// Len implements Source.
func (s Subset) Len() int { return min(s.N, s.Src.Len()) }

// Batch implements Source.
func (s Subset) Batch(idx []int, x []float32, y []uint8) { s.Src.Batch(idx, x, y) }

// DatasetMetadata returns the metadata keys describing the data a model
// was trained on (MetaDataset, MetaMean, MetaStd), for Save.
func DatasetMetadata(d *datasets.Dataset) map[string]string {
	return map[string]string{
		MetaDataset: d.Name,
		MetaMean:    FormatFloats(d.Mean),
		MetaStd:     FormatFloats(d.Std),
	}
}

// DatasetShape is the per-image shape of a dataset.
func DatasetShape(d *datasets.Dataset) Shape { return Shape{d.C, d.H, d.W} }
