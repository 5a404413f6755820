// Package testkinds holds small synthetic stage kinds for testing and
// benchmarking the pipeline: trivial file writers, failures, panics, a
// checkpointing counter and a stage that blocks until released.
package testkinds

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/store"
)

// Recorder counts stage runs by stage name; safe for concurrent use.
type Recorder struct {
	mu   sync.Mutex
	runs map[string]int
}

// Add records one run of a stage.
func (r *Recorder) Add(name string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.runs == nil {
		r.runs = map[string]int{}
	}
	r.runs[name]++
}

// Count returns how many times a stage ran.
func (r *Recorder) Count(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs[name]
}

// Names lists the stages that ran, sorted.
func (r *Recorder) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.runs))
	for n := range r.runs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Reset forgets every run.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs = nil
}

// Touch writes out.txt holding its params and its inputs' out.txt digests,
// so outputs change with anything upstream. Any params are accepted.
type Touch struct {
	// KindName is the kind's name ("touch" if empty).
	KindName string
	// Ver is the kind version ("1" if empty).
	Ver string
	// Runs, if set, records each run.
	Runs *Recorder
	// NThreads is the thread count declared (1 if 0); a "threads" param overrides it.
	NThreads int
}

// Name implements pipeline.Kind.
func (k Touch) Name() string { return or(k.KindName, "touch") }

// Version implements pipeline.Kind.
func (k Touch) Version() string { return or(k.Ver, "1") }

// Threads implements pipeline.Kind.
func (k Touch) Threads(p pipeline.Params) int {
	if v, ok := p.Get("threads"); ok {
		if n, err := strconv.Atoi(fmt.Sprint(v)); err == nil {
			return n
		}
	}
	return max(1, k.NThreads)
}

// Estimate implements pipeline.Kind.
func (k Touch) Estimate(pipeline.Params) time.Duration { return time.Millisecond }

// Run implements pipeline.Kind.
func (k Touch) Run(ctx context.Context, sc *pipeline.StageContext) error {
	k.Runs.Add(sc.Name)
	content := "params " + sc.Params.String() + "\n"
	names := make([]string, 0, len(sc.Inputs))
	for n := range sc.Inputs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		in := sc.Inputs[n]
		d, _, err := store.HashFile(in.Path("out.txt"))
		if err != nil {
			return fmt.Errorf("input %s: %w", n, err)
		}
		content += "input " + n + " " + d + "\n"
	}
	return os.WriteFile(filepath.Join(sc.OutDir, "out.txt"), []byte(content), 0o644)
}

// Fail always fails with the "msg" param (or "synthetic failure").
type Fail struct {
	KindName string
	Runs     *Recorder
}

// Name implements pipeline.Kind.
func (k Fail) Name() string { return or(k.KindName, "fail") }

// Version implements pipeline.Kind.
func (k Fail) Version() string { return "1" }

// Threads implements pipeline.Kind.
func (k Fail) Threads(pipeline.Params) int { return 1 }

// Estimate implements pipeline.Kind.
func (k Fail) Estimate(pipeline.Params) time.Duration { return 0 }

// Run implements pipeline.Kind.
func (k Fail) Run(ctx context.Context, sc *pipeline.StageContext) error {
	k.Runs.Add(sc.Name)
	msg := "synthetic failure"
	if v, ok := sc.Params.Get("msg"); ok {
		msg = fmt.Sprint(v)
	}
	_ = os.WriteFile(filepath.Join(sc.OutDir, "partial.txt"), []byte("half"), 0o644)
	sc.Log.Error(msg)
	return errors.New(msg)
}

// Panic panics in Run.
type Panic struct{ KindName string }

// Name implements pipeline.Kind.
func (k Panic) Name() string { return or(k.KindName, "panic") }

// Version implements pipeline.Kind.
func (k Panic) Version() string { return "1" }

// Threads implements pipeline.Kind.
func (k Panic) Threads(pipeline.Params) int { return 1 }

// Estimate implements pipeline.Kind.
func (k Panic) Estimate(pipeline.Params) time.Duration { return 0 }

// Run implements pipeline.Kind.
func (k Panic) Run(ctx context.Context, sc *pipeline.StageContext) error {
	var m map[string]int
	m["boom"]++ // nil map write: a real runtime panic
	return nil
}

// StepsParams are the parameters of Steps.
type StepsParams struct {
	Steps int   `json:"steps"`
	Seed  int64 `json:"seed"`
}

// Validate implements the check Params.Decode calls.
func (p *StepsParams) Validate() error {
	if p.Steps < 1 {
		return &pipeline.ParamError{Key: "steps", Msg: "must be at least 1"}
	}
	return nil
}

// Steps iterates a hash chain for "steps" steps from "seed", saving a
// checkpoint after every step and resuming from it, and writes the final
// value to result.txt. An interrupted-and-resumed run writes the same
// result as an uninterrupted one. It implements pipeline.Checker.
type Steps struct {
	KindName string
	Runs     *Recorder
	// OnStep, if set, is called after step i (1-based) is checkpointed.
	OnStep func(sc *pipeline.StageContext, i int)
	// Executed, if set, records every step actually computed (name -> count).
	Executed *Recorder
}

// Name implements pipeline.Kind.
func (k Steps) Name() string { return or(k.KindName, "steps") }

// Version implements pipeline.Kind.
func (k Steps) Version() string { return "1" }

// Threads implements pipeline.Kind.
func (k Steps) Threads(pipeline.Params) int { return 1 }

// Estimate implements pipeline.Kind.
func (k Steps) Estimate(p pipeline.Params) time.Duration {
	var sp StepsParams
	_ = p.Decode(&sp)
	return time.Duration(sp.Steps) * time.Millisecond
}

// CheckParams implements pipeline.Checker.
func (k Steps) CheckParams(p pipeline.Params) error {
	var sp StepsParams
	return p.Decode(&sp)
}

// Run implements pipeline.Kind.
func (k Steps) Run(ctx context.Context, sc *pipeline.StageContext) error {
	k.Runs.Add(sc.Name)
	var p StepsParams
	if err := sc.Decode(&p); err != nil {
		return err
	}
	if err := os.MkdirAll(sc.CheckpointDir, 0o755); err != nil {
		return err
	}
	ckpt := filepath.Join(sc.CheckpointDir, "state")
	step, state := 0, sha256.Sum256(binary.LittleEndian.AppendUint64(nil, uint64(p.Seed)))
	if b, err := os.ReadFile(ckpt); err == nil && len(b) == 40 {
		step = int(binary.LittleEndian.Uint64(b[:8]))
		copy(state[:], b[8:])
		sc.Log.Info("resuming", "step", step)
	}
	for step < p.Steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		state = sha256.Sum256(append(state[:], byte(step)))
		step++
		k.Executed.Add(sc.Name)
		b := binary.LittleEndian.AppendUint64(nil, uint64(step))
		if err := store.WriteFileAtomic(ckpt, append(b, state[:]...), false); err != nil {
			return err
		}
		sc.Progress(float64(step)/float64(p.Steps), fmt.Sprintf("step %d/%d", step, p.Steps))
		if k.OnStep != nil {
			k.OnStep(sc, step)
		}
	}
	return os.WriteFile(filepath.Join(sc.OutDir, "result.txt"), []byte(hex.EncodeToString(state[:])+"\n"), 0o644)
}

// Block waits until its Release channel is closed or the context ends; on
// release it writes out.txt. Started, if set, receives the stage name when
// Run begins.
type Block struct {
	KindName string
	Release  <-chan struct{}
	Started  chan<- string
}

// Name implements pipeline.Kind.
func (k Block) Name() string { return or(k.KindName, "block") }

// Version implements pipeline.Kind.
func (k Block) Version() string { return "1" }

// Threads implements pipeline.Kind.
func (k Block) Threads(pipeline.Params) int { return 1 }

// Estimate implements pipeline.Kind.
func (k Block) Estimate(pipeline.Params) time.Duration { return 0 }

// Run implements pipeline.Kind.
func (k Block) Run(ctx context.Context, sc *pipeline.StageContext) error {
	if k.Started != nil {
		k.Started <- sc.Name
	}
	select {
	case <-ctx.Done():
		return fmt.Errorf("stopped: %w", ctx.Err())
	case <-k.Release:
		return os.WriteFile(filepath.Join(sc.OutDir, "out.txt"), []byte("released\n"), 0o644)
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
