package quantize

import (
	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/ste"
)

// Fingerprint gives ste-qat stages with quantized activations (act_bits <
// 32) the dependency "ste_activations" = ste.STEActivationRecipe, so that
// their key changes with the way ste-qat treats activations (entries made
// when it fine-tuned with float activations and calibrated the scales
// afterwards are not reused). Every other quantize stage reports nothing:
// its key, and its store entries, are unchanged.
func (Kind) Fingerprint(pp pipeline.Params, _ map[string]string) (map[string]string, error) {
	var p Params
	if err := pp.Decode(&p); err != nil {
		return nil, err
	}
	if p.Method == "ste-qat" && p.ActBits != quant.FloatActBits {
		return map[string]string{"ste_activations": ste.STEActivationRecipe}, nil
	}
	return nil, nil
}
