package quantize

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/quant/ptq"
)

// TestMethodTableMatchesQuant checks that the table lists exactly quant's
// methods, in its order, and that every key a method claims is a field of
// MethodParams (it decodes).
func TestMethodTableMatchesQuant(t *testing.T) {
	var names []string
	for _, m := range Methods {
		names = append(names, m.Name)
		mp := map[string]any{}
		for _, k := range append(append([]string(nil), m.Params...), commonParams...) {
			mp[k] = 1
			if k == "bias_corr_scales" || k == "ste_weights" {
				mp[k] = map[string]string{"bias_corr_scales": "mse", "ste_weights": "mse"}[k]
			}
		}
		params := pipeline.MustParams(map[string]any{"method": m.Name, "bits": 2, "granularity": "tensor", "act_bits": 32, "method_params": mp})
		raw, _ := json.Marshal(mp)
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		var fields MethodParams
		if err := dec.Decode(&fields); err != nil {
			t.Errorf("%s: its keys are not MethodParams fields: %v", m.Name, err)
		}
		if err := checkMethodParams(m.Name, params); err != nil {
			t.Errorf("%s: its own keys refused: %v", m.Name, err)
		}
	}
	if !slices.Equal(names, ptq.Methods) {
		t.Errorf("table %v, ptq.Methods %v", names, ptq.Methods)
	}
}

// TestMethodParamsOfOtherMethodsRefused: a knob of another method is an
// error naming the key and what the method takes.
func TestMethodParamsOfOtherMethodsRefused(t *testing.T) {
	for _, c := range []struct {
		method, key string
	}{{"rtn", "percentile"}, {"mse", "iters"}, {"percentile", "seed"}, {"adaround", "epochs"}, {"ste-qat", "lambda"}} {
		params := pipeline.MustParams(map[string]any{"method": c.method, "bits": 2, "granularity": "tensor", "act_bits": 32,
			"method_params": map[string]any{c.key: 1, "calib_size": 64}})
		err := (Kind{}).CheckParams(params)
		var pe *pipeline.ParamError
		if !errors.As(err, &pe) || pe.Key != "method_params."+c.key || !strings.Contains(pe.Msg, "calib_size") {
			t.Errorf("%s with %s: %v", c.method, c.key, err)
		}
	}
}

// TestMethodGradientsFlag quantizes a random LeNet-5 with every
// post-training method (ste-qat trains for an epoch: left to its own test)
// and checks the model's used_fp_gradients flag against the table.
func TestMethodGradientsFlag(t *testing.T) {
	in := inputs(t)
	for _, m := range Methods {
		if m.Name == "ste-qat" {
			continue
		}
		mp := map[string]any{"calib_size": 32}
		if m.Name == "adaround" {
			mp["iters"] = 5
		}
		q, rec := run(t, in, map[string]any{"method": m.Name, "bits": 3, "granularity": "tensor", "act_bits": 32, "method_params": mp})
		if q.UsedFPGradients != m.UsesGradients || rec.UsedFPGradients != m.UsesGradients {
			t.Errorf("%s: model says used_fp_gradients %v, record %v, table %v", m.Name, q.UsedFPGradients, rec.UsedFPGradients, m.UsesGradients)
		}
	}
}
