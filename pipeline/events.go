package pipeline

import (
	"sync"
	"time"
)

// Status is the state of a stage in a plan or a run.
type Status string

// Stage states. A plan marks stages StatusCached, StatusToRun,
// StatusBlocked or (with PlanOptions.Only) StatusUnselected; a run moves
// stages to run through StatusPending, StatusRunning and one final state.
const (
	StatusCached    Status = "cached"
	StatusToRun     Status = "to-run"
	StatusBlocked   Status = "blocked"
	StatusPending   Status = "pending"
	StatusRunning   Status = "running"
	StatusDone      Status = "done"
	StatusFailed    Status = "failed"
	StatusSkipped   Status = "skipped"
	StatusCancelled Status = "cancelled"
	// StatusUnselected is a stage that is not in the store and that a run
	// restricted with --only (PlanOptions.Only) leaves out: it does not
	// run, and it is neither a failure nor a result. A later run without
	// --only, or with a selection covering it, runs it.
	StatusUnselected Status = "unselected"
)

// Final reports whether s is a final state of a run.
func (s Status) Final() bool {
	switch s {
	case StatusCached, StatusDone, StatusFailed, StatusSkipped, StatusCancelled, StatusBlocked, StatusUnselected:
		return true
	}
	return false
}

// EventType says what an Event reports.
type EventType string

// Event types.
const (
	// EventRunStart carries the number of stages to run in Total.
	EventRunStart EventType = "run-start"
	// EventStarted: a stage began running.
	EventStarted EventType = "started"
	// EventProgress: a running stage reported progress.
	EventProgress EventType = "progress"
	// EventFinished: a stage reached a final state (Status).
	EventFinished EventType = "finished"
	// EventRunEnd: the run is over.
	EventRunEnd EventType = "run-end"
)

// Event is one thing that happened in a run. Observers receive them.
type Event struct {
	Time     time.Time     `json:"time"`
	Type     EventType     `json:"type"`
	Stage    string        `json:"stage,omitempty"`
	Kind     string        `json:"kind,omitempty"`
	Status   Status        `json:"status,omitempty"`
	Fraction float64       `json:"fraction,omitempty"`
	Message  string        `json:"message,omitempty"`
	Error    string        `json:"error,omitempty"`
	LogPath  string        `json:"log,omitempty"`
	JobID    string        `json:"job_id,omitempty"`
	Threads  int           `json:"threads,omitempty"`
	Estimate time.Duration `json:"estimate,omitempty"`
	// Total is the number of stages to run (EventRunStart).
	Total int `json:"total,omitempty"`
	// Built is, for a finished stage, the wall time its store entry took
	// to build by its manifest (EventFinished; 0 when unknown).
	Built float64 `json:"built,omitempty"`
}

// Observer receives run events. Observe is called from one goroutine at a
// time (the run serialises calls) and must not block for long.
type Observer interface {
	Observe(Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Event)

// Observe calls f.
func (f ObserverFunc) Observe(e Event) { f(e) }

// fanout serialises events to several observers.
type fanout struct {
	mu  sync.Mutex
	obs []Observer
}

func (f *fanout) Observe(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range f.obs {
		o.Observe(e)
	}
}
