package quantize

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/ccq-project/ccq/pipeline"
)

// MethodSpec is one quantizer's entry in the table of methods: what the
// stage, `ccq quantize` and their checks need to know about it. The
// computation itself is in quant/ptq (ptq.Quantize) or quant/ste
// (ste.QuantizeSTE, for ste-qat).
type MethodSpec struct {
	// Name is the method's name (one of ptq.Methods).
	Name string
	// Doc describes it for help texts (lines after the first indented).
	Doc string
	// UsesGradients is set when the method uses gradients, so its models
	// are flagged used_fp_gradients in the tables.
	UsesGradients bool
	// Params are the method_params keys it reads besides the calibration
	// keys every method takes (commonParams).
	Params []string
}

// commonParams are the method_params keys of every method: the calibration
// images and the activation scales' percentile.
var commonParams = []string{"calib_size", "calib_seed", "act_percentile"}

// Methods is the table of quantizers, in ptq.Methods' order. Adding a
// quantizer: implement it in package quant/ptq (its name in ptq.Methods, its
// scale rule in ptq.Quantize, or its own entry point), add its entry here
// and map its knobs to MethodParams fields (stages/stageparams); the stage,
// `ccq quantize`'s help and the checks of method_params read this table.
var Methods = []MethodSpec{
	{Name: "rtn", Doc: "round to nearest, scale = max |w| / (2^(k-1)-1)"},
	{Name: "mse", Doc: "scale searched to minimise the squared weight error"},
	{Name: "percentile", Doc: "scale from a percentile of |w| (percentile, default 99.9)", Params: []string{"percentile"}},
	{Name: "bias-corr", Doc: "rtn (or bias_corr_scales mse|percentile), then each layer's bias\ncorrected so that its mean output per channel on the calibration\nbatch matches the float network's",
		Params: []string{"bias_corr_scales", "percentile"}},
	{Name: "ste-qat", Doc: "quantization-aware fine-tuning with a straight-through estimator\nwith DoReFa-style weights and, with act_bits below 32, activations\nquantized during fine-tuning (uses full-precision gradients:\nepochs, lr, batch_size, seed, ste_weights)",
		UsesGradients: true, Params: []string{"epochs", "lr", "batch_size", "seed", "ste_weights"}},
	{Name: "adaround", Doc: "AdaRound (Nagel et al., ICML 2020): mse scales, then layer by\nlayer each weight's rounding up or down learnt by Adam on the\nlayer's output reconstruction error over the calibration batch,\nthe input coming from the already rounded layers (uses gradients\nof that local loss: iters, lr, batch_size, lambda, beta_start,\nbeta_end, warm_up, seed; paper defaults)",
		UsesGradients: true, Params: []string{"iters", "lr", "batch_size", "lambda", "beta_start", "beta_end", "warm_up", "seed"}},
}

// LookupMethod returns the table entry of the named method.
func LookupMethod(name string) (MethodSpec, bool) {
	for _, m := range Methods {
		if m.Name == name {
			return m, true
		}
	}
	return MethodSpec{}, false
}

// MethodHelp lists the methods for a help text, one entry per method, its
// lines after the first indented to line up.
func MethodHelp() string {
	var b strings.Builder
	for _, m := range Methods {
		lines := strings.Split(m.Doc, "\n")
		fmt.Fprintf(&b, "  %-11s %s\n", m.Name, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(&b, "  %-11s %s\n", "", l)
		}
	}
	return b.String()
}

// checkMethodParams rejects method_params keys the method does not read,
// naming the keys it does.
func checkMethodParams(method string, pp pipeline.Params) error {
	spec, ok := LookupMethod(method)
	if !ok {
		return nil // Validate reports the method
	}
	raw, _ := pp.Get("method_params")
	m, _ := raw.(map[string]any)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(commonParams, k) && !slices.Contains(spec.Params, k) {
			known := append(append([]string(nil), spec.Params...), commonParams...)
			return &pipeline.ParamError{Key: "method_params." + k, Msg: fmt.Sprintf("%s does not use it (it takes %s)", method, strings.Join(known, ", "))}
		}
	}
	return nil
}
