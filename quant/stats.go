package quant

// LevelCount is how many weights of a model take one level.
type LevelCount struct {
	Level    int     `json:"level"`
	Count    int     `json:"count"`
	Fraction float64 `json:"fraction"`
}

// LevelHistogram counts the levels of a model, every level of the k-bit
// range included (zero counts too).
func LevelHistogram(m *Model) []LevelCount {
	lo, hi := LevelRange(m.Bits)
	counts := make([]int, hi-lo+1)
	total := 0
	for i := range m.Layers {
		for _, v := range m.Layers[i].Levels {
			counts[int(v)-lo]++
			total++
		}
	}
	var out []LevelCount
	for i, c := range counts {
		l := i + lo
		if m.Bits == 1 && l == 0 {
			continue
		}
		out = append(out, LevelCount{Level: l, Count: c, Fraction: float64(c) / float64(max(total, 1))})
	}
	return out
}

// Sizes returns the packed size of the levels, the whole model's size
// (packed levels plus float32 scales, biases and activation scales), and
// the float32 size of the same weights and biases.
func Sizes(m *Model) (packed, model, float int) {
	for i := range m.Layers {
		l := &m.Layers[i]
		packed += PackedBytes(len(l.Levels), m.Bits)
		model += 4 * (len(l.Scales) + len(l.Bias))
		if l.Act.Enabled() {
			model += 4
		}
		float += 4 * (len(l.Levels) + len(l.Bias))
	}
	return packed, packed + model, float
}
