package quantize

import (
	"testing"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/quant/ste"
)

// Only ste-qat with quantized activations gets a dependency in its key; the
// keys of every other quantize stage stay what they were.
func TestFingerprintOnlySTEWithQuantizedActivations(t *testing.T) {
	for _, c := range []struct {
		method  string
		actBits int
		dep     bool
	}{
		{"ste-qat", 4, true},
		{"ste-qat", 8, true},
		{"ste-qat", 32, false},
		{"rtn", 4, false},
		{"adaround", 4, false},
	} {
		params, err := pipeline.NewParams(map[string]any{"method": c.method, "bits": 3, "granularity": "tensor", "act_bits": c.actBits})
		if err != nil {
			t.Fatal(err)
		}
		deps, err := (Kind{}).Fingerprint(params, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := deps["ste_activations"]; (got != "") != c.dep || (c.dep && (len(deps) != 1 || got != ste.STEActivationRecipe)) {
			t.Errorf("%s act_bits %d: dependencies %v", c.method, c.actBits, deps)
		}
		key := func(d map[string]string) string {
			return pipeline.Key(pipeline.KeyInput{Kind: "quantize", KindVersion: Kind{}.Version(), Params: params, Deps: d})
		}
		if changed := key(deps) != key(nil); changed != c.dep {
			t.Errorf("%s act_bits %d: key changed %v, want %v", c.method, c.actBits, changed, c.dep)
		}
	}
	bad, err := pipeline.NewParams(map[string]any{"method": "ste-qat", "bits": 3, "granularity": "tensor", "act_bits": 5, "typo": 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (Kind{}).Fingerprint(bad, nil); err == nil {
		t.Error("unknown parameter accepted")
	}
}
