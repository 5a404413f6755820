package datasets

import (
	"fmt"
	"math"
	"slices"
)

// splitmix64 is a small PRNG whose output is fixed by its definition (unlike
// math/rand's shuffles, which may change between Go versions), so a seed
// chooses the same validation split everywhere, forever.
type splitmix64 struct{ s uint64 }

func (r *splitmix64) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a uniform integer in [0, n) by rejection sampling.
func (r *splitmix64) intn(n int) int {
	un := uint64(n)
	limit := math.MaxUint64 - math.MaxUint64%un
	for {
		if v := r.next(); v < limit {
			return int(v % un)
		}
	}
}

// ValidationIndices chooses valSize items of a training set with the given
// labels (in [0, k)) for validation, stratified by class and deterministic
// in seed. Each class gets its share valSize*n_c/N rounded by largest
// remainder (ties to the lower class); within a class the items are chosen
// by a partial Fisher-Yates shuffle driven by splitmix64(seed). The result
// is ascending.
func ValidationIndices(labels []uint8, k, valSize int, seed uint64) ([]int, error) {
	n := len(labels)
	if valSize < 0 || valSize >= n {
		return nil, fmt.Errorf("validation size %d: expected 0 to %d (fewer than the %d training items)", valSize, n-1, n)
	}
	byClass := make([][]int, k)
	for i, l := range labels {
		if int(l) >= k {
			return nil, fmt.Errorf("label %d of item %d is out of range: expected 0 to %d", l, i, k-1)
		}
		byClass[l] = append(byClass[l], i)
	}
	quota := make([]int, k)
	rem := make([]int, k)
	left := valSize
	for c := range k {
		q := valSize * len(byClass[c])
		quota[c], rem[c] = q/n, q%n
		left -= quota[c]
	}
	order := make([]int, k)
	for c := range order {
		order[c] = c
	}
	slices.SortStableFunc(order, func(a, b int) int { return rem[b] - rem[a] })
	for _, c := range order[:left] {
		quota[c]++
	}

	rng := splitmix64{s: seed}
	val := make([]int, 0, valSize)
	for c := range k {
		idx := byClass[c]
		for i := range quota[c] {
			j := i + rng.intn(len(idx)-i)
			idx[i], idx[j] = idx[j], idx[i]
		}
		val = append(val, idx[:quota[c]]...)
	}
	slices.Sort(val)
	return val, nil
}

// carve moves the items at the ascending positions val out of s into a new
// split, compacting s in place (no second copy of the training images).
func carve(s *Split, val []int, dim int) Split {
	v := Split{Images: make([]uint8, len(val)*dim), Labels: make([]uint8, len(val)), N: len(val)}
	for k, i := range val {
		copy(v.Images[k*dim:(k+1)*dim], s.Images[i*dim:(i+1)*dim])
		v.Labels[k] = s.Labels[i]
	}
	w, next := 0, 0
	for i := 0; i < s.N; i++ {
		if next < len(val) && val[next] == i {
			next++
			continue
		}
		if w != i {
			copy(s.Images[w*dim:(w+1)*dim], s.Images[i*dim:(i+1)*dim])
			s.Labels[w] = s.Labels[i]
		}
		w++
	}
	s.N = w
	s.Images = s.Images[: w*dim : w*dim]
	s.Labels = s.Labels[:w:w]
	return v
}

// channelStats returns the mean and population standard deviation of
// pixel/255 per channel over the split, computed exactly from per-channel
// histograms.
func channelStats(s *Split, c, hw int) (mean, std []float32) {
	hist := make([][256]uint64, c)
	dim := c * hw
	for i := 0; i < s.N; i++ {
		img := s.Images[i*dim : (i+1)*dim]
		for ch := range c {
			h := &hist[ch]
			for _, v := range img[ch*hw : (ch+1)*hw] {
				h[v]++
			}
		}
	}
	mean, std = make([]float32, c), make([]float32, c)
	for ch := range c {
		var n, s1, s2 float64
		for v, cnt := range hist[ch] {
			x := float64(v) / 255
			f := float64(cnt)
			n += f
			s1 += f * x
			s2 += f * x * x
		}
		if n == 0 {
			continue
		}
		m := s1 / n
		mean[ch] = float32(m)
		std[ch] = float32(math.Sqrt(max(s2/n-m*m, 0)))
	}
	return mean, std
}
