package nn

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
