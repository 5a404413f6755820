package nn

import (
	"fmt"
	"math"
	"slices"
)

// FakeQuant is the quantizer of an OpFakeQuant node, the float twin of a
// linear activation quantizer for quantization-aware training. With inv =
// float32(1/Scale), an input x becomes
//
//	y = Scale * round(clamp(x*inv, Lo, Hi))
//
// (clamping first, NaN to Lo, rounding halves to even), or with Binary
// Scale * (+1 if x >= 0, else -1). The backward pass is a straight-through
// estimator: the output gradient passes where Lo <= x*inv <= Hi and is
// zero outside the clipping range.
type FakeQuant struct {
	Lo, Hi int     // integer range of the levels (Lo < Hi)
	Scale  float32 // step between levels (positive, finite)
	Binary bool    // levels -1 and +1 only (a signed 1-bit quantizer; needs Lo = -1, Hi = 1)
}

// check reports whether q is a usable quantizer.
func (q FakeQuant) check() error {
	s := float64(q.Scale)
	switch {
	case !(s > 0) || math.IsInf(s, 0):
		return fmt.Errorf("fake-quant scale %g: expected a positive finite number", q.Scale)
	case q.Lo >= q.Hi:
		return fmt.Errorf("fake-quant levels %d..%d: expected Lo < Hi", q.Lo, q.Hi)
	case q.Binary && (q.Lo != -1 || q.Hi != 1):
		return fmt.Errorf("binary fake-quant with levels %d..%d: expected -1..1", q.Lo, q.Hi)
	}
	return nil
}

// roundHalfEven rounds to the nearest integer, halves to even, keeping the
// sign of x (as x86's ROUNDPS and torch.round).
func roundHalfEven(x float32) float32 { return float32(math.RoundToEven(float64(x))) }

// fakeQuantForward writes the quantized values of x[lo:hi] to y[lo:hi].
func fakeQuantForward(q FakeQuant, x, y []float32, lo, hi int) {
	x, y = x[lo:hi], y[lo:hi]
	if q.Binary {
		for i, v := range x {
			if v >= 0 {
				y[i] = q.Scale
			} else {
				y[i] = -q.Scale
			}
		}
		return
	}
	inv := 1 / q.Scale
	l, h := float32(q.Lo), float32(q.Hi)
	for i, v := range x {
		s := v * inv
		t := l
		if s > l {
			t = s
		}
		if !(t < h) {
			t = h
		}
		y[i] = roundHalfEven(t) * q.Scale
	}
}

// fakeQuantBackward writes (or with acc adds) dy[lo:hi] to dx[lo:hi]
// where x lies inside the clipping range, zero elsewhere.
func fakeQuantBackward(q FakeQuant, x, dy, dx []float32, lo, hi int, acc bool) {
	x, dy, dx = x[lo:hi], dy[lo:hi], dx[lo:hi]
	dy, dx = dy[:len(x)], dx[:len(x)]
	inv := 1 / q.Scale
	l, h := float32(q.Lo), float32(q.Hi)
	for i, v := range x {
		var g float32
		if s := v * inv; s >= l && s <= h {
			g = dy[i]
		}
		if acc {
			dx[i] += g
		} else {
			dx[i] = g
		}
	}
}

// InsertFakeQuant returns a copy of g in which the first input of every
// node named in q goes through a new OpFakeQuant node with that quantizer,
// named "<node>.act_quant" (used by that node only: other consumers of the
// same value still see it unquantized). It fails on a name that is not a
// node of g or on an invalid quantizer.
func InsertFakeQuant(g Graph, q map[string]FakeQuant) (Graph, error) {
	out := Graph{Arch: g.Arch, Input: g.Input, Classes: g.Classes}
	newIdx := make([]int, len(g.Nodes))
	used := 0
	for i, n := range g.Nodes {
		n.Inputs = slices.Clone(n.Inputs)
		for k, u := range n.Inputs {
			n.Inputs[k] = newIdx[u]
		}
		if fq, ok := q[n.Name]; ok {
			if len(n.Inputs) == 0 {
				return Graph{}, fmt.Errorf("insert fake-quant: node %q has no input", n.Name)
			}
			if err := fq.check(); err != nil {
				return Graph{}, fmt.Errorf("insert fake-quant before %q: %w", n.Name, err)
			}
			in := n.Inputs[0]
			out.Nodes = append(out.Nodes, Node{Name: n.Name + ".act_quant", Op: OpFakeQuant, Inputs: []int{in},
				Quant: fq, OutShape: out.Nodes[in].OutShape})
			n.Inputs[0] = len(out.Nodes) - 1
			used++
		}
		newIdx[i] = len(out.Nodes)
		out.Nodes = append(out.Nodes, n)
	}
	if used != len(q) {
		for name := range q {
			if !slices.ContainsFunc(g.Nodes, func(n Node) bool { return n.Name == name }) {
				return Graph{}, fmt.Errorf("insert fake-quant: graph %q has no node %q", g.Arch, name)
			}
		}
	}
	if err := out.Validate(); err != nil {
		return Graph{}, fmt.Errorf("insert fake-quant: %w", err)
	}
	return out, nil
}
