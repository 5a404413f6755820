package engine

import (
	"fmt"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/nn"
)

// SplitData normalizes up to n samples of a dataset split (all when n <= 0
// or n >= the split's size; otherwise n samples evenly spaced through the
// split, a deterministic choice) into NCHW float32, after checking that the
// dataset's image shape and classes fit the graph.
func SplitData(g nn.Graph, d *datasets.Dataset, s *datasets.Split, n int) ([]float32, []uint8, error) {
	if d.C != g.Input.C || d.H != g.Input.H || d.W != g.Input.W {
		return nil, nil, fmt.Errorf("dataset %s has %dx%dx%d images, the %s model takes %dx%dx%d", d.Name, d.C, d.H, d.W, g.Arch, g.Input.C, g.Input.H, g.Input.W)
	}
	if len(d.Classes) > g.Classes {
		return nil, nil, fmt.Errorf("dataset %s has %d classes, the %s model outputs %d", d.Name, len(d.Classes), g.Arch, g.Classes)
	}
	if s.N == 0 {
		return nil, nil, fmt.Errorf("dataset %s: the split is empty", d.Name)
	}
	if n <= 0 || n > s.N {
		n = s.N
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = int(int64(i) * int64(s.N) / int64(n))
	}
	x := make([]float32, n*d.Dim())
	d.Normalize(s, idx, x)
	y := make([]uint8, n)
	for i, j := range idx {
		y[i] = s.Labels[j]
	}
	return x, y, nil
}
