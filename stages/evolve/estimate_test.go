package evolve

import (
	"context"
	"testing"
	"time"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/stages/stagecost"
)

func TestEstimateFromTheCostModel(t *testing.T) {
	perImage := map[string]float64{"lenet5": 2e-6, "resnet20": 3e-4}
	var asked []stagecost.Work
	old := stagecost.SetDefault(stagecost.New(stagecost.Options{Probe: true}, func(_ context.Context, w stagecost.Work) (float64, error) {
		asked = append(asked, w)
		return perImage[w.Arch], nil
	}))
	defer stagecost.SetDefault(old)
	chain := func(arch string) stagecost.Chain {
		ds := stagecost.Chain{"dataset": {Kind: "dataset", Params: map[string]any{"name": "fashion-mnist"}}}
		pre := stagecost.Chain{"model": {Kind: "pretrain", Params: map[string]any{"model": arch}, Up: ds}}
		return stagecost.Chain{"start": {Kind: "quantize", Params: map[string]any{"bits": 4, "act_bits": 8}, Up: pre}}
	}
	params := func(m map[string]any) pipeline.Params {
		p, err := pipeline.NewParams(m)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	want := func(evals, batch int, arch string) time.Duration {
		return time.Duration(float64(evals)*float64(batch)*perImage[arch]*evolveOverhead*float64(time.Second)) + evolveFixed
	}
	near := func(got, want time.Duration) bool {
		d := got - want
		return d < time.Millisecond && d > -time.Millisecond
	}

	base := map[string]any{"plugin": "ccea", "bits": 4, "act_bits": 8, "seed": 1, "budget": map[string]any{"evaluations": 5000}}
	if got := (Kind{}).EstimateFrom(params(base), chain("lenet5")); !near(got, want(5000, 1024, "lenet5")) {
		t.Errorf("lenet5: %v, want %v", got, want(5000, 1024, "lenet5"))
	}
	if got := (Kind{}).EstimateFrom(params(base), chain("resnet20")); !near(got, want(5000, 1024, "resnet20")) {
		t.Errorf("resnet20: %v, want %v", got, want(5000, 1024, "resnet20"))
	}
	if len(asked) == 0 || asked[0].Bits != 4 || asked[0].ActBits != 8 || asked[0].Batch != 1024 || asked[0].Op != stagecost.OpScore {
		t.Errorf("probed %+v, want scoring at w4 a8 batch 1024", asked)
	}
	// A smaller batch and a generations budget (lambda+1 evaluations each).
	gens := map[string]any{"plugin": "ccea", "bits": 4, "act_bits": 8, "seed": 1, "batch_size": 256,
		"budget": map[string]any{"generations": 100}, "plugin_params": map[string]any{"lambda": 15}}
	if got := (Kind{}).EstimateFrom(params(gens), chain("lenet5")); !near(got, want(1600, 256, "lenet5")) {
		t.Errorf("generations: %v, want %v", got, want(1600, 256, "lenet5"))
	}
	// A wall-time budget caps the estimate.
	capped := map[string]any{"plugin": "ccea", "bits": 4, "act_bits": 8, "seed": 1,
		"budget": map[string]any{"evaluations": 5000, "wall_time": "1m"}}
	if got := (Kind{}).EstimateFrom(params(capped), chain("resnet20")); got != time.Minute {
		t.Errorf("wall-time cap: %v, want 1m", got)
	}
	// Without an architecture upstream, the kind's plain estimate.
	if got, plain := (Kind{}).EstimateFrom(params(base), stagecost.Chain{}), (Kind{}).Estimate(params(base)); got != plain {
		t.Errorf("no upstream: %v, want the plain estimate %v", got, plain)
	}
}
