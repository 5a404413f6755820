package nn

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/ccq-project/ccq/nn/safetensors"
)

// Metadata keys a saved model carries (safetensors "__metadata__"). Save
// writes the first three; the caller adds the others it knows.
const (
	MetaArch    = "ccq.arch"        // an architecture of Archs ("lenet5")
	MetaInput   = "ccq.input_shape" // "C,H,W", e.g. "1,28,28"
	MetaClasses = "ccq.classes"     // e.g. "10"
	MetaFormat  = "ccq.format"      // "float32" for models written by Save
	MetaDataset = "ccq.dataset"     // dataset the model was trained on
	MetaMean    = "ccq.norm_mean"   // per-channel normalisation mean, comma-separated
	MetaStd     = "ccq.norm_std"    // per-channel normalisation std, comma-separated
)

// ErrNoArch is wrapped by errors for files whose metadata does not name an
// architecture (for example a PyTorch state dict): use Import for those.
var ErrNoArch = errors.New("no architecture in the file's metadata")

// FormatFloat32 is the MetaFormat value of models written by Save.
const FormatFloat32 = "float32"

// Save writes the model's state dict to a safetensors file (atomically:
// temporary name, then rename) with meta plus the architecture, input
// shape, classes and format keys.
func (m *Model) Save(path string, meta map[string]string) error {
	md := maps.Clone(meta)
	if md == nil {
		md = map[string]string{}
	}
	maps.Copy(md, GraphMetadata(m.g))
	md[MetaFormat] = FormatFloat32
	f := &safetensors.File{Metadata: md, Tensors: m.StateDict()}
	if err := safetensors.Write(path, f); err != nil {
		return fmt.Errorf("save model: %w", err)
	}
	return nil
}

// GraphMetadata returns the metadata keys that identify a graph's
// architecture (MetaArch, MetaInput, MetaClasses).
func GraphMetadata(g Graph) map[string]string {
	return map[string]string{
		MetaArch:    g.Arch,
		MetaInput:   fmt.Sprintf("%d,%d,%d", g.Input.C, g.Input.H, g.Input.W),
		MetaClasses: strconv.Itoa(g.Classes),
	}
}

// GraphFromMetadata rebuilds the graph a file's metadata describes.
func GraphFromMetadata(md map[string]string) (Graph, error) {
	arch, ok := md[MetaArch]
	if !ok {
		return Graph{}, fmt.Errorf("metadata has no %q key (a file not written by ccq: import it with an explicit architecture): %w", MetaArch, ErrNoArch)
	}
	in, err := ParseShape(md[MetaInput])
	if err != nil {
		return Graph{}, fmt.Errorf("metadata %q: %w", MetaInput, err)
	}
	classes, err := strconv.Atoi(md[MetaClasses])
	if err != nil {
		return Graph{}, fmt.Errorf("metadata %q = %q: expected an integer", MetaClasses, md[MetaClasses])
	}
	return BuildGraph(arch, in, classes)
}

// ParseShape parses "C,H,W" (or "CxHxW").
func ParseShape(s string) (Shape, error) {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == 'x' })
	if len(parts) != 3 {
		return Shape{}, fmt.Errorf("shape %q: expected C,H,W", s)
	}
	var v [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n <= 0 {
			return Shape{}, fmt.Errorf("shape %q: %q is not a positive integer", s, p)
		}
		v[i] = n
	}
	return Shape{v[0], v[1], v[2]}, nil
}

// Load reads a model written by Save: the architecture comes from the
// file's metadata, the tensors must match it exactly (see LoadStateDict).
// It returns the model and the file's metadata.
func Load(path string) (*Model, map[string]string, error) {
	f, err := safetensors.Read(path)
	if err != nil {
		return nil, nil, fmt.Errorf("load model: %w", err)
	}
	g, err := GraphFromMetadata(f.Metadata)
	if err != nil {
		return nil, nil, fmt.Errorf("load model %s: %w", path, err)
	}
	m, err := FromFile(f, g)
	if err != nil {
		return nil, nil, fmt.Errorf("load model %s: %w", path, err)
	}
	return m, f.Metadata, nil
}

// Import reads a safetensors state dict written by other tools (PyTorch's
// safetensors.torch.save_file(model.state_dict(), path)) for the named
// architecture and input shape; the number of classes is taken from the
// final layer's weight. Metadata, if any, is returned unchanged; when it
// names an architecture, that must agree.
func Import(path, arch string, input Shape) (*Model, map[string]string, error) {
	f, err := safetensors.Read(path)
	if err != nil {
		return nil, nil, fmt.Errorf("import model: %w", err)
	}
	if a, ok := f.Metadata[MetaArch]; ok && a != arch {
		return nil, nil, fmt.Errorf("import model %s: the file says it is a %s, not a %s", path, a, arch)
	}
	classes := 0
	spec, _ := LookupArch(arch)
	final := spec.FinalWeight
	for _, t := range f.Tensors {
		if CanonicalName(arch, t.Name) == final && len(t.Shape) == 2 {
			classes = t.Shape[0]
		}
	}
	if final != "" && classes == 0 {
		return nil, nil, fmt.Errorf("import model %s: no 2-D tensor %q to take the number of classes from", path, final)
	}
	g, err := BuildGraph(arch, input, classes)
	if err != nil {
		return nil, nil, fmt.Errorf("import model %s: %w", path, err)
	}
	m, err := FromFile(f, g)
	if err != nil {
		return nil, nil, fmt.Errorf("import model %s: %w", path, err)
	}
	return m, f.Metadata, nil
}

// FromFile builds a model for graph g from the tensors of a decoded
// safetensors file.
func FromFile(f *safetensors.File, g Graph) (*Model, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	// Check the tensors before allocating the model, so a bad file with
	// absurd metadata cannot make us allocate much.
	st, err := checkState(&g, f.Tensors)
	if err != nil {
		return nil, err
	}
	m, err := NewModel(g, 0)
	if err != nil {
		return nil, err
	}
	m.apply(st)
	return m, nil
}

// FormatFloats formats values as a comma-separated list (for MetaMean and
// MetaStd).
func FormatFloats(v []float32) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(float64(x), 'g', -1, 32)
	}
	return strings.Join(s, ",")
}

// ParseFloats parses a comma-separated list written by FormatFloats.
func ParseFloats(s string) ([]float32, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	v := make([]float32, len(parts))
	for i, p := range parts {
		x, err := strconv.ParseFloat(strings.TrimSpace(p), 32)
		if err != nil {
			return nil, fmt.Errorf("%q: item %d (%q) is not a number", s, i+1, p)
		}
		v[i] = float32(x)
	}
	return v, nil
}
