package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ccq-project/ccq/internal/version"
	"github.com/ccq-project/ccq/pipeline/store"
)

// RunOptions configure Run.
type RunOptions struct {
	// Registry holding the kinds; DefaultRegistry if nil.
	Registry *Registry
	// Store holding the entries (required; the plan's store).
	Store *store.Store
	// Results folder of the experiment (required).
	Results *Results
	// Executor runs the tasks; a Local with Jobs slots if nil.
	Executor Executor
	// Jobs is the number of CPU slots for the default executor.
	Jobs int
	// Settings passed to stages (Experiment, DataDir, BaseDir; ResultsDir is set here).
	Settings Settings
	// Observers receive the run's events (progress display).
	Observers []Observer
	// ExperimentFile and ExperimentSource are recorded in the results folder
	// (a frozen copy named experiment.toml) when set.
	ExperimentFile   string
	ExperimentSource []byte
	// Command is recorded in the lock file.
	Command string
	// StateEvery throttles writes of state.json (default 250ms).
	StateEvery time.Duration
	// Logger for run-level messages; slog.Default() if nil.
	Logger *slog.Logger
}

// Failure is one failed stage in a summary.
type Failure struct {
	Stage string `json:"stage"`
	Error string `json:"error"`
	Log   string `json:"log,omitempty"`
}

// Summary is the outcome of a run.
type Summary struct {
	Experiment string         `json:"experiment"`
	Results    string         `json:"results"`
	Counts     map[Status]int `json:"counts"`
	// Outcome is "ok", "failed", "interrupted" or "detached". Unselected
	// stages (--only) do not make a run fail.
	Outcome string `json:"outcome"`
	// Only are the --only patterns of the plan, and Selected the number of
	// stages they select (see Plan.Selection).
	Only        []string      `json:"only,omitempty"`
	Selected    int           `json:"selected,omitempty"`
	NothingToDo bool          `json:"nothing_to_do"`
	Failures    []Failure     `json:"failures,omitempty"`
	Skipped     []Failure     `json:"skipped,omitempty"`
	Blocked     []Failure     `json:"blocked,omitempty"`
	Elapsed     time.Duration `json:"elapsed_ns"`
	Stages      []*StageState `json:"stages"`
}

// Err returns nil when every stage is done or cached, and otherwise an
// error naming the failures (each with its log), skips and blocks.
func (s *Summary) Err() error {
	if s.Outcome == "ok" || (s.Outcome == "detached" && len(s.Failures)+len(s.Skipped)+len(s.Blocked) == 0) {
		return nil
	}
	var b strings.Builder
	if s.Outcome == "interrupted" {
		b.WriteString("run interrupted")
	} else {
		b.WriteString("run failed")
	}
	fmt.Fprintf(&b, ": %d failed, %d skipped, %d blocked, %d cancelled", len(s.Failures), len(s.Skipped), len(s.Blocked), s.Counts[StatusCancelled])
	for _, f := range s.Failures {
		fmt.Fprintf(&b, "\n  failed %s: %s", f.Stage, f.Error)
		if f.Log != "" {
			fmt.Fprintf(&b, "\n    log: %s", f.Log)
		}
	}
	for _, f := range s.Blocked {
		fmt.Fprintf(&b, "\n  blocked %s: %s", f.Stage, f.Error)
	}
	return errors.New(b.String())
}

// Run executes the stages of p marked to run and records the run in the
// results folder. It takes the folder's lock for its whole duration. A
// stage that fails marks everything depending on it skipped while
// independent stages go on. When ctx is cancelled, no new stage starts and
// running ones are asked to stop. The returned error is for problems of
// the run itself (lock, store); stage failures are in the Summary (see
// Summary.Err).
func Run(ctx context.Context, p *Plan, opt RunOptions) (*Summary, error) {
	if opt.Store == nil || opt.Results == nil {
		return nil, errors.New("run: store and results folder are required")
	}
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	lock, err := opt.Results.Lock(opt.Command)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	if lock.TakenOver != nil {
		log.Warn("taking over a stale lock: the previous run ended without releasing it",
			"pid", lock.TakenOver.PID, "host", lock.TakenOver.Host, "started", lock.TakenOver.Started)
	}
	begin := time.Now()
	_ = opt.Store.CleanStale()
	if opt.ExperimentSource != nil {
		if err := opt.Results.Freeze("experiment.toml", opt.ExperimentSource); err != nil {
			return nil, err
		}
	}
	// Remember this plan's keys so the next plan can explain differences
	// (an unselected stage keeps the record of the last run that had it).
	hist := opt.Results.History()
	for _, sp := range p.Stages {
		if sp.Status != StatusBlocked && sp.Status != StatusUnselected {
			hist.Stages[sp.Name] = sp.Record()
		}
	}
	if err := opt.Results.SaveHistory(hist); err != nil {
		return nil, err
	}

	settings := opt.Settings
	settings.ResultsDir = opt.Results.Dir
	exec := opt.Executor
	if exec == nil {
		exec = NewLocal(opt.Jobs)
	}
	host, _ := os.Hostname()
	state := &RunState{Format: StateFormat, Experiment: settings.Experiment, File: opt.ExperimentFile,
		PID: os.Getpid(), Host: host, Executor: exec.Name(), Jobs: opt.Jobs, Started: begin.UTC(), Outcome: "running",
		Only: p.Only, Selected: p.Selected}
	toRun := 0
	for _, sp := range p.Stages {
		if sp.Damage != "" && sp.Status == StatusToRun {
			log.Warn("a store entry is damaged; rebuilding its stage", "stage", sp.Name, "damage", sp.Damage)
		}
	}
	for _, sp := range p.Stages {
		ss := &StageState{Name: sp.Name, Kind: sp.Kind, Key: sp.Key, Status: sp.Status, Reason: sp.Reason, Threads: sp.Threads}
		switch sp.Status {
		case StatusToRun:
			ss.Status = StatusPending
			ss.Log = opt.Results.LogPath(sp.Name)
			toRun++
		case StatusCached:
			ss.Entry = sp.EntryDir
			ss.Reason = ""
			if sp.Entry != nil && sp.Entry.Manifest != nil {
				ss.BuiltSeconds = sp.Entry.Manifest.Seconds
			}
		}
		state.Stages = append(state.Stages, ss)
	}
	sw := newStateWriter(opt.Results.StatePath(), state, opt.StateEvery)
	obs := &fanout{obs: append([]Observer{sw}, opt.Observers...)}
	// Link the final cached stages into the results folder.
	for _, sp := range p.Stages {
		if sp.Status == StatusCached && p.Graph.IsSink(sp.Name) {
			if err := opt.Results.Link(sp.Name, sp.EntryDir); err != nil {
				log.Warn("linking a cached stage into the results folder failed", "stage", sp.Name, "err", err)
			}
		}
	}
	obs.Observe(Event{Type: EventRunStart, Total: toRun})

	if toRun > 0 {
		if err := exec.Start(ctx, RunEnv{Registry: opt.Registry, Store: opt.Store, Results: opt.Results, Observer: obs}); err != nil {
			sw.close()
			return nil, fmt.Errorf("executor %s: %w", exec.Name(), err)
		}
		submitted := map[string]bool{}
		byKey := map[string]string{} // key -> first stage submitted with it
		for _, sp := range p.Stages {
			if sp.Status != StatusToRun {
				continue
			}
			t := taskFor(sp, p, opt, settings)
			if first, dup := byKey[sp.Kind+"/"+sp.Key]; dup {
				// Same entry as an earlier stage: wait for it, then reuse it.
				t.After = append(t.After, first)
				t.Replace = false
			} else {
				byKey[sp.Kind+"/"+sp.Key] = sp.Name
			}
			missing := ""
			for _, a := range t.After {
				if !submitted[a] {
					missing = a
				}
			}
			if missing != "" {
				obs.Observe(Event{Type: EventFinished, Stage: sp.Name, Kind: sp.Kind, Status: StatusSkipped, Error: "input " + missing + " could not be submitted"})
				continue
			}
			id, err := exec.Submit(t)
			if err != nil {
				obs.Observe(Event{Type: EventFinished, Stage: sp.Name, Kind: sp.Kind, Status: StatusFailed, Error: "submit: " + err.Error(), LogPath: t.LogPath})
				continue
			}
			submitted[sp.Name] = true
			sw.setJob(sp.Name, id)
		}
		for {
			r, err := exec.Wait()
			if errors.Is(err, ErrNoMoreResults) {
				break
			}
			if err != nil {
				sw.close()
				return nil, fmt.Errorf("executor %s: %w", exec.Name(), err)
			}
			ev := Event{Time: r.Finished, Type: EventFinished, Stage: r.Name, Kind: p.Stage(r.Name).Kind, Status: r.Status, JobID: r.JobID,
				LogPath: opt.Results.LogPath(r.Name)}
			if r.Err != nil {
				ev.Error = r.Err.Error()
			}
			if r.Status == StatusDone && r.Entry != nil {
				ev.Message = r.Entry.Dir
				if r.Entry.Manifest != nil {
					ev.Built = r.Entry.Manifest.Seconds
				}
			}
			if r.Status == StatusDone && r.Entry != nil && p.Graph.IsSink(r.Name) {
				if err := opt.Results.Link(r.Name, r.Entry.Dir); err != nil {
					log.Warn("linking a stage into the results folder failed", "stage", r.Name, "err", err)
				}
			}
			obs.Observe(ev)
		}
	}

	sum := &Summary{Experiment: settings.Experiment, Results: opt.Results.Dir, NothingToDo: toRun == 0,
		Only: p.Only, Selected: p.Selected}
	outcome := "ok"
	detached := false
	if d, ok := exec.(Detacher); ok && toRun > 0 {
		detached = d.Detached()
	}
	sw.mu.Lock()
	counts := map[Status]int{}
	for _, ss := range state.Stages {
		if !ss.Status.Final() && !detached {
			// A stage the executor never reported: treat as cancelled.
			ss.Status = StatusCancelled
		}
		counts[ss.Status]++
		switch ss.Status {
		case StatusFailed:
			sum.Failures = append(sum.Failures, Failure{Stage: ss.Name, Error: ss.Error, Log: ss.Log})
		case StatusSkipped:
			sum.Skipped = append(sum.Skipped, Failure{Stage: ss.Name, Error: ss.Reason})
		case StatusBlocked:
			sum.Blocked = append(sum.Blocked, Failure{Stage: ss.Name, Error: ss.Reason})
		}
	}
	switch {
	case detached && counts[StatusPending]+counts[StatusRunning] > 0:
		outcome = "detached"
	case ctx.Err() != nil && (counts[StatusCancelled] > 0 || len(sum.Failures) > 0):
		outcome = "interrupted"
	case len(sum.Failures)+len(sum.Skipped)+len(sum.Blocked)+counts[StatusCancelled] > 0:
		outcome = "failed"
	}
	state.Counts = counts
	state.Outcome = outcome
	if outcome != "detached" {
		state.Finished = time.Now().UTC()
	}
	sum.Counts = counts
	sum.Outcome = outcome
	sum.Stages = state.Stages
	sw.mu.Unlock()
	sum.Elapsed = time.Since(begin)
	obs.Observe(Event{Type: EventRunEnd, Status: Status(outcome)})
	if err := sw.close(); err != nil {
		return sum, err
	}
	return sum, nil
}

func taskFor(sp *StagePlan, p *Plan, opt RunOptions, settings Settings) *Task {
	t := &Task{Format: TaskFormat, Name: sp.Name, Kind: sp.Kind, KindVersion: sp.KindVersion, Key: sp.Key,
		CCQVersion: version.Version, Params: sp.Params, Files: sp.Files, Hints: sp.Spec.Hints, Threads: sp.Threads,
		Estimate: sp.Estimate, Store: opt.Store.Root(), NoSync: opt.Store.NoSync, Replace: sp.Forced,
		Verify:  p.Verify || sp.Damage != "",
		LogPath: opt.Results.LogPath(sp.Name), Settings: settings}
	if len(sp.Inputs) > 0 {
		t.Inputs = make(map[string]store.InputRef, len(sp.Inputs))
	}
	for _, in := range sortedKeys(sp.Inputs) {
		up := p.Stage(sp.Inputs[in])
		t.Inputs[in] = store.InputRef{Stage: up.Name, Kind: up.Kind, Key: up.Key}
		if up.Status == StatusToRun {
			t.After = append(t.After, up.Name)
		}
	}
	return t
}

// stateWriter keeps state.json up to date from events, writing at most
// every `every` (and once at the end).
type stateWriter struct {
	mu    sync.Mutex
	path  string
	state *RunState
	dirty bool
	stop  chan struct{}
	done  chan struct{}
	err   error
}

func newStateWriter(path string, s *RunState, every time.Duration) *stateWriter {
	if every <= 0 {
		every = 250 * time.Millisecond
	}
	w := &stateWriter{path: path, state: s, stop: make(chan struct{}), done: make(chan struct{})}
	w.mu.Lock()
	w.writeLocked()
	w.mu.Unlock()
	go func() {
		defer close(w.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
				w.mu.Lock()
				if w.dirty {
					w.writeLocked()
				}
				w.mu.Unlock()
			}
		}
	}()
	return w
}

func (w *stateWriter) writeLocked() {
	w.state.Updated = time.Now().UTC()
	if w.state.Outcome == "running" {
		c := map[Status]int{}
		for _, s := range w.state.Stages {
			c[s.Status]++
		}
		w.state.Counts = c
	}
	b, err := json.MarshalIndent(w.state, "", " ")
	if err == nil {
		err = store.WriteFileAtomic(w.path, b, false)
	}
	if err != nil && w.err == nil {
		w.err = fmt.Errorf("state.json: %w", err)
	}
	w.dirty = false
}

func (w *stateWriter) setJob(name, id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ss := w.state.Stage(name); ss != nil {
		ss.JobID = id
		w.dirty = true
	}
}

// Observe updates the state from an event.
func (w *stateWriter) Observe(e Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ss := w.state.Stage(e.Stage)
	if ss == nil {
		return
	}
	w.dirty = true
	switch e.Type {
	case EventStarted:
		ss.Status = StatusRunning
		ss.Started = e.Time.UTC()
		if e.JobID != "" {
			ss.JobID = e.JobID
		}
	case EventProgress:
		if ss.Status != StatusRunning {
			return
		}
		ss.Fraction = e.Fraction
		ss.Message = e.Message
	case EventFinished:
		if e.JobID != "" {
			ss.JobID = e.JobID
		}
		ss.Status = e.Status
		ss.Finished = e.Time.UTC()
		if !ss.Started.IsZero() {
			ss.Seconds = ss.Finished.Sub(ss.Started).Seconds()
		}
		switch e.Status {
		case StatusDone:
			ss.Fraction = 1
			ss.Entry = e.Message
			ss.Message = ""
			ss.BuiltSeconds = e.Built
		case StatusFailed:
			ss.Error = e.Error
		case StatusSkipped, StatusCancelled:
			ss.Reason = e.Error
			if ss.Started.IsZero() {
				ss.Log = ""
			}
		}
	}
}

func (w *stateWriter) close() error {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writeLocked()
	return w.err
}
