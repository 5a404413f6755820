package quant

import (
	"fmt"
	"math"
	"slices"

	"github.com/ccq-project/ccq/nn"
)

// Tensor is one named float32 parameter or buffer of a float model, in
// PyTorch layout.
type Tensor struct {
	Shape []int
	Data  []float32
}

// FloatModel is a trained float32 network: its graph and its state dict
// (PyTorch names: "conv1.weight", "bn1.running_mean", ...).
type FloatModel struct {
	Graph  nn.Graph
	Params map[string]Tensor
}

// FloatLayer is a convolution or linear layer with batch norm folded in:
// output = Weight * input + Bias.
type FloatLayer struct {
	Name   string
	Node   int
	Shape  []int     // [Out, In, K, K] or [Out, In]
	Weight []float32 // PyTorch order
	Bias   []float32 // Out values
}

// bnEps is PyTorch's BatchNorm2d default epsilon.
const bnEps = 1e-5

// param fetches a state-dict tensor and checks its shape.
func (f *FloatModel) param(name string, shape ...int) ([]float32, error) {
	t, ok := f.Params[name]
	if !ok {
		return nil, fmt.Errorf("tensor %q is missing (expected shape %v)", name, shape)
	}
	if !slices.Equal(t.Shape, shape) {
		return nil, fmt.Errorf("tensor %q has shape %v, the %s architecture expects %v", name, t.Shape, f.Graph.Arch, shape)
	}
	if len(t.Data) != shapeSize(shape) {
		return nil, fmt.Errorf("tensor %q: %d values for shape %v", name, len(t.Data), shape)
	}
	if err := nn.CheckFinite(name, t.Data); err != nil {
		return nil, err
	}
	return t.Data, nil
}

// Fold checks the float model against its graph (every tensor present with
// the shape the architecture implies, finite values) and returns its conv
// and linear layers in graph order with every batch norm folded into the
// convolution before it:
//
//	w' = w * gamma / sqrt(var + eps),  b' = (b - mean) * gamma / sqrt(var + eps) + beta.
func Fold(f *FloatModel) ([]FloatLayer, error) {
	g := f.Graph
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("fold: %w", err)
	}
	if err := CheckFoldable(g); err != nil {
		return nil, fmt.Errorf("fold: %w", err)
	}
	bnOf := make(map[int]int) // conv node -> batch-norm node
	for i, n := range g.Nodes {
		if n.Op == nn.OpBatchNorm {
			bnOf[n.Inputs[0]] = i
		}
	}
	var layers []FloatLayer
	for _, ni := range quantNodes(g) {
		n := g.Nodes[ni]
		shape := weightShape(n)
		w, err := f.param(n.Name+".weight", shape...)
		if err != nil {
			return nil, fmt.Errorf("fold: %w", err)
		}
		l := FloatLayer{Name: n.Name, Node: ni, Shape: shape, Weight: slices.Clone(w), Bias: make([]float32, n.Out)}
		if n.HasBias {
			b, err := f.param(n.Name+".bias", n.Out)
			if err != nil {
				return nil, fmt.Errorf("fold: %w", err)
			}
			copy(l.Bias, b)
		}
		if bi, ok := bnOf[ni]; ok {
			bn := g.Nodes[bi]
			var v [4][]float32
			for k, s := range []string{"weight", "bias", "running_mean", "running_var"} {
				if v[k], err = f.param(bn.Name+"."+s, n.Out); err != nil {
					return nil, fmt.Errorf("fold: %w", err)
				}
			}
			gamma, beta, mean, variance := v[0], v[1], v[2], v[3]
			per := len(l.Weight) / n.Out
			for o := 0; o < n.Out; o++ {
				if variance[o] < 0 {
					return nil, fmt.Errorf("fold: tensor %q: negative variance %g at %d", bn.Name+".running_var", variance[o], o)
				}
				s := float64(gamma[o]) / math.Sqrt(float64(variance[o])+bnEps)
				for j := o * per; j < (o+1)*per; j++ {
					l.Weight[j] = float32(float64(l.Weight[j]) * s)
				}
				l.Bias[o] = float32((float64(l.Bias[o])-float64(mean[o]))*s + float64(beta[o]))
			}
		}
		layers = append(layers, l)
	}
	return layers, nil
}

// FromNN returns the float model of an nn.Model: its graph and its state
// dict (parameters and batch-norm running statistics). The tensors are
// views of the model's storage.
func FromNN(m *nn.Model) *FloatModel {
	f := &FloatModel{Graph: m.Graph(), Params: map[string]Tensor{}}
	for _, p := range m.Params() {
		f.Params[p.Name] = Tensor{Shape: p.Shape, Data: p.Data}
	}
	for _, n := range f.Graph.Nodes {
		if n.Op != nn.OpBatchNorm {
			continue
		}
		mean, variance := m.BatchNormStats(n.Name)
		f.Params[n.Name+".running_mean"] = Tensor{Shape: []int{len(mean)}, Data: mean}
		f.Params[n.Name+".running_var"] = Tensor{Shape: []int{len(variance)}, Data: variance}
	}
	return f
}
