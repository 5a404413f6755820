package evolve

import (
	"context"
	"testing"
	"time"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/stages/stagecost"
)

func TestEstimateAtTheCostModel(t *testing.T) {
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
	if got := (Kind{}).EstimateAt(params(base), chain("lenet5"), 2); !near(got, want(5000, 1024, "lenet5")) {
		t.Errorf("lenet5: %v, want %v", got, want(5000, 1024, "lenet5"))
	}
	if got := (Kind{}).EstimateAt(params(base), chain("resnet20"), 2); !near(got, want(5000, 1024, "resnet20")) {
		t.Errorf("resnet20: %v, want %v", got, want(5000, 1024, "resnet20"))
	}
	if len(asked) == 0 || asked[0].Bits != 4 || asked[0].ActBits != 8 || asked[0].Batch != 1024 || asked[0].Op != stagecost.OpScore || asked[0].Threads != 2 {
		t.Errorf("probed %+v, want scoring at w4 a8 batch 1024 on 2 threads", asked)
	}
	// A smaller batch and a generations budget (lambda+1 evaluations each).
	gens := map[string]any{"plugin": "ccea", "bits": 4, "act_bits": 8, "seed": 1, "batch_size": 256,
		"budget": map[string]any{"generations": 100}, "plugin_params": map[string]any{"lambda": 15}}
	if got := (Kind{}).EstimateAt(params(gens), chain("lenet5"), 2); !near(got, want(1600, 256, "lenet5")) {
		t.Errorf("generations: %v, want %v", got, want(1600, 256, "lenet5"))
	}
	// A wall-time budget caps the estimate.
	capped := map[string]any{"plugin": "ccea", "bits": 4, "act_bits": 8, "seed": 1,
		"budget": map[string]any{"evaluations": 5000, "wall_time": "1m"}}
	if got := (Kind{}).EstimateAt(params(capped), chain("resnet20"), 2); got != time.Minute {
		t.Errorf("wall-time cap: %v, want 1m", got)
	}
	// A wall-time budget is the stage's wall time on any thread count:
	// the 1-thread estimate (a --jobs 1 run) is not doubled.
	if got := (Kind{}).EstimateAt(params(capped), chain("resnet20"), 1); got != time.Minute {
		t.Errorf("wall-time cap on 1 thread: %v, want 1m", got)
	}
	if got := (Kind{}).EstimateAt(params(capped), stagecost.Chain{}, 1); got != time.Minute {
		t.Errorf("wall-time cap on 1 thread without the cost model: %v, want 1m", got)
	}
	// Without an architecture upstream, the kind's plain estimate.
	if got, plain := (Kind{}).EstimateAt(params(base), stagecost.Chain{}, 2), (Kind{}).Estimate(params(base)); got != plain {
		t.Errorf("no upstream: %v, want the plain estimate %v", got, plain)
	}
}

// TestEstimateOnOneThread: a stage the local executor runs on one thread
// (--jobs 1) is estimated with the cost model's measurement on one thread
// (stagecost keys each thread count: it does not assume linear scaling),
// and a wall-time budget stays its wall time.
func TestEstimateOnOneThread(t *testing.T) {
	// Seconds per scored image, per thread count: 1 thread is 1.5 times
	// slower than 2 here, not 2 times.
	perThreads := map[int]float64{1: 3e-6, 2: 2e-6}
	var asked []stagecost.Work
	old := stagecost.SetDefault(stagecost.New(stagecost.Options{Probe: true}, func(_ context.Context, w stagecost.Work) (float64, error) {
		asked = append(asked, w)
		return perThreads[w.Threads], nil
	}))
	defer stagecost.SetDefault(old)
	ds := stagecost.Chain{"dataset": {Kind: "dataset", Params: map[string]any{"name": "fashion-mnist"}}}
	pre := stagecost.Chain{"model": {Kind: "pretrain", Params: map[string]any{"model": "lenet5"}, Up: ds}}
	up := stagecost.Chain{"start": {Kind: "quantize", Params: map[string]any{"bits": 2}, Up: pre}}
	params := func(m map[string]any) pipeline.Params {
		p, err := pipeline.NewParams(m)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := params(map[string]any{"plugin": "ccea", "bits": 2, "act_bits": 32, "seed": 1, "budget": map[string]any{"evaluations": 5000}})
	threads := pipeline.SlotThreads(Kind{}.Threads(base), 1)
	if threads != 1 {
		t.Fatalf("SlotThreads(%d, 1) = %d", Kind{}.Threads(base), threads)
	}
	want := time.Duration(5000*1024*perThreads[1]*evolveOverhead*float64(time.Second)) + evolveFixed
	got := pipeline.EstimateOn(Kind{}, base, up, threads)
	if d := got - want; d > time.Millisecond || d < -time.Millisecond {
		t.Errorf("1 thread: %v, want %v (the 1-thread cost)", got, want)
	}
	if len(asked) != 1 || asked[0].Threads != 1 {
		t.Errorf("probed %+v, want one probe on 1 thread", asked)
	}
	// A 30 s wall-time budget that caps the run: 30 s on 1 thread as on 2.
	wall := params(map[string]any{"plugin": "ccea", "bits": 2, "act_bits": 32, "seed": 1, "budget": map[string]any{"evaluations": 50000, "wall_time": "30s"}})
	for _, n := range []int{1, 2} {
		if got := pipeline.EstimateOn(Kind{}, wall, up, n); got != 30*time.Second {
			t.Errorf("wall-time budget on %d threads: %v, want 30s", n, got)
		}
	}
}
