package main

import "testing"

// TestSplitFlagsParams checks the commands' --val-size and --split-seed
// against the split the dataset stage makes from the parameters they
// become: 0 the defaults, a negative size no validation split.
func TestSplitFlagsParams(t *testing.T) {
	for _, c := range []struct {
		valSize   int
		splitSeed uint64
		wantSize  int
		wantSeed  uint64
	}{
		{0, 0, 0, 1},
		{-1, 0, -1, 1},
		{500, 2, 500, 2},
	} {
		f := splitFlags{valSize: c.valSize, splitSeed: c.splitSeed}
		p := f.params("mnist")
		if size, seed := p.Split(); size != c.wantSize || seed != c.wantSeed || p.Name != "mnist" {
			t.Errorf("--val-size %d --split-seed %d: split (%d, %d), want (%d, %d)", c.valSize, c.splitSeed, size, seed, c.wantSize, c.wantSeed)
		}
	}
}
