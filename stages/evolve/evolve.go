// Package evolve is the "evolve" stage kind: it trains the k-bit weights of
// its start model (a baseline quantizer's output) with an optimizer plugin
// (ccea and its variants, or a user's plugin) and no full-precision
// gradient. The host loop (plugins/host) asks the plugin for candidates,
// scores them with the incremental quantized evaluator on a fresh training
// mini-batch each generation, checkpoints, and resumes exactly after a crash
// or interruption. Output: model.safetensors, model.json, generations/
// (Parquet parts, one row per generation) and evolve.json (the run's
// summary).
//
// Everything a checkpoint covers survives a kill: the open part of the
// generation rows is closed, synced and renamed before each checkpoint, a
// resumed run drops the rows written after its checkpoint and appends the
// same rows again, and the first and last batch losses travel in the
// checkpoint. An interrupted and resumed run therefore leaves the same
// model, generation rows and evolve.json as an uninterrupted one (timings
// and the resume count aside). A checkpoint that cannot be resumed from
// (damaged, or refused by the optimizer's Restore) is moved aside with a
// warning and the run starts over.
package evolve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/plugins/builtin"
	"github.com/ccq-project/ccq/plugins/catalog"
	"github.com/ccq-project/ccq/plugins/host"
	"github.com/ccq-project/ccq/plugins/optimizer"
	"github.com/ccq-project/ccq/plugins/rpc"
	"github.com/ccq-project/ccq/quant"
	"github.com/ccq-project/ccq/quant/engine"
	"github.com/ccq-project/ccq/quant/hosteval"
	"github.com/ccq-project/ccq/results"
	"github.com/ccq-project/ccq/stages/stagecost"
	"github.com/ccq-project/ccq/stages/stageio"
	"github.com/ccq-project/ccq/stages/stageparams"
)

func init() { pipeline.Register(Kind{}) }

// resolver finds optimizer plugins; tests substitute one that serves the
// built-ins from the test binary.
var resolver = catalog.DefaultResolver

// Params are the evolve stage's parameters (see stageparams.Evolve).
type Params = stageparams.Evolve

// Validate checks p: the bit widths against package quant, the budget and
// host options (Params.Validate), and that racing a plugin that is not a
// built-in says how many candidates to keep.
func Validate(p *Params) error {
	switch {
	case quant.CheckBits(p.Bits) != nil:
		return &pipeline.ParamError{Key: "bits", Msg: quant.CheckBits(p.Bits).Error()}
	case quant.CheckActBits(p.ActBits) != nil:
		return &pipeline.ParamError{Key: "act_bits", Msg: quant.CheckActBits(p.ActBits).Error()}
	}
	if err := p.Validate(); err != nil {
		return err
	}
	if p.Race == stageparams.RaceZ && p.RaceKeep == 0 && !builtin.IsBuiltin(p.Plugin) {
		return &pipeline.ParamError{Key: "race_keep", Msg: fmt.Sprintf("needed with race = %q for plugin %s (not a built-in): the number of best candidates whose fitnesses it reads", stageparams.RaceZ, p.Plugin)}
	}
	return nil
}

// decode reads and checks the parameters.
func decode(pp pipeline.Params) (Params, error) {
	var p Params
	if err := pp.Decode(&p); err != nil {
		return p, err
	}
	return p, Validate(&p)
}

// hostRace returns the host's racing options (nil when off), the keep
// count of a built-in read from its parameters.
func hostRace(p *Params) (*host.Race, error) {
	if p.Race != stageparams.RaceZ {
		return nil, nil
	}
	r := &host.Race{Keep: p.RaceKeep}
	r.Fraction, r.Z = p.RaceDefaults()
	if r.Keep == 0 {
		raw, err := json.Marshal(p.PluginParams)
		if err != nil {
			return nil, &pipeline.ParamError{Key: "plugin_params", Msg: err.Error()}
		}
		if p.PluginParams == nil {
			raw = nil
		}
		if r.Keep, err = builtin.RaceKeep(p.Plugin, raw); err != nil {
			return nil, &pipeline.ParamError{Key: "race_keep", Msg: fmt.Sprintf("from %s's parameters: %v", p.Plugin, err)}
		}
	}
	return r, nil
}

// Kind is the evolve stage kind.
type Kind struct{}

// Name is "evolve".
func (Kind) Name() string { return "evolve" }

// Version changes when the stage computes something different.
func (Kind) Version() string { return "3" }

// Threads: the evaluator scores candidates on two threads.
func (Kind) Threads(pipeline.Params) int { return 2 }

// EstimateAt implements pipeline.ThreadEstimator with the cost model:
// evaluations times the batch times this machine's seconds per scored image
// for the start model's architecture and bits on these threads, plus the
// host's overhead (validation, rechecks, checkpoints: evolveOverhead),
// capped by a wall-time budget, which is the same on any thread count.
func (Kind) EstimateAt(pp pipeline.Params, up pipeline.Upstream, threads int) time.Duration {
	p, err := decode(pp)
	if err != nil {
		return 0
	}
	plain := func() time.Duration {
		if p.Budget.WallTime > 0 {
			return time.Duration(p.Budget.WallTime)
		}
		return pipeline.ScaleEstimate(Kind{}.Estimate(pp), Kind{}.Threads(pp), threads)
	}
	s := stagecost.SettingOf(up)
	if s.Arch == "" {
		return plain()
	}
	batch := p.WithDefaults().BatchSize
	evals := float64(p.Budget.Evaluations)
	if evals == 0 && p.Budget.Generations > 0 {
		lambda := 32
		if l, ok := p.PluginParams["lambda"].(float64); ok && l >= 1 {
			lambda = int(l)
		}
		evals = float64(p.Budget.Generations) * float64(lambda+1)
	}
	w := stagecost.Work{Op: stagecost.OpScore, Arch: s.Arch, Bits: p.Bits, ActBits: p.ActBits, Batch: batch, Threads: max(1, threads)}
	d, ok := stagecost.Default().Duration(w, evals*float64(batch)*evolveOverhead, evolveFixed)
	if !ok || evals == 0 {
		return plain()
	}
	if p.Budget.WallTime > 0 {
		d = min(d, time.Duration(p.Budget.WallTime))
	}
	return d
}

// evolveOverhead and evolveFixed turn scored images into an evolve stage's
// wall time: the host also validates the base every validate_every
// generations, rechecks accepted candidates, talks to the plugin and
// checkpoints. Fitted on the quickstart's and fashion.toml's evolve stages.
const (
	evolveOverhead = 1.15
	evolveFixed    = time.Second
)

// Estimate is the estimate without the cost model: about 1,000 candidate
// evaluations per second on 1,024-image batches (LeNet-5), proportionally
// fewer on larger batches.
func (Kind) Estimate(pp pipeline.Params) time.Duration {
	p, err := decode(pp)
	if err != nil {
		return 0
	}
	if p.Budget.WallTime > 0 {
		return time.Duration(p.Budget.WallTime)
	}
	batch := p.WithDefaults().BatchSize
	return time.Duration(float64(p.Budget.Evaluations) * float64(batch) / 1024 * float64(time.Millisecond))
}

// CheckParams validates parameters without running, a built-in
// optimizer's plugin_params included (unknown names, types, ranges).
func (Kind) CheckParams(pp pipeline.Params) error {
	p, err := decode(pp)
	if err != nil {
		return err
	}
	if !builtin.IsBuiltin(p.Plugin) {
		return nil // an external plugin: Probe asks it for its parameters
	}
	var raw []byte
	if p.PluginParams != nil {
		var err error
		if raw, err = json.Marshal(p.PluginParams); err != nil {
			return &pipeline.ParamError{Key: "plugin_params", Msg: err.Error()}
		}
	}
	if err := builtin.CheckParams(p.Plugin, raw); err != nil {
		var pe *optimizer.ParamError
		if errors.As(err, &pe) {
			return &pipeline.ParamError{Key: "plugin_params." + pe.Name, Msg: fmt.Sprintf("%s: %s", p.Plugin, pe.Msg)}
		}
		return &pipeline.ParamError{Key: "plugin_params", Msg: fmt.Sprintf("%s: %s", p.Plugin, err)}
	}
	return nil
}

// Summary is evolve.json: how the run went.
type Summary struct {
	Plugin      string  `json:"plugin"`
	Generations int64   `json:"generations"`
	Evaluations int64   `json:"evaluations"`
	WallTime    float64 `json:"wall_time_s"`
	Stop        string  `json:"stop"`
	ResumedFrom int64   `json:"resumed_from,omitempty"`
	StartLoss   float64 `json:"start_batch_loss"`
	FinalLoss   float64 `json:"final_batch_loss"`
	Changed     int     `json:"weights_changed"`
	// With select = "best-validation": the generation after which the
	// output was validated, its validation accuracy and the final
	// solution's.
	Selected            *int64   `json:"selected_generation,omitempty"`
	SelectedValAccuracy *float64 `json:"selected_validation_accuracy,omitempty"`
	FinalValAccuracy    *float64 `json:"final_validation_accuracy,omitempty"`
}

// Run trains the start model's levels with the optimizer.
func (Kind) Run(ctx context.Context, sc *pipeline.StageContext) error {
	p, err := decode(sc.Params)
	if err != nil {
		return err
	}
	p = p.WithDefaults()
	label := p.Method()
	startRec, startPath, err := stageio.ReadModelRecord(sc, "start")
	if err != nil {
		return err
	}
	start, err := quant.Load(startPath)
	if err != nil {
		return fmt.Errorf("loading the start model: %w", err)
	}
	if start.Bits != p.Bits || start.ActBits != p.ActBits {
		return fmt.Errorf("start model %s has %d-bit weights and %d-bit activations; the stage asks for %d and %d",
			startRec.RunID, start.Bits, start.ActBits, p.Bits, p.ActBits)
	}
	d, err := stageio.LoadDataset(ctx, sc)
	if err != nil {
		return err
	}
	ev, err := engine.NewEvaluator(start, engine.EvalOptions{Workers: sc.Threads})
	if err != nil {
		return err
	}
	problem, err := newProblem(start, p)
	if err != nil {
		return err
	}

	ref := catalog.Ref{Plugin: p.Plugin}
	if path, ok := sc.Files["plugin"]; ok {
		ref.Plugin = path
	}
	startOptimizer := func() (*rpc.Plugin, error) {
		opt, err := resolver().Open(ctx, ref, rpc.Options{Logger: sc.Log})
		if err != nil {
			return nil, fmt.Errorf("starting optimizer %s: %w", p.Plugin, err)
		}
		return opt, nil
	}
	opt, err := startOptimizer()
	if err != nil {
		return err
	}
	defer func() {
		if opt != nil {
			opt.Close()
		}
	}()

	genDir := filepath.Join(sc.CheckpointDir, results.GenerationsDir)
	var gw *results.GenerationWriter
	defer func() {
		if gw != nil {
			gw.Close()
		}
	}()
	runID := stageio.RunID(sc.Name)
	row := results.GenerationRow{
		RunID: runID, Experiment: sc.Settings.Experiment, Variant: label, Dataset: d.Name,
		Model: start.Graph.Arch, Bits: int32(p.Bits), ActBits: int32(p.ActBits), Seed: p.Seed,
	}
	race, err := hostRace(&p)
	if err != nil {
		return err
	}
	validate, err := validator(start, d, p.ValidationSize, sc.Threads)
	if err != nil {
		return err
	}
	hev, err := hosteval.New(ev, &hosteval.SplitSampler{D: d, S: &d.Train}, p.BatchSize)
	if err != nil {
		return err
	}
	cfg := host.Config{
		Name: p.Plugin, Problem: problem, Evaluator: hev, Budget: p.Budget, Race: race,
		Validate: validate, ValidateEvery: p.ValidateEvery, SelectBestValidation: p.Select == stageparams.SelectBestValidation,
		CheckpointPath: filepath.Join(sc.CheckpointDir, "host.ckpt"), CheckpointEvery: p.CheckpointEvery,
		Resume: sc.Resumed, Logger: sc.Log,
		OnGeneration: func(ctx context.Context, r *host.Row) error {
			if gw == nil {
				// The first row of a session: drop rows a crashed session
				// wrote past the checkpoint it resumes from.
				if err := results.TrimGenerations(genDir, r.Generation); err != nil {
					return err
				}
				if gw, err = results.NewGenerationWriter(genDir, results.GenerationWriterOptions{}); err != nil {
					return err
				}
			}
			row.Generation, row.Evaluations, row.WallTime = r.Generation, r.Evaluations, r.Wall.Seconds()
			row.BestFitness, row.MeanFitness, row.BaseFitness = r.BestFitness, r.MeanFitness, r.BaseFitness
			row.BaseBatchAccuracy, row.ValidationAccuracy, row.PluginStats = r.BaseAccuracy, r.ValAccuracy, r.Stats
			if race != nil {
				row.PluginStats = raceStats(r)
			}
			row.Timestamp = time.Time{}
			if err := gw.Write(row); err != nil {
				return err
			}
			sc.Progress(progress(p.Budget, r), fmt.Sprintf("gen %d evals %d loss %.4f", r.Generation, r.Evaluations, r.BaseFitness))
			return nil
		},
		// The rows a checkpoint covers are on disk before it is written.
		OnCheckpoint: func(context.Context, int64) error {
			if gw == nil {
				return nil
			}
			return gw.Roll()
		},
	}
	res, err := host.Run(ctx, opt, cfg)
	if errors.Is(err, host.ErrUnusableCheckpoint) && ctx.Err() == nil {
		// Nothing was computed yet (a checkpoint is loaded before the first
		// generation): move the file aside and start over with a fresh
		// optimizer process, which has seen no Init or Restore.
		aside, aerr := host.MoveCheckpointAside(cfg.CheckpointPath)
		if aerr != nil {
			return fmt.Errorf("optimizer %s: %w (and it could not be moved aside: %v)", p.Plugin, err, aerr)
		}
		sc.Log.Warn("the checkpoint cannot be resumed from: moved aside, starting over", "moved_to", aside, "err", err)
		opt.Close()
		if opt, err = startOptimizer(); err != nil {
			return err
		}
		cfg.Resume = false
		res, err = host.Run(ctx, opt, cfg)
	}
	if gw != nil {
		if cerr := gw.Close(); cerr != nil && err == nil {
			err = cerr
		}
		gw = nil
	} else if err == nil {
		// No generation ran in this session (the checkpoint was taken when
		// the budget was spent): drop rows a crashed session wrote past it.
		err = results.TrimGenerations(genDir, res.Generations)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return fmt.Errorf("optimizer %s: %w", p.Plugin, err)
	}

	final := start.Clone()
	if err := final.SetFlat(res.Levels); err != nil {
		return fmt.Errorf("optimizer %s returned an invalid solution: %w", p.Plugin, err)
	}
	final.Method = label
	if err := final.Save(filepath.Join(sc.OutDir, stageio.ModelFile)); err != nil {
		return err
	}
	// The parts were closed at every checkpoint; the entry gets them in
	// full-size parts, the same whether or not the run was interrupted.
	if err := results.CompactGenerations(genDir, filepath.Join(sc.OutDir, results.GenerationsDir), 0); err != nil {
		return fmt.Errorf("copying the generation rows into the entry: %w", err)
	}
	changed := 0
	for i, l := range res.Levels {
		if l != problem.Start[i] {
			changed++
		}
	}
	sum := Summary{Plugin: p.Plugin, Generations: res.Generations, Evaluations: res.Evaluations, WallTime: res.Wall.Seconds(),
		Stop: string(res.Stop), ResumedFrom: res.ResumedFrom, StartLoss: res.FirstBaseFitness, FinalLoss: res.LastBaseFitness, Changed: changed}
	if res.Selected >= 0 {
		sel, sv, fv := res.Selected, res.SelectedValAccuracy, res.FinalValAccuracy
		sum.Selected, sum.SelectedValAccuracy, sum.FinalValAccuracy = &sel, &sv, &fv
		sc.Log.Info("selected by validation accuracy", "generation", sel, "validation_accuracy", sv,
			"final_generation", res.Generations, "final_validation_accuracy", fv)
	}
	sc.Log.Info("evolved", "plugin", p.Plugin, "generations", sum.Generations, "evaluations", sum.Evaluations,
		"stop", sum.Stop, "changed", changed, "start_loss", sum.StartLoss, "final_loss", sum.FinalLoss)
	if err := stageio.WriteJSON(sc.OutDir, "evolve.json", sum); err != nil {
		return err
	}
	rec := stageio.ModelRecord{
		RunID: runID, Kind: results.KindOptimizer, Method: label, Parameters: runParameters(p), Dataset: d.Name,
		Model: start.Graph.Arch, Bits: p.Bits, ActBits: p.ActBits, Granularity: string(start.Granularity), Seed: p.Seed,
		StartMethod: startRec.RunID, Evaluations: res.Evaluations, WallTime: res.Wall.Seconds(),
	}
	return stageio.WriteJSON(sc.OutDir, stageio.ModelRecordFile, rec)
}

// newProblem describes the start model's levels to the optimizer.
func newProblem(m *quant.Model, p Params) (*optimizer.Problem, error) {
	params, err := json.Marshal(p.PluginParams)
	if err != nil {
		return nil, fmt.Errorf("plugin_params: %w", err)
	}
	if p.PluginParams == nil {
		params = nil
	}
	start := m.Flat()
	lo, hi := quant.LevelRange(p.Bits)
	pr := &optimizer.Problem{Start: start, Lo: make([]int8, len(start)), Hi: make([]int8, len(start)),
		Seed: uint64(p.Seed), Params: params} // the host tells the optimizer the budget
	for i := range start {
		pr.Lo[i], pr.Hi[i] = int8(lo), int8(hi)
	}
	if p.Bits == 1 {
		pr.Alphabet = []int8{-1, 1}
	}
	for _, v := range m.Layout() {
		pr.Layers = append(pr.Layers, optimizer.Layer{Name: v.Name, Offset: v.Offset, Count: v.Count, Shape: v.Shape})
	}
	return pr, nil
}

// validator measures a base's accuracy on the validation split (or its
// first size images), or returns nil when there is no validation split.
func validator(start *quant.Model, d *datasets.Dataset, size, workers int) (host.ValidateFunc, error) {
	n := d.Val.N
	if size > 0 && size < n {
		n = size
	}
	if n == 0 {
		return nil, nil
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	b := stageio.SplitBatch(d, &d.Val, idx)
	return hosteval.Validator(start, b.X, b.Labels, workers)
}

// raceStats returns the row's plugin stats with the race's figures added:
// race_dropped (candidates not scored on the whole batch) and
// race_skipped_images (candidate-images not evaluated).
func raceStats(r *host.Row) map[string]float64 {
	st := make(map[string]float64, len(r.Stats)+2)
	for k, v := range r.Stats {
		st[k] = v
	}
	st["race_dropped"] = float64(r.RaceDropped)
	st["race_skipped_images"] = float64(r.RaceSkippedImages)
	return st
}

// progress is the fraction of the budget spent after row r.
func progress(b host.Budget, r *host.Row) float64 {
	f := 0.0
	if b.Evaluations > 0 {
		f = max(f, float64(r.Evaluations)/float64(b.Evaluations))
	}
	if b.Generations > 0 {
		f = max(f, float64(r.Generation+1)/float64(b.Generations))
	}
	if b.WallTime > 0 {
		f = max(f, r.Wall.Seconds()/time.Duration(b.WallTime).Seconds())
	}
	return min(f, 1)
}

// runParameters are the parameters that distinguish runs of one optimizer
// in tables: its plugin parameters, the evaluation budget and a non-default
// fitness batch size (bits and seed are columns of their own).
func runParameters(p Params) map[string]any {
	m := map[string]any{}
	for k, v := range p.PluginParams {
		m[k] = v
	}
	if p.Budget.Evaluations > 0 {
		m["budget"] = p.Budget.Evaluations
	}
	if p.BatchSize != stageparams.DefaultBatchSize {
		m["batch_size"] = p.BatchSize
	}
	if p.Race == stageparams.RaceZ {
		m["race"] = p.Race
		for k, v := range map[string]float64{"race_fraction": p.RaceFraction, "race_z": p.RaceZ, "race_keep": float64(p.RaceKeep)} {
			if v != 0 {
				m[k] = v
			}
		}
	}
	return m
}
