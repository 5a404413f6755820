// Package deltatest draws the random weight changes (candidates) and builds
// the changed models that the evaluator's tests and the integer-only
// inference tests compare against each other.
package deltatest

import (
	"math/rand/v2"
	"testing"

	"github.com/ccq-project/ccq/quant"
)

// Random draws k distinct variables of the given layers of m (all layers
// when nil) and a new level for each: the indices and levels of a delta.
func Random(rng *rand.Rand, m *quant.Model, layers []int, k int) ([]int32, []int8) {
	vars := m.Layout()
	if layers == nil {
		for i := range vars {
			layers = append(layers, i)
		}
	}
	var pool []int
	for _, li := range layers {
		for j := 0; j < vars[li].Count; j++ {
			pool = append(pool, vars[li].Offset+j)
		}
	}
	rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	k = min(k, len(pool))
	lo, hi := quant.LevelRange(m.Bits)
	var indices []int32
	var levels []int8
	for _, idx := range pool[:k] {
		l := int8(lo + rng.IntN(hi-lo+1))
		if m.Bits == 1 && l == 0 {
			l = -1
		}
		indices = append(indices, int32(idx))
		levels = append(levels, l)
	}
	return indices, levels
}

// Apply returns a copy of m with the variables at indices set to levels.
func Apply(t testing.TB, m *quant.Model, indices []int32, levels []int8) *quant.Model {
	t.Helper()
	cm := m.Clone()
	flat := cm.Flat()
	for k, idx := range indices {
		flat[idx] = levels[k]
	}
	if err := cm.SetFlat(flat); err != nil {
		t.Fatal(err)
	}
	return cm
}
