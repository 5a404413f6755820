package stageparams

// Evaluate are the evaluate stage's parameters (the experiment's
// [evaluate], the same for every evaluate stage). `ccq evaluate` builds
// them from its flags.
type Evaluate struct {
	// Batch is the number of images per forward pass of a float model
	// (default DefaultEvalBatch).
	Batch int `json:"batch,omitempty"`
	// SkipValidation leaves the validation accuracy out.
	SkipValidation bool `json:"skip_validation,omitempty"`
	// Integer runs integer-only inference on the test split next to the
	// fake-quantized evaluation for models with quantized activations:
	// unset, where the CPU has AVX-512 VNNI (elsewhere its pure-Go kernels
	// are slow: ResNet-20 needs about 55 CPU-ms per image); true, always;
	// false, never.
	Integer *bool `json:"integer,omitempty"`
}

// DefaultEvalBatch is Evaluate.Batch when zero.
const DefaultEvalBatch = 1024

// WithDefaults returns the parameters with zero fields given their defaults.
func (p Evaluate) WithDefaults() Evaluate {
	if p.Batch == 0 {
		p.Batch = DefaultEvalBatch
	}
	return p
}

// Validate checks ranges.
func (p *Evaluate) Validate() error { return nonNegative("batch", p.Batch) }
