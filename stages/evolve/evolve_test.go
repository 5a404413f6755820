package evolve

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/nn"
	"github.com/ccq-project/ccq/nn/withdata"
	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/store"
	"github.com/ccq-project/ccq/plugins/builtin"
	"github.com/ccq-project/ccq/plugins/catalog"
	"github.com/ccq-project/ccq/plugins/rpc"
	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/ptq"
	"github.com/ccq-project/ccq/results"
	"github.com/ccq-project/ccq/stages/stageio"
)

func TestMain(m *testing.M) {
	if name := os.Getenv(catalog.EnvServeBuiltin); name != "" && os.Getenv(restoreFailsEnv) != "" {
		o, err := builtin.New(name)
		if err != nil {
			os.Exit(2)
		}
		rpc.Serve(restoreFails{o})
		os.Exit(0)
	}
	catalog.ServeIfAsked()
	resolver = func() *catalog.Resolver { return &catalog.Resolver{Builtin: catalog.TestBinarySpec} }
	if cfg := os.Getenv(childEnv); cfg != "" {
		os.Exit(evolveChild(cfg))
	}
	os.Exit(m.Run())
}

// fixture is a dataset input and a 2-bit MLP start model in the layout the
// dataset and quantize stages leave in the store.
type fixture struct {
	inputs          map[string]*pipeline.Input
	start           *quant.Model
	dsDir, startDir string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	rec := stageio.DatasetRecord{Name: "mnist", ValSize: 500, SplitSeed: 1}
	d, err := datasets.Load(ctx, rec.Name, datasets.Options{ValSize: rec.ValSize, SplitSeed: rec.SplitSeed})
	if err != nil {
		t.Skipf("MNIST not available: %v", err)
	}
	dsDir := t.TempDir()
	if err := stageio.WriteJSON(dsDir, stageio.DatasetFile, rec); err != nil {
		t.Fatal(err)
	}
	g, err := nn.BuildGraph("mlp", withdata.Shape(d), len(d.Classes))
	if err != nil {
		t.Fatal(err)
	}
	fm, err := nn.NewModel(g, 7)
	if err != nil {
		t.Fatal(err)
	}
	start, err := ptq.Quantize(ctx, quant.FromNN(fm), ptq.Options{Method: "rtn", Bits: 2})
	if err != nil {
		t.Fatal(err)
	}
	startDir := t.TempDir()
	if err := start.Save(filepath.Join(startDir, stageio.ModelFile)); err != nil {
		t.Fatal(err)
	}
	if err := stageio.WriteJSON(startDir, stageio.ModelRecordFile, stageio.ModelRecord{
		RunID: "rtn-w2-tensor-a32", Kind: "baseline", Method: "rtn", Dataset: "mnist", Model: "mlp", Bits: 2, ActBits: 32,
	}); err != nil {
		t.Fatal(err)
	}
	return fixture{inputs: fixtureInputs(dsDir, startDir), start: start, dsDir: dsDir, startDir: startDir}
}

// fixtureInputs are the stage inputs of a fixture's folders.
func fixtureInputs(dsDir, startDir string) map[string]*pipeline.Input {
	return map[string]*pipeline.Input{
		"dataset": {Stage: "dataset/mnist", Entry: &store.Entry{Dir: dsDir, Manifest: &store.Manifest{Kind: "dataset"}}},
		"start":   {Stage: "quantize/rtn-w2-tensor-a32", Entry: &store.Entry{Dir: startDir, Manifest: &store.Manifest{Kind: "quantize"}}},
	}
}

// run runs the evolve stage for the given number of generations into out,
// keeping its checkpoint folder ckpt across calls.
func (f fixture) run(t *testing.T, generations int64, out, ckpt string, resumed bool, extra ...map[string]any) error {
	t.Helper()
	return f.runLogged(t, slog.New(slog.NewTextHandler(io.Discard, nil)), generations, out, ckpt, resumed, extra...)
}

// runLogged is run with the stage's log going to log.
func (f fixture) runLogged(t *testing.T, log *slog.Logger, generations int64, out, ckpt string, resumed bool, extra ...map[string]any) error {
	t.Helper()
	sc, err := stageContext(f.inputs, log, generations, out, ckpt, resumed, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return Kind{}.Run(context.Background(), sc)
}

// stageContext is the context of the test's evolve stage: a small ccea run
// on the fixture, checkpointing every generation unless extra says otherwise.
func stageContext(inputs map[string]*pipeline.Input, log *slog.Logger, generations int64, out, ckpt string, resumed bool, extra ...map[string]any) (*pipeline.StageContext, error) {
	pm := map[string]any{
		"plugin": "ccea", "bits": 2, "act_bits": 32, "seed": 3,
		"budget":        map[string]any{"generations": generations},
		"plugin_params": map[string]any{"lambda": 6, "mu": 2, "group_size": 500, "gens_per_group": 2},
		"batch_size":    128, "validate_every": 2, "validation_size": 200, "checkpoint_every": 1,
	}
	for _, e := range extra {
		maps.Copy(pm, e)
	}
	params, err := pipeline.NewParams(pm)
	if err != nil {
		return nil, err
	}
	return &pipeline.StageContext{
		Name: "evolve/ccea-w2-s3", Kind: "evolve", Params: params, Inputs: inputs,
		OutDir: out, CheckpointDir: ckpt, Resumed: resumed, Threads: 2,
		Log:      log,
		Settings: pipeline.Settings{Experiment: "test"},
	}, nil
}

// outcome is what a finished evolve entry holds, timings (and in the
// summary the resume point) removed.
type outcome struct {
	levels []int8
	rows   []results.GenerationRow
	parts  []string
	rec    stageio.ModelRecord
	sum    Summary
}

func readOutcome(t *testing.T, out string) outcome {
	t.Helper()
	m, err := quant.Load(filepath.Join(out, stageio.ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := results.ReadGenerations(filepath.Join(out, results.GenerationsDir))
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		rows[i].WallTime, rows[i].Timestamp = 0, time.Time{}
	}
	var rec stageio.ModelRecord
	if err := stageio.ReadJSON(out, stageio.ModelRecordFile, &rec); err != nil {
		t.Fatal(err)
	}
	rec.WallTime = 0
	parts, err := results.ListParts(filepath.Join(out, results.GenerationsDir))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range parts {
		parts[i] = filepath.Base(p)
	}
	var sum Summary
	if err := stageio.ReadJSON(out, "evolve.json", &sum); err != nil {
		t.Fatal(err)
	}
	sum.WallTime, sum.ResumedFrom = 0, 0
	return outcome{levels: m.Flat(), rows: rows, parts: parts, rec: rec, sum: sum}
}

func TestEvolveIsDeterministicAndResumesExactly(t *testing.T) {
	if testing.Short() {
		t.Skip("runs optimizer subprocesses")
	}
	f := newFixture(t)
	const gens = 6

	a := reference(t, f, gens, nil)
	if len(a.rows) != gens {
		t.Fatalf("%d generation rows, want %d", len(a.rows), gens)
	}
	for i, r := range a.rows {
		if r.Generation != int64(i) || r.RunID != "ccea-w2-s3" || r.Variant != "ccea" || r.Bits != 2 {
			t.Fatalf("row %d: %+v", i, r)
		}
		if (r.ValidationAccuracy != nil) != (i%2 == 1) {
			t.Errorf("row %d: validation accuracy present = %v, want every 2nd generation", i, r.ValidationAccuracy != nil)
		}
	}
	if a.rec.Kind != results.KindOptimizer || a.rec.StartMethod != "rtn-w2-tensor-a32" || a.rec.Evaluations != a.rows[gens-1].Evaluations {
		t.Errorf("model record %+v", a.rec)
	}
	if reflect.DeepEqual(a.levels, f.start.Flat()) {
		t.Error("the run changed no weight")
	}

	// Same seed, same result.
	outB := t.TempDir()
	if err := f.run(t, gens, outB, t.TempDir(), false); err != nil {
		t.Fatal(err)
	}
	if b := readOutcome(t, outB); !reflect.DeepEqual(a, b) {
		t.Fatal("two runs with the same seed differ")
	}

	// A run that stops after 3 generations (as a crash would, leaving its
	// parts and checkpoint behind), then resumes with the full budget.
	ckpt, outC1 := t.TempDir(), t.TempDir()
	if err := f.run(t, 3, outC1, ckpt, false); err != nil {
		t.Fatal(err)
	}
	if rows, err := results.ReadGenerations(filepath.Join(ckpt, results.GenerationsDir)); err != nil || len(rows) == 0 {
		t.Fatalf("the checkpoint folder holds %d generation rows (%v); a crash leaves them there", len(rows), err)
	}
	outC := t.TempDir()
	if err := f.run(t, gens, outC, ckpt, true); err != nil {
		t.Fatal(err)
	}
	var sum Summary
	if err := stageio.ReadJSON(outC, "evolve.json", &sum); err != nil {
		t.Fatal(err)
	}
	if sum.ResumedFrom != 3 {
		t.Fatalf("the second session resumed from generation %d, want 3 (it must continue from the checkpoint)", sum.ResumedFrom)
	}
	if c := readOutcome(t, outC); !reflect.DeepEqual(a, c) {
		t.Fatalf("the resumed run differs from the uninterrupted one:\nlevels equal %v\nrows %d vs %d\nsummary %+v\nwant    %+v",
			reflect.DeepEqual(a.levels, c.levels), len(a.rows), len(c.rows), c.sum, a.sum)
	}
}

func TestEvolveSelectsByValidation(t *testing.T) {
	if testing.Short() {
		t.Skip("runs optimizer subprocesses")
	}
	f := newFixture(t)
	const gens = 8
	plainOut := t.TempDir()
	if err := f.run(t, gens, plainOut, t.TempDir(), false); err != nil {
		t.Fatal(err)
	}
	plain := readOutcome(t, plainOut)
	var plainSum Summary
	if err := stageio.ReadJSON(plainOut, "evolve.json", &plainSum); err != nil || plainSum.Selected != nil {
		t.Fatalf("plain run summary %+v (%v): want no selection", plainSum, err)
	}

	out := t.TempDir()
	if err := f.run(t, gens, out, t.TempDir(), false, map[string]any{"select": "best-validation"}); err != nil {
		t.Fatal(err)
	}
	sel := readOutcome(t, out)
	var sum Summary
	if err := stageio.ReadJSON(out, "evolve.json", &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Selected == nil || sum.SelectedValAccuracy == nil || sum.FinalValAccuracy == nil {
		t.Fatalf("summary %+v: want the selection recorded", sum)
	}
	if *sum.Selected%2 != 0 || *sum.Selected < 2 || *sum.Selected > gens || *sum.SelectedValAccuracy < *sum.FinalValAccuracy {
		t.Fatalf("selected generation %d (accuracy %v, final %v): want an even generation <= %d no worse than the final",
			*sum.Selected, *sum.SelectedValAccuracy, *sum.FinalValAccuracy, gens)
	}
	// The search itself is the same: identical generation rows.
	if !reflect.DeepEqual(plain.rows, sel.rows) {
		t.Fatal("selection changed the search's trajectory")
	}
	if *sum.Selected == gens && !reflect.DeepEqual(plain.levels, sel.levels) {
		t.Fatal("the final solution was selected, but the output differs from it")
	}
	// The recorded accuracy is the validation accuracy at that generation.
	if *sum.Selected < gens {
		v := sel.rows[*sum.Selected-1].ValidationAccuracy
		if v == nil || *v != *sum.SelectedValAccuracy {
			t.Fatalf("row of generation %d has validation accuracy %v, the summary %v", *sum.Selected, v, *sum.SelectedValAccuracy)
		}
	}

	for _, bad := range []map[string]any{{"select": "best"}, {"select": "best-validation", "validate_every": -1}} {
		p, _ := pipeline.NewParams(map[string]any{"plugin": "ccea", "bits": 2, "act_bits": 32, "seed": 1,
			"budget": map[string]any{"evaluations": 10}})
		m := p.Map()
		maps.Copy(m, bad)
		p, _ = pipeline.NewParams(m)
		var pe *pipeline.ParamError
		if err := (Kind{}).CheckParams(p); !errors.As(err, &pe) || pe.Key != "select" {
			t.Errorf("params %v: %v, want an error on select", bad, err)
		}
	}
}
