package builtin

import (
	"sort"

	"github.com/ccq-project/ccq/plugins/optimizer"
)

// space is the searched domain: for every variable, the sorted list of
// levels it may take, stored flat. Variable i's levels are
// vals[off[i]:off[i+1]]; a "slot" is an index into vals.
type space struct {
	n    int
	off  []int32
	vals []int8
}

// newSpace builds the domains: the alphabet's levels inside [Lo[i], Hi[i]],
// restricted to the radius levels on either side of the start level when
// radius > 0 (counted in alphabet steps, so {-1, +1} at 1 bit are neighbours).
func newSpace(p *optimizer.Problem, radius int) *space {
	n := p.N()
	s := &space{n: n, off: make([]int32, n+1)}
	alpha := p.Alphabet
	if len(alpha) == 0 {
		alpha = make([]int8, 0, 256)
		for v := -128; v <= 127; v++ {
			alpha = append(alpha, int8(v))
		}
	}
	s.vals = make([]int8, 0, 3*n)
	for i := 0; i < n; i++ {
		lo := sort.Search(len(alpha), func(k int) bool { return alpha[k] >= p.Lo[i] })
		hi := sort.Search(len(alpha), func(k int) bool { return alpha[k] > p.Hi[i] })
		if radius > 0 {
			k0 := sort.Search(len(alpha), func(k int) bool { return alpha[k] >= p.Start[i] })
			lo = max(lo, k0-radius)
			hi = min(hi, k0+radius+1)
		}
		s.vals = append(s.vals, alpha[lo:hi]...)
		s.off[i+1] = int32(len(s.vals))
	}
	return s
}

// size returns the number of levels variable i may take.
func (s *space) size(i int) int { return int(s.off[i+1] - s.off[i]) }

// slot returns the slot of level v for variable i, or -1 if v is not in
// its domain.
func (s *space) slot(i int, v int8) int {
	a, b := int(s.off[i]), int(s.off[i+1])
	if b-a <= 8 {
		for k := a; k < b; k++ {
			if s.vals[k] == v {
				return k
			}
		}
		return -1
	}
	k := a + sort.Search(b-a, func(k int) bool { return s.vals[a+k] >= v })
	if k < b && s.vals[k] == v {
		return k
	}
	return -1
}
