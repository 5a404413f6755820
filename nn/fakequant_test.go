package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// steRef is the float64 reference of fake_quant nodes. With frozen unset it
// quantizes exactly. With frozen set, the first call per node records the
// quantized output q0 and the clipped input c0 = Scale*clamp(x/Scale, Lo,
// Hi); later calls return q0 + clip(x) - c0: the value is the quantized one
// at the recorded point and the derivative is the straight-through one, so
// finite differences of this surrogate check Backward.
type steRef struct {
	frozen bool
	base   map[int][2][]float64
}

// refSTE is the fake-quant reference refGraph uses (nil: exact).
var refSTE *steRef

func refQuant(q FakeQuant, v float64) float64 {
	if q.Binary {
		if v >= 0 {
			return float64(q.Scale)
		}
		return -float64(q.Scale)
	}
	s := float64(float32(v) * (1 / q.Scale)) // the engine's float32 product
	s = math.Min(math.Max(s, float64(q.Lo)), float64(q.Hi))
	return math.RoundToEven(s) * float64(q.Scale)
}

func refClip(q FakeQuant, v float64) float64 {
	s := float64(q.Scale)
	return math.Min(math.Max(v, float64(q.Lo)*s), float64(q.Hi)*s)
}

func (r *steRef) apply(i int, q FakeQuant, x []float64) []float64 {
	y := make([]float64, len(x))
	if r == nil || !r.frozen {
		for k, v := range x {
			y[k] = refQuant(q, v)
		}
		return y
	}
	b, ok := r.base[i]
	if !ok {
		b = [2][]float64{make([]float64, len(x)), make([]float64, len(x))}
		for k, v := range x {
			b[0][k], b[1][k] = refQuant(q, v), refClip(q, v)
		}
		r.base[i] = b
	}
	for k, v := range x {
		y[k] = b[0][k] + refClip(q, v) - b[1][k]
	}
	return y
}

func TestFakeQuantForwardValues(t *testing.T) {
	u := FakeQuant{Lo: 0, Hi: 15, Scale: 0.5}
	s := FakeQuant{Lo: -7, Hi: 7, Scale: 0.25}
	b := FakeQuant{Lo: -1, Hi: 1, Scale: 2, Binary: true}
	nan := float32(math.NaN())
	cases := []struct {
		q    FakeQuant
		x, y []float32
	}{
		// 1.26/0.5 = 2.52 -> 3; 0.75 -> 1.5 -> 2 (half to even); 1.25 ->
		// 2.5 -> 2; negatives and NaN clip to 0; 100 clips to 15.
		{u, []float32{1.26, 0.75, 1.25, -1, 100, nan, 0}, []float32{1.5, 1, 1, 0, 7.5, 0, 0}},
		{s, []float32{-0.3, -0.375, 5, -5, 0.124}, []float32{-0.25, -0.5, 1.75, -1.75, 0}},
		{b, []float32{-0.1, 0, 3, -7}, []float32{-2, 2, 2, -2}},
	}
	for _, c := range cases {
		y := make([]float32, len(c.x))
		fakeQuantForward(c.q, c.x, y, 0, len(c.x))
		for i := range y {
			if y[i] != c.y[i] {
				t.Errorf("%+v: x %v gives %v, want %v", c.q, c.x[i], y[i], c.y[i])
			}
		}
	}
}

// TestFakeQuantBackward checks the straight-through gradient against
// finite differences of the clipped identity: dy passes inside the
// clipping range and is zero outside, in overwrite and accumulate mode.
func TestFakeQuantBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, q := range []FakeQuant{{Lo: 0, Hi: 7, Scale: 0.3}, {Lo: -7, Hi: 7, Scale: 0.2}, {Lo: -1, Hi: 1, Scale: 0.5, Binary: true}} {
		lo, hi := float64(q.Lo)*float64(q.Scale), float64(q.Hi)*float64(q.Scale)
		var x []float64
		for len(x) < 200 {
			v := float64(float32(rng.NormFloat64() * 2 * hi))
			if math.Abs(v-lo) > 1e-3 && math.Abs(v-hi) > 1e-3 { // finite differences need a margin
				x = append(x, v)
			}
		}
		r := round32(randVec(rng, len(x), 1))
		num := numGrad(func() float64 {
			var s float64
			for k, v := range x {
				s += r[k] * refClip(q, v)
			}
			return s
		}, x, 1e-6)
		inside, outside := 0, 0
		for k, v := range x {
			if v > lo && v < hi {
				inside++
			} else if num[k] == 0 {
				outside++
			}
		}
		if inside < 20 || outside < 20 {
			t.Fatalf("%+v: %d samples inside the range, %d outside: the test needs both", q, inside, outside)
		}
		dx := make([]float32, len(x))
		for i := range dx {
			dx[i] = float32(math.NaN())
		}
		fakeQuantBackward(q, to32(x), to32(r), dx, 0, len(x), false)
		assertClose(t, fmt.Sprintf("%+v dx", q), dx, num, 1e-4, 1e-6)
		base := round32(randVec(rng, len(x), 1))
		dx = to32(base)
		fakeQuantBackward(q, to32(x), to32(r), dx, 0, len(x), true)
		for i := range num {
			num[i] += base[i]
		}
		assertClose(t, fmt.Sprintf("%+v dx (accumulate)", q), dx, num, 1e-4, 1e-6)
	}
}

// fakeQuantLeNet returns a small LeNet-5 with a fake_quant node before
// every conv and linear layer: signed 4 bits on the network input, unsigned
// 3 bits elsewhere, with steps small enough that some values clip.
func fakeQuantLeNet(t *testing.T) Graph {
	g, err := BuildGraph("lenet5", Shape{1, 12, 12}, 3)
	if err != nil {
		t.Fatal(err)
	}
	q := map[string]FakeQuant{}
	for _, n := range g.Nodes {
		switch {
		case n.Name == "conv1":
			q[n.Name] = FakeQuant{Lo: -7, Hi: 7, Scale: 0.25}
		case n.Op == OpConv || n.Op == OpLinear:
			q[n.Name] = FakeQuant{Lo: 0, Hi: 7, Scale: 0.05}
		}
	}
	fg, err := InsertFakeQuant(g, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(fg.Nodes) != len(g.Nodes)+len(q) {
		t.Fatalf("%d nodes after inserting %d quantizers into %d", len(fg.Nodes), len(q), len(g.Nodes))
	}
	return fg
}

// TestModelGradientsFakeQuant checks Forward (exact quantization) and
// Backward (the straight-through gradient through every quantizer) of a
// model with fake_quant nodes against the float64 reference.
func TestModelGradientsFakeQuant(t *testing.T) {
	g := fakeQuantLeNet(t)
	refSTE = &steRef{frozen: true, base: map[int][2][]float64{}}
	defer func() { refSTE = nil }()
	checkModelGradients(t, g, 2, 3, 40)
}

func TestInsertFakeQuantErrors(t *testing.T) {
	g, err := BuildGraph("mlp", Shape{1, 4, 4}, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []map[string]FakeQuant{
		{"nope": {Lo: 0, Hi: 3, Scale: 1}},
		{"fc1": {Lo: 0, Hi: 3, Scale: 0}},
		{"fc1": {Lo: 3, Hi: 3, Scale: 1}},
		{"fc1": {Lo: 0, Hi: 1, Scale: 1, Binary: true}},
		{"fc1": {Lo: 0, Hi: 3, Scale: float32(math.Inf(1))}},
		{"input": {Lo: 0, Hi: 3, Scale: 1}},
	} {
		if _, err := InsertFakeQuant(g, q); err == nil {
			t.Errorf("%v accepted", q)
		}
	}
}
