package results

import (
	"fmt"
	"time"
)

// Kinds of evaluated models (RunRow.Kind).
const (
	KindFloat     = "float"     // the full-precision model
	KindBaseline  = "baseline"  // a baseline quantizer's output (rtn, mse, ...)
	KindOptimizer = "optimizer" // an evolved model (ccea, eda, ...)
)

// Status values of runs and stages.
const (
	StatusOK      = "ok"      // finished successfully
	StatusDone    = "done"    // a stage this run ran to the end (stages.parquet)
	StatusFailed  = "failed"  // finished with an error
	StatusRunning = "running" // started, not finished (partial experiments)
	StatusPending = "pending" // not started yet
	StatusSkipped = "skipped" // not run because an input failed
	// StatusUnselected is a stage that `ccq run --only` left out and that
	// is not in the store: not run, not a failure, but missing results.
	StatusUnselected = "unselected"
)

// GenerationRow is one generation of one evolve run (generations/ part files).
// The evolve stage writes one per generation through a GenerationWriter.
type GenerationRow struct {
	RunID      string `parquet:"run_id,dict"`
	Experiment string `parquet:"experiment,dict"`
	Variant    string `parquet:"variant,dict"`
	Dataset    string `parquet:"dataset,dict"`
	Model      string `parquet:"model,dict"`
	Bits       int32  `parquet:"bits"`
	ActBits    int32  `parquet:"act_bits"`
	Seed       int64  `parquet:"seed"`
	Generation int64  `parquet:"generation,delta"`
	// Evaluations is the number of fitness evaluations so far, this generation included.
	Evaluations int64   `parquet:"evaluations,delta"`
	WallTime    float64 `parquet:"wall_time_s"`
	BestFitness float64 `parquet:"best_fitness"`
	MeanFitness float64 `parquet:"mean_fitness"`
	BaseFitness float64 `parquet:"base_fitness"`
	// BaseBatchAccuracy is the base solution's accuracy on this generation's fitness batch.
	BaseBatchAccuracy float64 `parquet:"base_batch_accuracy"`
	// ValidationAccuracy is set every N generations, nil (null) otherwise.
	ValidationAccuracy *float64           `parquet:"validation_accuracy,optional"`
	PluginStats        map[string]float64 `parquet:"plugin_stats"`
	Timestamp          time.Time          `parquet:"timestamp,timestamp(millisecond)"`
}

// RunRow is one evaluated model (runs.parquet): the float model, each
// baseline quantizer's output and each evolved model.
type RunRow struct {
	RunID      string `parquet:"run_id,dict"`
	Experiment string `parquet:"experiment,dict"`
	Method     string `parquet:"method,dict"`
	Kind       string `parquet:"kind,dict"`
	// Parameters is the method's parameters as a JSON object ("{}" if none).
	Parameters  string  `parquet:"parameters"`
	Dataset     string  `parquet:"dataset,dict"`
	Model       string  `parquet:"model,dict"`
	Bits        int32   `parquet:"bits"`
	ActBits     int32   `parquet:"act_bits"`
	Granularity string  `parquet:"granularity,dict"`
	Seed        int64   `parquet:"seed"`
	TestAcc     float64 `parquet:"test_accuracy"`
	TestLoss    float64 `parquet:"test_loss"`
	// ValAcc is the validation accuracy, nil when not measured.
	ValAcc          *float64 `parquet:"validation_accuracy,optional"`
	Evaluations     int64    `parquet:"evaluations"`
	WallTime        float64  `parquet:"wall_time_s"`
	UsedFPGradients bool     `parquet:"used_fp_gradients"`
	Status          string   `parquet:"status,dict"`
	// StartMethod is the method whose output an optimizer started from; nil for others.
	StartMethod *string `parquet:"start_method,optional"`
	// IntegerTestAcc and IntegerTestLoss are integer-only inference's test
	// accuracy and loss, IntegerAgree the number of test images where its
	// prediction equals the fake-quantized one; nil when not run (float
	// activations, turned off, not representable).
	IntegerTestAcc  *float64 `parquet:"integer_test_accuracy,optional"`
	IntegerTestLoss *float64 `parquet:"integer_test_loss,optional"`
	IntegerAgree    *int64   `parquet:"integer_agree,optional"`
	// IntegerNote says why integer-only inference did not run on a model
	// with quantized activations ("not representable: ..."); nil otherwise.
	IntegerNote *string `parquet:"integer_note,optional"`
}

// StageRow is one pipeline stage instance (stages.parquet).
type StageRow struct {
	Name     string    `parquet:"name"`
	Kind     string    `parquet:"kind,dict"`
	Key      string    `parquet:"key"`
	Status   string    `parquet:"status,dict"`
	Cached   bool      `parquet:"cached"`
	WallTime float64   `parquet:"wall_time_s"`
	Started  time.Time `parquet:"started,timestamp(millisecond)"`
	// Ended is nil while the stage runs.
	Ended   *time.Time `parquet:"ended,optional,timestamp(millisecond)"`
	Threads int32      `parquet:"threads"`
	// BuildWallTime is the wall time it took to build the stage's result,
	// in seconds, as its store entry records it (the last session's when
	// the stage resumed from a checkpoint), for done and cached stages;
	// nil for other stages and in files of older ccq versions.
	BuildWallTime *float64 `parquet:"build_wall_time_s,optional"`
	// Error is the failure message, nil when the stage did not fail.
	Error *string `parquet:"error,optional"`
}

// Validate checks the fields a reader relies on and names the first bad one.
func (r *RunRow) Validate() error {
	switch {
	case r.RunID == "":
		return fmt.Errorf("run_id: empty")
	case r.Method == "":
		return fmt.Errorf("run %s: method: empty", r.RunID)
	case r.Kind != KindFloat && r.Kind != KindBaseline && r.Kind != KindOptimizer:
		return fmt.Errorf("run %s: kind %q: expected %q, %q or %q", r.RunID, r.Kind, KindFloat, KindBaseline, KindOptimizer)
	case r.Bits <= 0 || r.Bits > 32:
		return fmt.Errorf("run %s: bits %d: expected 1..32", r.RunID, r.Bits)
	case r.ActBits <= 0 || r.ActBits > 32:
		return fmt.Errorf("run %s: act_bits %d: expected 1..32", r.RunID, r.ActBits)
	case r.Status == "":
		return fmt.Errorf("run %s: status: empty", r.RunID)
	}
	if _, err := ParseParameters(r.Parameters); err != nil {
		return fmt.Errorf("run %s: parameters: %w", r.RunID, err)
	}
	return nil
}

// Validate checks the fields a reader relies on and names the first bad one.
func (g *GenerationRow) Validate() error {
	switch {
	case g.RunID == "":
		return fmt.Errorf("run_id: empty")
	case g.Variant == "":
		return fmt.Errorf("run %s: variant: empty", g.RunID)
	case g.Generation < 0:
		return fmt.Errorf("run %s: generation %d: expected >= 0", g.RunID, g.Generation)
	case g.Evaluations < 0:
		return fmt.Errorf("run %s generation %d: evaluations %d: expected >= 0", g.RunID, g.Generation, g.Evaluations)
	}
	return nil
}

// Validate checks the fields a reader relies on and names the first bad one.
func (s *StageRow) Validate() error {
	switch {
	case s.Name == "":
		return fmt.Errorf("name: empty")
	case s.Kind == "":
		return fmt.Errorf("stage %s: kind: empty", s.Name)
	case s.Status == "":
		return fmt.Errorf("stage %s: status: empty", s.Name)
	}
	return nil
}

// Float64 returns a pointer to v, for the optional columns.
func Float64(v float64) *float64 { return &v }

// Int64 returns a pointer to v, for the optional columns.
func Int64(v int64) *int64 { return &v }

// String returns a pointer to s, for the optional columns.
func String(s string) *string { return &s }
