package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/ccq-project/ccq/pipeline/store"
)

// Results is an experiment's results folder, runs/<experiment>/:
//
//	experiment.toml   frozen copy of the experiment file of the last run
//	state.json        live state of the current or last run (ccq status)
//	keys.json         each stage's key ingredients at the last run (ccq plan explains changes with it)
//	lock              held while a run is going on
//	logs/<stage>.log  one log per stage (stage names contain '/': logs/quantize/rtn-w4-tensor-a32.log)
//	stages/<stage>    symbolic links to the store entries of the final stages (those no stage
//	                  reads from, such as the report); state.json names every stage's entry
//	tasks/<stage>.json task files, for executors that run stages in other processes
type Results struct {
	// Dir is the absolute folder.
	Dir string
}

// OpenResults returns the results folder dir, creating it.
func OpenResults(dir string) (*Results, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("results folder %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("results folder: %w", err)
	}
	return &Results{Dir: abs}, nil
}

// LogPath is the log file of a stage.
func (r *Results) LogPath(stage string) string {
	return filepath.Join(r.Dir, "logs", filepath.FromSlash(stage)+".log")
}

// TaskPath is the task file of a stage.
func (r *Results) TaskPath(stage string) string {
	return filepath.Join(r.Dir, "tasks", filepath.FromSlash(stage)+".json")
}

// LinkPath is the link to a stage's store entry.
func (r *Results) LinkPath(stage string) string {
	return filepath.Join(r.Dir, "stages", filepath.FromSlash(stage))
}

// StatePath is the run state file.
func (r *Results) StatePath() string { return filepath.Join(r.Dir, "state.json") }

// LockPath is the lock file.
func (r *Results) LockPath() string { return filepath.Join(r.Dir, "lock") }

// Lock takes the folder's lock (see AcquireLock).
func (r *Results) Lock(command string) (*Lock, error) { return AcquireLock(r.LockPath(), command) }

// Freeze writes a copy of the experiment file's content.
func (r *Results) Freeze(name string, content []byte) error {
	return store.WriteFileAtomic(filepath.Join(r.Dir, name), content, false)
}

// Link points stages/<stage> at the entry folder, replacing an older link.
func (r *Results) Link(stage, entryDir string) error {
	p := r.LinkPath(stage)
	if cur, err := os.Readlink(p); err == nil && cur == entryDir {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("link %s: %w", stage, err)
	}
	tmp := p + ".tmp-link"
	_ = os.Remove(tmp)
	if err := os.Symlink(entryDir, tmp); err != nil {
		return fmt.Errorf("link %s: %w", stage, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("link %s: %w", stage, err)
	}
	return nil
}

// HistoryFormat is the version of keys.json.
const HistoryFormat = 1

// History is keys.json: what each stage's key was made of at the last run,
// by stage name, so a plan can say why a stage will rerun.
type History struct {
	Format int                   `json:"format"`
	Saved  time.Time             `json:"saved"`
	Stages map[string]*KeyRecord `json:"stages"`
}

// KeyRecord holds the ingredients of one stage key.
type KeyRecord struct {
	Key         string `json:"key"`
	Kind        string `json:"kind"`
	KindVersion string `json:"kind_version"`
	CCQVersion  string `json:"ccq_version"`
	KeyRecipe   int    `json:"key_recipe"`
	Params      Params `json:"params"`
	// Inputs maps input names to "<stage>@<key>".
	Inputs map[string]string `json:"inputs,omitempty"`
	// Files maps file names to digests.
	Files map[string]string `json:"files,omitempty"`
	// Deps are a Fingerprinter kind's dependencies (see Fingerprinter).
	Deps map[string]string `json:"deps,omitempty"`
}

// History reads keys.json; a missing or unreadable file gives an empty history.
func (r *Results) History() *History {
	h := &History{Format: HistoryFormat, Stages: map[string]*KeyRecord{}}
	b, err := os.ReadFile(filepath.Join(r.Dir, "keys.json"))
	if err != nil {
		return h
	}
	var got History
	if json.Unmarshal(b, &got) != nil || got.Format != HistoryFormat || got.Stages == nil {
		return h
	}
	return &got
}

// SaveHistory writes keys.json atomically.
func (r *Results) SaveHistory(h *History) error {
	h.Format = HistoryFormat
	h.Saved = time.Now().UTC()
	b, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("keys.json: %w", err)
	}
	return store.WriteFileAtomic(filepath.Join(r.Dir, "keys.json"), b, false)
}

// StateFormat is the version of state.json.
const StateFormat = 1

// RunState is state.json: the live or final state of a run.
type RunState struct {
	Format     int       `json:"format"`
	Experiment string    `json:"experiment"`
	File       string    `json:"file,omitempty"`
	PID        int       `json:"pid"`
	Host       string    `json:"host"`
	Executor   string    `json:"executor"`
	Jobs       int       `json:"jobs"`
	Started    time.Time `json:"started"`
	Updated    time.Time `json:"updated"`
	// Finished is zero while the run goes on.
	Finished time.Time `json:"finished,omitzero"`
	// Outcome is "running", "ok", "failed", "interrupted" or "detached".
	Outcome string `json:"outcome"`
	// Only are the --only patterns of the run, and Selected the number of
	// stages they select; the others are cached or StatusUnselected.
	Only     []string       `json:"only,omitempty"`
	Selected int            `json:"selected,omitempty"`
	Counts   map[Status]int `json:"counts"`
	Stages   []*StageState  `json:"stages"`
	index    map[string]int `json:"-"`
}

// StageState is one stage in state.json.
type StageState struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Key    string `json:"key,omitempty"`
	Status Status `json:"status"`
	// Reason says why the stage runs, is blocked or was skipped.
	Reason   string    `json:"reason,omitempty"`
	Fraction float64   `json:"fraction,omitempty"`
	Message  string    `json:"message,omitempty"`
	Threads  int       `json:"threads,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	Seconds  float64   `json:"seconds,omitempty"`
	// BuiltSeconds is, for a cached or done stage, the wall time its store
	// entry took when it was built (its manifest's seconds: the last
	// session's for a stage that resumed from a checkpoint; for a done
	// stage another run may have built it while this one waited); 0 when
	// unknown.
	BuiltSeconds float64 `json:"built_seconds,omitempty"`
	Error        string  `json:"error,omitempty"`
	Log          string  `json:"log,omitempty"`
	JobID        string  `json:"job_id,omitempty"`
	Entry        string  `json:"entry,omitempty"`
}

// Stage returns the state of a stage by name, or nil.
func (s *RunState) Stage(name string) *StageState {
	if s.index == nil {
		s.index = make(map[string]int, len(s.Stages))
		for i, st := range s.Stages {
			s.index[st.Name] = i
		}
	}
	if i, ok := s.index[name]; ok {
		return s.Stages[i]
	}
	return nil
}

// ReadState reads state.json from a results folder.
func ReadState(dir string) (*RunState, error) {
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s has no state.json: not a ccq results folder, or never run", dir)
		}
		return nil, err
	}
	var s RunState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "state.json"), err)
	}
	if s.Format != StateFormat {
		return nil, fmt.Errorf("%s: state format %d, this ccq reads %d", filepath.Join(dir, "state.json"), s.Format, StateFormat)
	}
	return &s, nil
}

// Live reports whether the run that wrote s still runs: its outcome is
// "running" and the lock file names a live process.
func (r *Results) Live(s *RunState) bool {
	if s.Outcome != "running" {
		return false
	}
	info, alive, err := ReadLock(r.LockPath())
	return err == nil && info != nil && alive && info.PID == s.PID
}
