package quant

import (
	"math"
	"slices"
)

// The weight scale rules of the k-bit format: a weight group's scale maps
// some statistic of |w| to the largest level (LevelRange); 1-bit weights
// use the mean |w| (the least-squares scale of sign weights).

// SafeScale replaces a zero or invalid scale (an all-zero weight group).
func SafeScale(s float64) float32 {
	if !(s > 1e-12) || math.IsInf(s, 0) {
		return 1e-8
	}
	return float32(s)
}

func meanAbs(w []float32) float64 {
	var s float64
	for _, v := range w {
		s += math.Abs(float64(v))
	}
	return s / float64(max(len(w), 1))
}

func maxAbs(w []float32) float64 {
	var m float64
	for _, v := range w {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}

// MaxScale is round-to-nearest's scale: max |w| maps to the largest level.
func MaxScale(w []float32, bits int) float32 {
	if bits <= 1 {
		return SafeScale(meanAbs(w))
	}
	_, hi := LevelRange(bits)
	return SafeScale(maxAbs(w) / float64(hi))
}

// quantError is the squared error of quantizing w with scale s.
func quantError(w []float32, s float32, bits int) float64 {
	var e float64
	for _, v := range w {
		d := float64(v) - float64(s)*float64(QuantizeWeight(v, s, bits))
		e += d * d
	}
	return e
}

// MSEScale searches the clipping ratio r in (0, 1] (200 steps) whose scale
// r*max|w|/hi minimises the squared quantization error.
func MSEScale(w []float32, bits int) float32 {
	if bits <= 1 {
		return SafeScale(meanAbs(w))
	}
	_, hi := LevelRange(bits)
	ma := maxAbs(w)
	best := SafeScale(ma / float64(hi))
	bestErr := quantError(w, best, bits)
	const steps = 200
	for i := 1; i < steps; i++ {
		s := SafeScale(ma * float64(i) / steps / float64(hi))
		if e := quantError(w, s, bits); e < bestErr {
			best, bestErr = s, e
		}
	}
	return best
}

// PercentileScale clips at the p-th percentile of |w|.
func PercentileScale(w []float32, bits int, p float64) float32 {
	if bits <= 1 {
		return SafeScale(meanAbs(w))
	}
	a := make([]float64, len(w))
	for i, v := range w {
		a[i] = math.Abs(float64(v))
	}
	_, hi := LevelRange(bits)
	return SafeScale(Percentile(a, p) / float64(hi))
}

// Percentile returns the p-th percentile (0..100) of a (sorted in place),
// interpolating linearly between order statistics.
func Percentile(a []float64, p float64) float64 {
	if len(a) == 0 {
		return 0
	}
	slices.Sort(a)
	pos := p / 100 * float64(len(a)-1)
	i := int(pos)
	if i >= len(a)-1 {
		return a[len(a)-1]
	}
	f := pos - float64(i)
	return a[i]*(1-f) + a[i+1]*f
}
