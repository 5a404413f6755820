package quant

import (
	"slices"
	"testing"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/quant/internal/quanttest"
)

// testModel quantizes a randomly initialised float model to nearest with
// max |w| scales. With quantized activations every layer gets a fixed-scale
// quantizer, signed unless its input is non-negative: calibrating scales
// needs the forward engine (quant/engine), which the format tests do not.
func testModel(t testing.TB, arch string, in nn.Shape, bits, actBits int, gran Granularity, seed uint64) (*Model, *FloatModel) {
	t.Helper()
	f := FromNN(quanttest.FloatNet(t, arch, in, seed))
	fl, err := Fold(f)
	if err != nil {
		t.Fatal(err)
	}
	m := &Model{Graph: f.Graph, Bits: bits, Method: "rtn", Granularity: gran, ActBits: actBits}
	nonneg := NonNegativeOutputs(f.Graph)
	for i, l := range fl {
		ql := Layer{Name: l.Name, Node: l.Node, Shape: slices.Clone(l.Shape), Bias: slices.Clone(l.Bias),
			Levels: make([]int8, len(l.Weight)), Act: ActQuant{Bits: FloatActBits}}
		if actBits != FloatActBits {
			ql.Act = ActQuant{Bits: actBits, Signed: !nonneg[f.Graph.Nodes[l.Node].Inputs[0]], Scale: 0.05 * float32(i+1)}
		}
		groups := 1
		if gran == PerChannel {
			groups = l.Shape[0]
		}
		per := len(l.Weight) / groups
		ql.Scales = make([]float32, groups)
		for g := range groups {
			w := l.Weight[g*per : (g+1)*per]
			s := MaxScale(w, bits)
			ql.Scales[g] = s
			for j, v := range w {
				ql.Levels[g*per+j] = QuantizeWeight(v, s, bits)
			}
		}
		m.Layers = append(m.Layers, ql)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	return m, f
}
