package quant

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/nn/safetensors"
)

// A quantized model file is a safetensors file. Its metadata holds:
//
//	ccq.format            "kbit"
//	ccq.arch              "mlp", "lenet5" or "resnet20"
//	ccq.input_shape       "C,H,W"
//	ccq.classes           number of classes
//	ccq.bits              weight bits, 1..8
//	ccq.method            quantizer or optimizer that made it
//	ccq.granularity       "tensor" or "channel"
//	ccq.act_bits          activation bits, 32 for float activations
//	ccq.used_fp_gradients "true" or "false"
//	ccq.source_digest     SHA-256 of the float model (may be empty)
//
// plus any extra keys (Model.Extra, e.g. ccq.dataset, ccq.norm_mean). For
// every conv/linear layer <L> (its PyTorch name, e.g. "layer1.0.conv1") the
// tensors are:
//
//	<L>.weight_levels  I8  [Out, In, K, K] or [Out, In]   integer levels
//	<L>.weight_scale   F32 [1] (per-tensor) or [Out]      weight = scale * level
//	<L>.bias           F32 [Out]                          bias with batch norm folded in
//	<L>.act_scale      F32 [1]  (only when act_bits < 32) input activation scale
//	<L>.act_signed     U8  [1]  (only when act_bits < 32) 1: signed input quantizer, 0: unsigned
//
// Batch-norm layers have no tensors: they are folded into the convolution
// before them.

// Metadata keys of a quantized model file.
const (
	MetaFormat      = "ccq.format"
	MetaArch        = "ccq.arch"
	MetaInput       = "ccq.input_shape"
	MetaClasses     = "ccq.classes"
	MetaBits        = "ccq.bits"
	MetaMethod      = "ccq.method"
	MetaGranularity = "ccq.granularity"
	MetaActBits     = "ccq.act_bits"
	MetaFPGrads     = "ccq.used_fp_gradients"
	MetaSource      = "ccq.source_digest"
	// FormatKBit is the MetaFormat value of quantized model files.
	FormatKBit = "kbit"
)

// IsQuantized reports whether a safetensors file's metadata marks it as a
// quantized model file.
func IsQuantized(md map[string]string) bool { return md[MetaFormat] == FormatKBit }

// Encode turns a model into a safetensors file (see the format above).
func (m *Model) Encode() (*safetensors.File, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	md := maps.Clone(m.Extra)
	if md == nil {
		md = map[string]string{}
	}
	md[MetaFormat] = FormatKBit
	md[MetaArch] = m.Graph.Arch
	md[MetaInput] = fmt.Sprintf("%d,%d,%d", m.Graph.Input.C, m.Graph.Input.H, m.Graph.Input.W)
	md[MetaClasses] = strconv.Itoa(m.Graph.Classes)
	md[MetaBits] = strconv.Itoa(m.Bits)
	md[MetaMethod] = m.Method
	md[MetaGranularity] = string(m.Granularity)
	md[MetaActBits] = strconv.Itoa(m.ActBits)
	md[MetaFPGrads] = strconv.FormatBool(m.UsedFPGradients)
	md[MetaSource] = m.SourceDigest
	f := &safetensors.File{Metadata: md}
	for i := range m.Layers {
		l := &m.Layers[i]
		f.Tensors = append(f.Tensors,
			safetensors.I8(l.Name+".weight_levels", l.Shape, l.Levels),
			safetensors.F32(l.Name+".weight_scale", []int{len(l.Scales)}, l.Scales),
			safetensors.F32(l.Name+".bias", []int{len(l.Bias)}, l.Bias))
		if m.ActBits != FloatActBits {
			s := uint8(0)
			if l.Act.Signed {
				s = 1
			}
			f.Tensors = append(f.Tensors,
				safetensors.F32(l.Name+".act_scale", []int{1}, []float32{l.Act.Scale}),
				safetensors.U8(l.Name+".act_signed", []int{1}, []uint8{s}))
		}
	}
	return f, nil
}

// Save writes the model to path atomically (temporary name, then rename).
func (m *Model) Save(path string) error {
	f, err := m.Encode()
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	if err := safetensors.Write(path, f); err != nil {
		return fmt.Errorf("save quantized model: %w", err)
	}
	return nil
}

// Load reads and validates a quantized model file.
func Load(path string) (*Model, error) {
	f, err := safetensors.Read(path)
	if err != nil {
		return nil, fmt.Errorf("load quantized model: %w", err)
	}
	m, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// parseShape parses "C,H,W".
func parseShape(s string) (nn.Shape, error) {
	p := strings.Split(s, ",")
	if len(p) != 3 {
		return nn.Shape{}, fmt.Errorf("%q is not C,H,W", s)
	}
	var v [3]int
	for i, x := range p {
		n, err := strconv.Atoi(strings.TrimSpace(x))
		if err != nil || n <= 0 || n > 1<<16 {
			return nn.Shape{}, fmt.Errorf("%q is not C,H,W with positive integers", s)
		}
		v[i] = n
	}
	return nn.Shape{C: v[0], H: v[1], W: v[2]}, nil
}

// Decode builds a model from a safetensors file and validates it: the
// metadata, every tensor present with its dtype and the shape the
// architecture implies, levels inside the bit range, no unknown tensors.
// Errors name the key or tensor at fault.
func Decode(f *safetensors.File) (*Model, error) {
	md := f.Metadata
	if md[MetaFormat] != FormatKBit {
		return nil, fmt.Errorf("metadata %s is %q, expected %q (not a quantized model file)", MetaFormat, md[MetaFormat], FormatKBit)
	}
	in, err := parseShape(md[MetaInput])
	if err != nil {
		return nil, fmt.Errorf("metadata %s: %w", MetaInput, err)
	}
	classes, err := strconv.Atoi(md[MetaClasses])
	if err != nil || classes < 2 || classes > 256 {
		return nil, fmt.Errorf("metadata %s is %q, expected an integer in 2..256", MetaClasses, md[MetaClasses])
	}
	g, err := nn.BuildGraph(md[MetaArch], in, classes)
	if err != nil {
		return nil, fmt.Errorf("metadata %s: %w", MetaArch, err)
	}
	intKey := func(k string) (int, error) {
		v, err := strconv.Atoi(md[k])
		if err != nil {
			return 0, fmt.Errorf("metadata %s is %q, expected an integer", k, md[k])
		}
		return v, nil
	}
	m := &Model{Graph: g, Method: md[MetaMethod], Granularity: Granularity(md[MetaGranularity]), SourceDigest: md[MetaSource]}
	if m.Bits, err = intKey(MetaBits); err != nil {
		return nil, err
	}
	if err := CheckBits(m.Bits); err != nil {
		return nil, fmt.Errorf("metadata %s: %w", MetaBits, err)
	}
	if m.ActBits, err = intKey(MetaActBits); err != nil {
		return nil, err
	}
	if err := CheckActBits(m.ActBits); err != nil {
		return nil, fmt.Errorf("metadata %s: %w", MetaActBits, err)
	}
	if _, err := ParseGranularity(string(m.Granularity)); err != nil {
		return nil, fmt.Errorf("metadata %s: %w", MetaGranularity, err)
	}
	if m.UsedFPGradients, err = strconv.ParseBool(md[MetaFPGrads]); err != nil {
		return nil, fmt.Errorf("metadata %s is %q, expected true or false", MetaFPGrads, md[MetaFPGrads])
	}
	known := map[string]bool{MetaFormat: true, MetaArch: true, MetaInput: true, MetaClasses: true, MetaBits: true, MetaMethod: true,
		MetaGranularity: true, MetaActBits: true, MetaFPGrads: true, MetaSource: true}
	for k, v := range md {
		if !known[k] {
			if m.Extra == nil {
				m.Extra = map[string]string{}
			}
			m.Extra[k] = v
		}
	}
	used := map[string]bool{}
	get := func(name string, dt safetensors.DType, shape []int) (*safetensors.Tensor, error) {
		t, ok := f.Get(name)
		if !ok {
			return nil, fmt.Errorf("tensor %q is missing (expected %s %v)", name, dt, shape)
		}
		used[name] = true
		if t.DType != dt {
			return nil, fmt.Errorf("tensor %q has dtype %s, expected %s", name, t.DType, dt)
		}
		if !slices.Equal(t.Shape, shape) {
			return nil, fmt.Errorf("tensor %q has shape %v, the %s architecture expects %v", name, t.Shape, g.Arch, shape)
		}
		return t, nil
	}
	f32 := func(name string, shape []int) ([]float32, error) {
		t, err := get(name, safetensors.DTypeF32, shape)
		if err != nil {
			return nil, err
		}
		v, err := t.Float32s()
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		return v, nil
	}
	nonneg := NonNegativeOutputs(g)
	for _, ni := range quantNodes(g) {
		node := g.Nodes[ni]
		l := Layer{Name: node.Name, Node: ni, Shape: weightShape(node), Act: ActQuant{Bits: FloatActBits}}
		t, err := get(l.Name+".weight_levels", safetensors.DTypeI8, l.Shape)
		if err != nil {
			return nil, err
		}
		if l.Levels, err = t.Int8s(); err != nil {
			return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		for j, v := range l.Levels {
			if !ValidLevel(m.Bits, v) {
				return nil, fmt.Errorf("tensor %q: level %d at index %d is outside the %d-bit range", t.Name, v, j, m.Bits)
			}
		}
		nsc := 1
		if m.Granularity == PerChannel {
			nsc = node.Out
		}
		if l.Scales, err = f32(l.Name+".weight_scale", []int{nsc}); err != nil {
			return nil, err
		}
		if l.Bias, err = f32(l.Name+".bias", []int{node.Out}); err != nil {
			return nil, err
		}
		if m.ActBits != FloatActBits {
			s, err := f32(l.Name+".act_scale", []int{1})
			if err != nil {
				return nil, err
			}
			st, err := get(l.Name+".act_signed", safetensors.DTypeU8, []int{1})
			if err != nil {
				return nil, err
			}
			if len(st.Data) != 1 || st.Data[0] > 1 {
				return nil, fmt.Errorf("tensor %q: expected one byte, 0 or 1", st.Name)
			}
			l.Act = ActQuant{Bits: m.ActBits, Signed: st.Data[0] == 1, Scale: s[0]}
			if !l.Act.Signed && !nonneg[node.Inputs[0]] {
				return nil, fmt.Errorf("tensor %q: unsigned quantizer on an input that can be negative", st.Name)
			}
		}
		m.Layers = append(m.Layers, l)
	}
	for _, t := range f.Tensors {
		if !used[t.Name] {
			return nil, fmt.Errorf("tensor %q is not part of a %d-bit %s model (activation bits %d)", t.Name, m.Bits, g.Arch, m.ActBits)
		}
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}
