package datasets

// Size is a dataset's image shape and the sizes of its official splits,
// known without reading any file (for cost estimates).
type Size struct {
	C, H, W     int
	Train, Test int
}

// SizeOf returns the shape and official split sizes of a named dataset.
func SizeOf(name string) (Size, error) {
	s, err := lookup(name)
	if err != nil {
		return Size{}, err
	}
	return Size{C: s.c, H: s.h, W: s.w, Train: s.nTrain, Test: s.nTest}, nil
}
