package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/ccq-project/ccq/internal/version"
	"github.com/ccq-project/ccq/pipeline/store"
)

// TaskFormat is the version of the task file layout.
const TaskFormat = 1

// Task is one stage ready to execute: everything `ccq stage exec` needs,
// resolved (keys, absolute paths), so it can run on another machine that
// sees the same store. It is written as JSON for executors that run stages
// in other processes.
type Task struct {
	Format      int    `json:"format"`
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	KindVersion string `json:"kind_version"`
	Key         string `json:"key"`
	CCQVersion  string `json:"ccq_version"`
	Params      Params `json:"params"`
	// Inputs maps input names to the entries they read.
	Inputs map[string]store.InputRef `json:"inputs,omitempty"`
	// Files are external input files (absolute paths and checked digests).
	Files map[string]store.FileRef `json:"files,omitempty"`
	Hints map[string]string        `json:"hints,omitempty"`
	// Threads is the CPU budget of the stage.
	Threads int `json:"threads"`
	// Estimate is the kind's wall time estimate (0 if unknown).
	Estimate time.Duration `json:"estimate,omitempty"`
	// After lists the names of the tasks of the same run that must succeed
	// before this one starts (the inputs that are not cached yet).
	After []string `json:"after,omitempty"`
	// Store is the store's root folder.
	Store string `json:"store"`
	// NoSync disables fsync in the store (benchmarks).
	NoSync bool `json:"no_sync,omitempty"`
	// Replace rebuilds the entry even if it exists, from scratch: the
	// stage's checkpoint is discarded first (--rerun, --force).
	Replace bool `json:"replace,omitempty"`
	// Verify checks every digest of an existing entry before reusing it
	// (ccq run --verify, or the plan found the entry damaged); a damaged
	// entry is discarded and rebuilt. Without it, only the cheap check of
	// store.Lookup applies.
	Verify bool `json:"verify,omitempty"`
	// LogPath is the stage's log file.
	LogPath  string   `json:"log"`
	Settings Settings `json:"settings"`
}

// WriteTaskFile writes t atomically as JSON to path.
func WriteTaskFile(path string, t *Task) error {
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return fmt.Errorf("task %s: %w", t.Name, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("task %s: %w", t.Name, err)
	}
	return store.WriteFileAtomic(path, append(b, '\n'), false)
}

// ReadTaskFile reads a task file written by WriteTaskFile.
func ReadTaskFile(path string) (*Task, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("task file: %w", err)
	}
	var t Task
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("task file %s: %w", path, err)
	}
	if t.Format != TaskFormat {
		return nil, fmt.Errorf("task file %s: format %d, this ccq reads %d", path, t.Format, TaskFormat)
	}
	if t.Name == "" || t.Kind == "" || t.Key == "" || t.Store == "" {
		return nil, fmt.Errorf("task file %s: name, kind, key and store are required", path)
	}
	if err := CheckName(t.Name); err != nil {
		return nil, fmt.Errorf("task file %s: %w", path, err)
	}
	return &t, nil
}

// PanicError is a stage failure caused by a panic in the stage's Run.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// ExecOptions are the optional parts of Exec.
type ExecOptions struct {
	// Registry to find the kind in; DefaultRegistry if nil.
	Registry *Registry
	// Progress receives the stage's progress reports; may be nil.
	Progress func(fraction float64, msg string)
	// Store to use; opened from Task.Store if nil.
	Store *store.Store
}

// Exec runs one task in this process: it checks the kind and inputs, runs
// the kind in a temporary folder and commits the store entry. It returns
// the entry, or an error that names the stage. If the entry already exists
// and Replace is false, Exec returns it without running (so a resubmitted
// job is harmless); with Replace, it discards the stage's checkpoint and
// runs it from scratch. Panics in Run (in its own goroutine) become *PanicError.
func Exec(ctx context.Context, t *Task, opt ExecOptions) (entry *store.Entry, err error) {
	reg := opt.Registry
	if reg == nil {
		reg = DefaultRegistry
	}
	kind, ok := reg.Lookup(t.Kind)
	if !ok {
		return nil, fmt.Errorf("stage %s: kind %q is not built into this ccq", t.Name, t.Kind)
	}
	if kind.Version() != t.KindVersion || (t.CCQVersion != "" && t.CCQVersion != version.Version) {
		return nil, fmt.Errorf("stage %s: task was planned for %s %s with ccq %s, this ccq has %s %s and ccq %s",
			t.Name, t.Kind, t.KindVersion, t.CCQVersion, t.Kind, kind.Version(), version.Version)
	}
	st := opt.Store
	if st == nil {
		st, err = store.Open(t.Store)
		if err != nil {
			return nil, err
		}
		st.NoSync = t.NoSync
	}
	if !t.Replace && !t.Verify {
		if e, err := st.Lookup(t.Kind, t.Key); err == nil {
			return e, nil
		}
	}
	inputs := make(map[string]*Input, len(t.Inputs))
	for name, ref := range t.Inputs {
		e, err := st.Lookup(ref.Kind, ref.Key)
		if err != nil {
			return nil, fmt.Errorf("stage %s: input %s (stage %s): %w", t.Name, name, ref.Stage, err)
		}
		inputs[name] = &Input{Stage: ref.Stage, Entry: e}
	}
	files := make(map[string]string, len(t.Files))
	for n, f := range t.Files {
		files[n] = f.Path
	}

	var logw io.Writer = io.Discard
	if t.LogPath != "" {
		lf := &lazyFile{path: t.LogPath}
		defer lf.Close()
		logw = lf
	}
	logger := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug})).With("stage", t.Name)

	// The entry's lock: another run sharing the store may be building the
	// same entry; wait for it, then use what it built.
	waited := false
	lock, err := st.LockStage(ctx, t.Kind, t.Key, store.LockOptions{Stage: t.Name,
		OnWait: func(h *store.LockHolder) {
			waited = true
			logger.Info("waiting for the store lock of this stage's entry", "holder", h.String())
			if opt.Progress != nil {
				opt.Progress(0, "waiting for "+h.String()+", which builds the same entry")
			}
		},
		OnTakeOver: func(h *store.LockHolder) {
			logger.Warn("took over a stale store lock: its holder ended without releasing it", "holder", h.String())
		}})
	if err != nil {
		return nil, fmt.Errorf("stage %s: %w", t.Name, err)
	}
	defer func() {
		// A lock file that cannot be removed is harmless to the entry: the
		// next taker finds its holder gone and takes it over.
		if rerr := lock.Release(); rerr != nil {
			logger.Warn("releasing the store lock failed", "err", rerr)
		}
	}()
	if !t.Replace {
		e, lerr := st.Lookup(t.Kind, t.Key)
		if lerr == nil && t.Verify {
			lerr = e.Verify()
		}
		if lerr == nil {
			if waited {
				logger.Info("another run built this entry meanwhile; using it", "entry", e.Dir)
			}
			return e, nil
		}
		if errors.Is(lerr, store.ErrCorrupt) {
			// Nobody else builds this key while we hold its lock.
			logger.Warn("discarding a damaged store entry and rebuilding it", "err", lerr)
			if derr := st.Discard(t.Kind, t.Key); derr != nil {
				return nil, fmt.Errorf("stage %s: %w", t.Name, derr)
			}
		}
	}

	pend, err := st.Begin(t.Kind, t.Key)
	if err != nil {
		return nil, fmt.Errorf("stage %s: %w", t.Name, err)
	}
	defer func() {
		if err != nil {
			_ = pend.Abort()
		}
	}()
	ckpt := st.CheckpointDir(t.Kind, t.Key)
	if t.Replace && st.HasCheckpoint(t.Kind, t.Key) {
		// A forced stage starts from scratch: its checkpoint may be the
		// very thing that is wrong (damaged, or refused by a plugin).
		if err := st.DiscardCheckpoint(t.Kind, t.Key); err != nil {
			return nil, fmt.Errorf("stage %s: %w", t.Name, err)
		}
		logger.Info("discarded the checkpoint (--rerun or --force)", "kind", t.Kind, "key", t.Key, "checkpoint", ckpt)
	}
	resumed := st.HasCheckpoint(t.Kind, t.Key)
	threads := t.Threads
	if threads < 1 {
		threads = 1
	}
	sc := &StageContext{
		Name: t.Name, Kind: t.Kind, Key: t.Key, Params: t.Params,
		Inputs: inputs, Files: files, Hints: t.Hints,
		OutDir: pend.Dir(), CheckpointDir: ckpt, Resumed: resumed,
		Log: logger, LogPath: t.LogPath, Threads: threads, Settings: t.Settings,
		progress: opt.Progress,
	}
	start := time.Now()
	if resumed {
		logger.Info("resuming from checkpoint", "kind", t.Kind, "key", t.Key)
	}
	runErr := runKind(ctx, kind, sc)
	if runErr == nil && ctx.Err() != nil {
		// The stage ignored the cancellation but finished: keep its work.
		logger.Warn("stage finished after cancellation")
	}
	if runErr != nil {
		var pe *PanicError
		if errors.As(runErr, &pe) {
			logger.Error("stage panicked", "kind", t.Kind, "key", t.Key, "panic", fmt.Sprint(pe.Value), "stack", string(pe.Stack))
		} else {
			logger.Error("stage failed", "kind", t.Kind, "key", t.Key, "params", t.Params.String(), "err", runErr, "seconds", time.Since(start).Seconds())
		}
		return nil, fmt.Errorf("stage %s: %w", t.Name, runErr)
	}
	end := time.Now()
	host, _ := os.Hostname()
	m := &store.Manifest{
		KindVersion: t.KindVersion,
		KeyRecipe:   KeyRecipeVersion,
		CCQVersion:  version.Version,
		Stage:       t.Name,
		Experiment:  t.Settings.Experiment,
		Params:      json.RawMessage(t.Params.JSON()),
		Inputs:      t.Inputs,
		Files:       t.Files,
		Meta:        sc.metaCopy(),
		Started:     start.UTC(),
		Finished:    end.UTC(),
		Seconds:     end.Sub(start).Seconds(),
		Host:        host,
		Threads:     threads,
		Resumed:     resumed,
	}
	e, err := pend.Commit(m, t.Replace)
	if err != nil {
		logger.Error("commit failed", "kind", t.Kind, "key", t.Key, "err", err)
		return nil, fmt.Errorf("stage %s: %w", t.Name, err)
	}
	return e, nil
}

// lazyFile creates and opens its file (for appending) on the first write,
// so stages that log nothing cost no file.
type lazyFile struct {
	mu   sync.Mutex
	path string
	f    *os.File
	err  error
}

func (l *lazyFile) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil && l.err == nil {
		if l.err = os.MkdirAll(filepath.Dir(l.path), 0o755); l.err == nil {
			l.f, l.err = os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		}
	}
	if l.err != nil {
		return 0, l.err
	}
	return l.f.Write(b)
}

func (l *lazyFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

func runKind(ctx context.Context, k Kind, sc *StageContext) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return k.Run(ctx, sc)
}
