package nn

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ccq-project/ccq/nn/safetensors"
)

// StateDict returns the model's tensors named and laid out as PyTorch's
// state_dict of the same model: for each node in order, convolution and
// linear "weight" and "bias", batch norm "weight", "bias", "running_mean",
// "running_var" (F32) and "num_batches_tracked" (I64, a scalar).
func (m *Model) StateDict() []safetensors.Tensor {
	var ts []safetensors.Tensor
	for i := range m.g.Nodes {
		n := &m.g.Nodes[i]
		rt := &m.rt[i]
		if rt.w != nil {
			ts = append(ts, safetensors.F32(rt.w.Name, rt.w.Shape, rt.w.Data))
		}
		if rt.b != nil {
			ts = append(ts, safetensors.F32(rt.b.Name, rt.b.Shape, rt.b.Data))
		}
		if n.Op == OpBatchNorm {
			c := []int{len(rt.runMean)}
			ts = append(ts,
				safetensors.F32(n.Name+".running_mean", c, rt.runMean),
				safetensors.F32(n.Name+".running_var", c, rt.runVar),
				safetensors.I64(n.Name+".num_batches_tracked", []int{}, []int64{rt.tracked}))
		}
	}
	return ts
}

// peersBlock matches the flat CIFAR ResNet block names (layers.N.) of
// PyTorch models that keep all blocks in one Sequential.
var peersBlock = regexp.MustCompile(`^layers\.(\d+)\.`)

// CanonicalName maps the alternative spellings of a tensor name accepted on
// import to the canonical one: a leading "module." (saved from
// torch.nn.DataParallel) is dropped and, for the CIFAR ResNets (n blocks
// per stage, ArchSpec.ResNetBlocks), "layers.N." (a flat Sequential of the
// 3n blocks) becomes "layer{N/n+1}.{N%n}." and "fc." becomes "linear.".
// Other names are returned unchanged.
func CanonicalName(arch, name string) string {
	name = strings.TrimPrefix(name, "module.")
	spec, _ := LookupArch(arch)
	n := spec.ResNetBlocks
	if n <= 0 {
		return name
	}
	if m := peersBlock.FindStringSubmatch(name); m != nil {
		k, err := strconv.Atoi(m[1])
		if err == nil && k < 3*n {
			name = fmt.Sprintf("layer%d.%d.", k/n+1, k%n) + name[len(m[0]):]
		}
	}
	if strings.HasPrefix(name, "fc.") {
		name = "linear." + name[len("fc."):]
	}
	return name
}

// tensorSpec is one entry of a graph's state dict.
type tensorSpec struct {
	name     string
	shape    []int
	optional bool // num_batches_tracked: an integer scalar, may be absent
}

// stateSpec lists the state dict of graph g in order, without building a
// model.
func stateSpec(g *Graph) []tensorSpec {
	var s []tensorSpec
	for i := range g.Nodes {
		n := &g.Nodes[i]
		switch n.Op {
		case OpConv:
			s = append(s, tensorSpec{name: n.Name + ".weight", shape: []int{n.Out, n.In, n.Kernel, n.Kernel}})
		case OpLinear:
			s = append(s, tensorSpec{name: n.Name + ".weight", shape: []int{n.Out, n.In}})
		case OpBatchNorm:
			c := []int{n.OutShape.C}
			s = append(s, tensorSpec{name: n.Name + ".weight", shape: c}, tensorSpec{name: n.Name + ".bias", shape: c},
				tensorSpec{name: n.Name + ".running_mean", shape: c}, tensorSpec{name: n.Name + ".running_var", shape: c},
				tensorSpec{name: n.Name + ".num_batches_tracked", optional: true})
		}
		if (n.Op == OpConv || n.Op == OpLinear) && n.HasBias {
			s = append(s, tensorSpec{name: n.Name + ".bias", shape: []int{n.Out}})
		}
	}
	return s
}

// checkedState is a state dict validated against a graph: float values by
// canonical name, and num_batches_tracked counts by batch-norm name.
type checkedState struct {
	floats  map[string][]float32
	tracked map[string]int64
}

// checkState validates tensors ts against graph g's state dict and converts
// them. All problems are reported together (at most a few), each naming its
// tensor.
func checkState(g *Graph, ts []safetensors.Tensor) (*checkedState, error) {
	spec := stateSpec(g)
	want := make(map[string]*tensorSpec, len(spec))
	for k := range spec {
		want[spec[k].name] = &spec[k]
	}
	seen := map[string]string{}
	st := &checkedState{floats: map[string][]float32{}, tracked: map[string]int64{}}
	var errs []error
	for k := range ts {
		t := &ts[k]
		name := CanonicalName(g.Arch, t.Name)
		sp, ok := want[name]
		if !ok {
			errs = append(errs, fmt.Errorf("tensor %q: unexpected (the %s model has no such tensor)", t.Name, g.Arch))
			continue
		}
		if other, dup := seen[name]; dup {
			errs = append(errs, fmt.Errorf("tensor %q: %s given twice (also as %q)", t.Name, name, other))
			continue
		}
		seen[name] = t.Name
		if sp.optional {
			if t.NumElements() != 1 || len(t.Shape) > 1 {
				errs = append(errs, fmt.Errorf("tensor %q: shape %v, expected a scalar", t.Name, t.Shape))
				continue
			}
			v, err := t.Int64s()
			if err != nil {
				errs = append(errs, err) // names the tensor
				continue
			}
			st.tracked[strings.TrimSuffix(name, ".num_batches_tracked")] = v[0]
			continue
		}
		if !slices.Equal(t.Shape, sp.shape) {
			errs = append(errs, fmt.Errorf("tensor %q: shape %v, expected %v", t.Name, t.Shape, sp.shape))
			continue
		}
		v, err := t.Float32s()
		if err != nil {
			errs = append(errs, err) // names the tensor
			continue
		}
		if err := CheckFinite(t.Name, v); err != nil {
			errs = append(errs, err)
			continue
		}
		st.floats[name] = v
	}
	for _, sp := range spec {
		if _, ok := seen[sp.name]; !ok && !sp.optional {
			errs = append(errs, fmt.Errorf("tensor %q: missing", sp.name))
		}
	}
	if len(errs) > 0 {
		const most = 8
		if len(errs) > most {
			errs = append(errs[:most], fmt.Errorf("... and %d more problems", len(errs)-most))
		}
		return nil, fmt.Errorf("%s state dict: %w", g.Arch, errors.Join(errs...))
	}
	return st, nil
}

// apply copies a checked state into the model.
func (m *Model) apply(st *checkedState) {
	for i := range m.g.Nodes {
		n := &m.g.Nodes[i]
		rt := &m.rt[i]
		if rt.w != nil {
			copy(rt.w.Data, st.floats[rt.w.Name])
		}
		if rt.b != nil {
			copy(rt.b.Data, st.floats[rt.b.Name])
		}
		if n.Op == OpBatchNorm {
			copy(rt.runMean, st.floats[n.Name+".running_mean"])
			copy(rt.runVar, st.floats[n.Name+".running_var"])
			rt.tracked = st.tracked[n.Name]
		}
	}
}

// LoadStateDict sets the model's parameters and batch-norm statistics from
// tensors named as StateDict names them (aliases of CanonicalName
// accepted). Every parameter and running statistic must be present with
// exactly the expected shape and a floating-point dtype (F32; F64, F16 and
// BF16 are converted); num_batches_tracked is optional (0 when absent) and
// must be an integer scalar. Tensors the model does not have are an error.
// All problems are reported together, each naming its tensor; on error the
// model is unchanged.
func (m *Model) LoadStateDict(ts []safetensors.Tensor) error {
	st, err := checkState(&m.g, ts)
	if err != nil {
		return fmt.Errorf("load %w", err)
	}
	m.apply(st)
	return nil
}

// CheckFinite returns an error naming tensor name and the first of its
// values that is NaN or infinite, or nil when all are finite. Every model
// loader (float models here, quantizers' inputs in quant) refuses such
// tensors with it, so evaluate and quantize reject the same files.
func CheckFinite(name string, v []float32) error {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("tensor %q: value %d is %g, expected a finite number", name, i, x)
		}
	}
	return nil
}
