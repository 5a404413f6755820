package quant

import (
	"fmt"
	"slices"

	"github.com/ccq-project/ccq/nn"
)

// Granularity says how many weight scales a layer has.
type Granularity string

// The two granularities: one scale per layer, or one per output channel.
const (
	PerTensor  Granularity = "tensor"
	PerChannel Granularity = "channel"
)

// ParseGranularity checks a granularity name.
func ParseGranularity(s string) (Granularity, error) {
	switch Granularity(s) {
	case PerTensor, PerChannel:
		return Granularity(s), nil
	}
	return "", fmt.Errorf("granularity %q: expected %q or %q", s, PerTensor, PerChannel)
}

// Layer is one quantized layer (a convolution or linear node of the graph,
// batch norm already folded in): weight = Scales[o] * Levels, output =
// weight * input + Bias.
type Layer struct {
	Name   string    // node name, the state_dict prefix ("conv1", "layer1.0.conv2")
	Node   int       // index of the node in Model.Graph.Nodes
	Shape  []int     // weight shape: [Out, In, K, K] (conv) or [Out, In] (linear)
	Levels []int8    // len = product of Shape, PyTorch order
	Scales []float32 // 1 (per-tensor) or Out (per-channel) positive scales
	Bias   []float32 // Out folded biases (zeros when the layer had none)
	// Act quantizes this layer's input (Bits 32: float input).
	Act ActQuant
}

// Out is the number of output channels (features) of the layer.
func (l *Layer) Out() int { return l.Shape[0] }

// Scale returns the weight scale of output channel o.
func (l *Layer) Scale(o int) float32 {
	if len(l.Scales) == 1 {
		return l.Scales[0]
	}
	return l.Scales[o]
}

// Model is a k-bit quantized network: the architecture, one Layer per
// convolution or linear node (in graph order), and metadata. Batch-norm
// nodes of Graph act as the identity: their effect is folded into the
// preceding convolution's scales and bias.
type Model struct {
	Graph           nn.Graph
	Bits            int         // weight bits, 1..8
	Method          string      // quantizer that made it: rtn, mse, percentile, bias-corr, ste-qat, or an optimizer's name
	Granularity     Granularity // per-tensor or per-channel scales
	ActBits         int         // activation bits, or 32 for float activations
	UsedFPGradients bool        // whether full-precision gradients were used to make it
	SourceDigest    string      // SHA-256 of the float model it came from
	Extra           map[string]string
	Layers          []Layer
}

// Var describes the decision variables of one layer in the flat level
// vector seen by the optimizers.
type Var struct {
	Name   string `json:"name"`   // layer name
	Offset int    `json:"offset"` // first index in the flat vector
	Count  int    `json:"count"`  // number of variables (weights)
	Shape  []int  `json:"shape"`  // weight shape
}

// Layout returns the flat variable layout: the layers' levels concatenated
// in graph order, each in PyTorch weight order.
func (m *Model) Layout() []Var {
	vars := make([]Var, len(m.Layers))
	off := 0
	for i := range m.Layers {
		l := &m.Layers[i]
		vars[i] = Var{Name: l.Name, Offset: off, Count: len(l.Levels), Shape: slices.Clone(l.Shape)}
		off += len(l.Levels)
	}
	return vars
}

// NumVars is the length of the flat level vector.
func (m *Model) NumVars() int {
	n := 0
	for i := range m.Layers {
		n += len(m.Layers[i].Levels)
	}
	return n
}

// Domain returns the level range [lo, hi] of every variable. For 1-bit
// models the range is [-1, 1] but 0 is not a level (see ValidLevel).
func (m *Model) Domain() (lo, hi int8) {
	l, h := LevelRange(m.Bits)
	return int8(l), int8(h)
}

// Flat returns a new flat level vector (see Layout).
func (m *Model) Flat() []int8 {
	out := make([]int8, 0, m.NumVars())
	for i := range m.Layers {
		out = append(out, m.Layers[i].Levels...)
	}
	return out
}

// SetFlat copies a flat level vector into the layers after checking its
// length and that every level is in the k-bit range.
func (m *Model) SetFlat(levels []int8) error {
	if len(levels) != m.NumVars() {
		return fmt.Errorf("set levels: %d levels, the model has %d weights", len(levels), m.NumVars())
	}
	for i, l := range levels {
		if !ValidLevel(m.Bits, l) {
			return fmt.Errorf("set levels: level %d at index %d is outside the %d-bit range", l, i, m.Bits)
		}
	}
	off := 0
	for i := range m.Layers {
		n := copy(m.Layers[i].Levels, levels[off:])
		off += n
	}
	return nil
}

// Clone returns a deep copy of the model.
func (m *Model) Clone() *Model {
	c := *m
	c.Graph.Nodes = slices.Clone(m.Graph.Nodes)
	for i := range c.Graph.Nodes {
		c.Graph.Nodes[i].Inputs = slices.Clone(m.Graph.Nodes[i].Inputs)
	}
	if m.Extra != nil {
		c.Extra = make(map[string]string, len(m.Extra))
		for k, v := range m.Extra {
			c.Extra[k] = v
		}
	}
	c.Layers = make([]Layer, len(m.Layers))
	for i, l := range m.Layers {
		l.Shape = slices.Clone(l.Shape)
		l.Levels = slices.Clone(l.Levels)
		l.Scales = slices.Clone(l.Scales)
		l.Bias = slices.Clone(l.Bias)
		c.Layers[i] = l
	}
	return &c
}

// weightShape returns the weight shape of a conv or linear node.
func weightShape(n nn.Node) []int {
	if n.Op == nn.OpConv {
		return []int{n.Out, n.In, n.Kernel, n.Kernel}
	}
	return []int{n.Out, n.In}
}

func shapeSize(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// quantNodes returns the indices of the conv and linear nodes of g.
func quantNodes(g nn.Graph) []int {
	var out []int
	for i, n := range g.Nodes {
		if n.Op == nn.OpConv || n.Op == nn.OpLinear {
			out = append(out, i)
		}
	}
	return out
}

// Validate checks the model against its graph: valid graph, bits,
// granularity and activation bits; one layer per conv/linear node in graph
// order with the node's name and weight shape; levels in the k-bit range;
// positive finite scales of the right count; Out biases; every batch-norm
// node directly after a convolution. Errors name the layer.
func (m *Model) Validate() error {
	if err := m.Graph.Validate(); err != nil {
		return fmt.Errorf("quantized model: %w", err)
	}
	if err := CheckBits(m.Bits); err != nil {
		return fmt.Errorf("quantized model: weight %w", err)
	}
	if err := CheckActBits(m.ActBits); err != nil {
		return fmt.Errorf("quantized model: %w", err)
	}
	if _, err := ParseGranularity(string(m.Granularity)); err != nil {
		return fmt.Errorf("quantized model: %w", err)
	}
	if err := CheckFoldable(m.Graph); err != nil {
		return fmt.Errorf("quantized model: %w", err)
	}
	qn := quantNodes(m.Graph)
	if len(m.Layers) != len(qn) {
		return fmt.Errorf("quantized model: %d layers, the %s graph has %d conv/linear layers", len(m.Layers), m.Graph.Arch, len(qn))
	}
	for i, ni := range qn {
		l := &m.Layers[i]
		node := m.Graph.Nodes[ni]
		if l.Name != node.Name || l.Node != ni {
			return fmt.Errorf("quantized model: layer %d is %q (node %d), expected %q (node %d)", i, l.Name, l.Node, node.Name, ni)
		}
		want := weightShape(node)
		if !slices.Equal(l.Shape, want) {
			return fmt.Errorf("quantized model: layer %q: weight shape %v, expected %v", l.Name, l.Shape, want)
		}
		if len(l.Levels) != shapeSize(want) {
			return fmt.Errorf("quantized model: layer %q: %d levels, expected %d", l.Name, len(l.Levels), shapeSize(want))
		}
		for j, v := range l.Levels {
			if !ValidLevel(m.Bits, v) {
				return fmt.Errorf("quantized model: layer %q: level %d at index %d is outside the %d-bit range", l.Name, v, j, m.Bits)
			}
		}
		nsc := 1
		if m.Granularity == PerChannel {
			nsc = node.Out
		}
		if len(l.Scales) != nsc {
			return fmt.Errorf("quantized model: layer %q: %d scales, expected %d (%s granularity)", l.Name, len(l.Scales), nsc, m.Granularity)
		}
		for j, s := range l.Scales {
			if !(s > 0) || s > 3.0e38 {
				return fmt.Errorf("quantized model: layer %q: scale %d is %g, expected a positive finite number", l.Name, j, s)
			}
		}
		if len(l.Bias) != node.Out {
			return fmt.Errorf("quantized model: layer %q: %d biases, expected %d", l.Name, len(l.Bias), node.Out)
		}
		for j, b := range l.Bias {
			if b != b || b > 3.0e38 || b < -3.0e38 {
				return fmt.Errorf("quantized model: layer %q: bias %d is %g, expected a finite number", l.Name, j, b)
			}
		}
		if m.ActBits == FloatActBits {
			if l.Act.Enabled() {
				return fmt.Errorf("quantized model: layer %q: activation quantizer of %d bits in a float-activation model", l.Name, l.Act.Bits)
			}
		} else {
			if l.Act.Bits != m.ActBits {
				return fmt.Errorf("quantized model: layer %q: activation bits %d, the model says %d", l.Name, l.Act.Bits, m.ActBits)
			}
			if !(l.Act.Scale > 0) || l.Act.Scale > 3.0e38 {
				return fmt.Errorf("quantized model: layer %q: activation scale %g, expected a positive finite number", l.Name, l.Act.Scale)
			}
		}
	}
	return nil
}

// CheckFoldable checks that every batch-norm node follows a convolution
// whose only consumer it is, so that it can be folded into it.
func CheckFoldable(g nn.Graph) error {
	consumers := make([]int, len(g.Nodes))
	for _, n := range g.Nodes {
		for _, j := range n.Inputs {
			consumers[j]++
		}
	}
	for _, n := range g.Nodes {
		if n.Op != nn.OpBatchNorm {
			continue
		}
		p := g.Nodes[n.Inputs[0]]
		if p.Op != nn.OpConv || consumers[n.Inputs[0]] != 1 {
			return fmt.Errorf("batch norm %q does not directly follow a convolution it alone consumes: cannot fold it", n.Name)
		}
	}
	return nil
}

// NonNegativeOutputs reports, for each node of g, whether its output is known to be
// non-negative (after a ReLU, through pooling, padding, flattening,
// shortcuts and sums of non-negative values). A quantized layer whose input
// is non-negative gets an unsigned activation quantizer.
func NonNegativeOutputs(g nn.Graph) []bool {
	nn_ := make([]bool, len(g.Nodes))
	for i, n := range g.Nodes {
		switch n.Op {
		case nn.OpReLU:
			nn_[i] = true
		case nn.OpMaxPool, nn.OpGlobalAvgPool, nn.OpFlatten, nn.OpPad, nn.OpShortcutA:
			nn_[i] = nn_[n.Inputs[0]]
		case nn.OpAdd:
			nn_[i] = nn_[n.Inputs[0]] && nn_[n.Inputs[1]]
		}
	}
	return nn_
}
