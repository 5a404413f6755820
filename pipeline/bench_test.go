package pipeline_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/store"
	"github.com/ccq-project/ccq/pipeline/testkinds"
)

// wideDAG is 1,000 trivial stages in 20 layers of 50; each stage past the
// first layer reads two stages of the layer before.
func wideDAG() []pipeline.Spec { return layeredDAG(20, 50) }

// layeredDAG is layers*width trivial stages; each stage past the first
// layer reads two stages of the layer before.
func layeredDAG(layers, width int) []pipeline.Spec {
	var specs []pipeline.Spec
	for l := 0; l < layers; l++ {
		for i := 0; i < width; i++ {
			var in map[string]string
			if l > 0 {
				in = map[string]string{
					"a": fmt.Sprintf("l%d/s%d", l-1, i),
					"b": fmt.Sprintf("l%d/s%d", l-1, (i+1)%width),
				}
			}
			specs = append(specs, spec(fmt.Sprintf("l%d/s%d", l, i), "touch", map[string]any{"l": l, "i": i}, in))
		}
	}
	return specs
}

// chain is 200 trivial stages, each reading the one before.
func chain() []pipeline.Spec {
	var specs []pipeline.Spec
	for i := 0; i < 200; i++ {
		var in map[string]string
		if i > 0 {
			in = map[string]string{"prev": fmt.Sprintf("c/%d", i-1)}
		}
		specs = append(specs, spec(fmt.Sprintf("c/%d", i), "touch", map[string]any{"i": i}, in))
	}
	return specs
}

// planAndRun is what `ccq run` does after loading the experiment.
func planAndRun(b *testing.B, specs []pipeline.Spec, st *store.Store, res *pipeline.Results, reg *pipeline.Registry) *pipeline.Summary {
	g, err := pipeline.NewGraph(specs)
	if err != nil {
		b.Fatal(err)
	}
	p, err := pipeline.MakePlan(g, pipeline.PlanOptions{Registry: reg, Store: st, History: res.History()})
	if err != nil {
		b.Fatal(err)
	}
	sum, err := pipeline.Run(context.Background(), p, pipeline.RunOptions{Registry: reg, Store: st, Results: res, Jobs: 2})
	if err != nil {
		b.Fatal(err)
	}
	if sum.Outcome != "ok" {
		b.Fatal(sum.Err())
	}
	return sum
}

func benchPipeline(b *testing.B, specs []pipeline.Spec, cached, durable bool) {
	reg := &pipeline.Registry{}
	reg.MustRegister(testkinds.Touch{})
	open := func() (*store.Store, *pipeline.Results) {
		dir := b.TempDir()
		st, err := store.Open(filepath.Join(dir, "store"))
		if err != nil {
			b.Fatal(err)
		}
		st.NoSync = !durable
		res, err := pipeline.OpenResults(filepath.Join(dir, "results", "bench"))
		if err != nil {
			b.Fatal(err)
		}
		return st, res
	}
	var st *store.Store
	var res *pipeline.Results
	if cached {
		st, res = open()
		planAndRun(b, specs, st, res, reg)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !cached {
			b.StopTimer()
			st, res = open()
			b.StartTimer()
		}
		sum := planAndRun(b, specs, st, res, reg)
		if cached != sum.NothingToDo {
			b.Fatalf("cached=%v but NothingToDo=%v", cached, sum.NothingToDo)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(len(specs)), "µs/stage")
}

// Benchmarks of plan + run on synthetic DAGs (issue 5's figures): fresh
// (empty store, every stage runs, entries fsynced) and fully cached (a
// second run with nothing to do). The NoSync variants skip fsync.
func BenchmarkDAG1000Fresh(b *testing.B)       { benchPipeline(b, wideDAG(), false, true) }
func BenchmarkDAG1000FreshNoSync(b *testing.B) { benchPipeline(b, wideDAG(), false, false) }
func BenchmarkDAG1000Cached(b *testing.B)      { benchPipeline(b, wideDAG(), true, true) }
func BenchmarkChain200Fresh(b *testing.B)      { benchPipeline(b, chain(), false, true) }
func BenchmarkChain200FreshNoSync(b *testing.B) {
	benchPipeline(b, chain(), false, false)
}
func BenchmarkChain200Cached(b *testing.B) { benchPipeline(b, chain(), true, true) }

// BenchmarkDAG10000Cached is plan + run of a fully cached 10,000-stage DAG
// (200 layers of 50): what the store's integrity checks cost on a large
// cached plan. The store is filled without fsync to keep the setup short;
// the timed cached runs write no entries.
func BenchmarkDAG10000Cached(b *testing.B) { benchPipeline(b, layeredDAG(200, 50), true, false) }
