package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/ccq-project/ccq/pipeline/store"
)

// Executor decides where and when the tasks of a run execute. The runner
// calls Start once, then Submit for every task to run in topological order
// (dependencies first, all known up front), then Wait until it returns
// ErrNoMoreResults. Every submitted task yields exactly one Result.
//
// The local executor runs tasks in this process within CPU slots. A cluster
// executor (Slurm) would write each task with WriteTaskFile to
// env.Results.TaskPath(name), submit a job running `ccq stage exec <file>`
// that depends (afterok) on the jobs of t.After, and report job states;
// it must cancel dependents of a failed job and report them skipped.
type Executor interface {
	// Name is "local", "slurm", ...
	Name() string
	// Start prepares a run. When ctx is cancelled the executor stops
	// starting tasks, asks running tasks to stop (in-process stages see
	// ctx.Done()), and reports every unfinished task as cancelled.
	Start(ctx context.Context, env RunEnv) error
	// Submit hands over one task and returns its job id. It must not wait
	// for the task to run. t.After names tasks submitted earlier that must
	// succeed before t starts; if one of them fails, t is skipped.
	Submit(t *Task) (jobID string, err error)
	// Wait blocks until a submitted task reaches a final state and returns
	// its result, or ErrNoMoreResults when every result was delivered.
	Wait() (Result, error)
}

// ThreadSizer is implemented by executors that decide how many threads a
// stage gets from the count its kind asks for (Kind.Threads). Plans made
// with it (PlanOptions.Threads) estimate every stage at the threads it
// will run on, and the executor runs it on StageThreads of the task's
// Threads: the one rule both use.
type ThreadSizer interface {
	StageThreads(kindThreads int) int
}

// SlotThreads is the number of threads a stage whose kind asks for
// kindThreads runs on among jobs CPU slots of the local executor: at least
// 1 and at most jobs (with jobs = 1 every stage runs on one thread).
func SlotThreads(kindThreads, jobs int) int { return min(max(1, kindThreads), max(1, jobs)) }

// Detacher is implemented by executors whose jobs outlive the run (the
// Slurm executor with --detach). When Detached is true, the stages the
// executor did not report before Wait returned ErrNoMoreResults stay
// pending (their jobs are queued or running) and the run ends with outcome
// "detached".
type Detacher interface{ Detached() bool }

// ErrNoMoreResults ends an executor's results.
var ErrNoMoreResults = errors.New("no more results")

// RunEnv is what an executor gets from the runner.
type RunEnv struct {
	Registry *Registry
	Store    *store.Store
	Results  *Results
	// Observer receives EventStarted and EventProgress events (the runner
	// emits EventFinished itself from Results).
	Observer Observer
}

// Result is the final state of one task.
type Result struct {
	Name  string
	JobID string
	// Status is StatusDone, StatusFailed, StatusSkipped or StatusCancelled.
	Status Status
	// Entry is the committed store entry when Status is StatusDone.
	Entry *store.Entry
	// Err explains failures, skips and cancellations.
	Err      error
	Started  time.Time
	Finished time.Time
}

// Local runs tasks in this process, as goroutines, within Jobs CPU slots: a
// task takes and runs on SlotThreads(Threads, Jobs) slots. Ready tasks start shortest
// estimate first, then in submission order, the first that fits the free
// slots first.
type Local struct {
	// Jobs is the number of CPU slots; at least 1.
	Jobs int
	// ProgressEvery throttles progress events per stage (default 200ms).
	ProgressEvery time.Duration

	mu       sync.Mutex
	ctx      context.Context
	env      RunEnv
	tasks    map[string]*localTask
	ready    []*localTask
	free     int
	running  int
	pending  int // submitted tasks without a delivered result
	out      []Result
	done     chan Result
	canceled bool
}

type localTask struct {
	t          *Task
	threads    int
	waiting    int
	dependents []*localTask
	final      Status // "" until finished
	started    bool
	seq        int // submission order
}

// NewLocal returns a local executor with jobs slots (jobs < 1 means 1).
func NewLocal(jobs int) *Local { return &Local{Jobs: max(1, jobs)} }

// Name is "local".
func (l *Local) Name() string { return "local" }

// StageThreads implements ThreadSizer: SlotThreads of the executor's Jobs.
func (l *Local) StageThreads(kindThreads int) int { return SlotThreads(kindThreads, l.Jobs) }

// Start implements Executor.
func (l *Local) Start(ctx context.Context, env RunEnv) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ctx, l.env = ctx, env
	l.Jobs = max(1, l.Jobs)
	l.free = l.Jobs
	l.tasks = map[string]*localTask{}
	l.done = make(chan Result, 64)
	if l.ProgressEvery <= 0 {
		l.ProgressEvery = 200 * time.Millisecond
	}
	return nil
}

// Submit implements Executor.
func (l *Local) Submit(t *Task) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tasks == nil {
		return "", errors.New("local executor: Submit before Start")
	}
	if _, dup := l.tasks[t.Name]; dup {
		return "", fmt.Errorf("local executor: task %s submitted twice", t.Name)
	}
	lt := &localTask{t: t, threads: l.StageThreads(t.Threads), seq: len(l.tasks)}
	l.tasks[t.Name] = lt
	l.pending++
	for _, dep := range t.After {
		d, ok := l.tasks[dep]
		if !ok {
			l.finish(lt, Result{Name: t.Name, Status: StatusSkipped, Err: fmt.Errorf("input %s was not submitted", dep)})
			return t.Name, nil
		}
		switch d.final {
		case "":
			lt.waiting++
			d.dependents = append(d.dependents, lt)
		case StatusDone:
		default:
			l.finish(lt, Result{Name: t.Name, Status: StatusSkipped, Err: fmt.Errorf("input %s %s", dep, d.final)})
			return t.Name, nil
		}
	}
	if lt.waiting == 0 {
		l.enqueue(lt)
	}
	l.dispatch()
	return t.Name, nil
}

// finish records a final state, queues its result and, unless it is
// done, skips every task waiting on it. Called with l.mu held.
func (l *Local) finish(lt *localTask, r Result) {
	if lt.final != "" {
		return
	}
	lt.final = r.Status
	r.JobID = lt.t.Name
	l.out = append(l.out, r)
	for _, d := range lt.dependents {
		if r.Status == StatusDone {
			d.waiting--
			if d.waiting == 0 && d.final == "" {
				l.enqueue(d)
			}
			continue
		}
		if d.final != "" {
			continue
		}
		st := StatusSkipped
		reason := fmt.Errorf("input %s %s", lt.t.Name, r.Status)
		if r.Status == StatusCancelled {
			st = StatusCancelled
			reason = errors.New("run interrupted before it started")
		}
		l.finish(d, Result{Name: d.t.Name, Status: st, Err: reason})
	}
}

// enqueue adds a task whose inputs are all done to the ready queue, which
// is ordered by estimated wall time, then submission order: short stages
// (an evaluation, a quantizer) start as soon as their inputs exist instead
// of waiting behind every long one submitted before them, so an
// interrupted or partial run already has results for what finished.
// Called with l.mu held.
func (l *Local) enqueue(lt *localTask) {
	before := func(a, b *localTask) bool {
		if a.t.Estimate != b.t.Estimate {
			return a.t.Estimate < b.t.Estimate
		}
		return a.seq < b.seq
	}
	i := sort.Search(len(l.ready), func(i int) bool { return before(lt, l.ready[i]) })
	l.ready = append(l.ready, nil)
	copy(l.ready[i+1:], l.ready[i:])
	l.ready[i] = lt
}

// dispatch starts ready tasks that fit. Called with l.mu held.
func (l *Local) dispatch() {
	if l.ctx.Err() != nil {
		l.cancelPending()
		return
	}
	kept := l.ready[:0]
	for _, lt := range l.ready {
		if lt.final != "" {
			continue
		}
		if lt.threads > l.free {
			kept = append(kept, lt)
			continue
		}
		l.free -= lt.threads
		l.running++
		lt.started = true
		go l.work(lt)
	}
	for i := len(kept); i < len(l.ready); i++ {
		l.ready[i] = nil
	}
	l.ready = kept
}

func (l *Local) cancelPending() {
	if l.canceled {
		return
	}
	l.canceled = true
	for _, lt := range l.ready {
		if lt.final == "" && !lt.started {
			l.finish(lt, Result{Name: lt.t.Name, Status: StatusCancelled, Err: errors.New("run interrupted before it started")})
		}
	}
	l.ready = nil
	for _, lt := range l.tasks {
		if lt.final == "" && !lt.started && lt.waiting > 0 {
			l.finish(lt, Result{Name: lt.t.Name, Status: StatusCancelled, Err: errors.New("run interrupted before it started")})
		}
	}
}

func (l *Local) work(lt *localTask) {
	t := lt.t
	obs := l.env.Observer
	start := time.Now()
	if obs != nil {
		obs.Observe(Event{Time: start, Type: EventStarted, Stage: t.Name, Kind: t.Kind, Threads: lt.threads, LogPath: t.LogPath, JobID: t.Name, Estimate: t.Estimate})
	}
	var last time.Time
	var lastMu sync.Mutex
	progress := func(f float64, msg string) {
		if obs == nil {
			return
		}
		now := time.Now()
		lastMu.Lock()
		if now.Sub(last) < l.ProgressEvery && f < 1 {
			lastMu.Unlock()
			return
		}
		last = now
		lastMu.Unlock()
		obs.Observe(Event{Time: now, Type: EventProgress, Stage: t.Name, Kind: t.Kind, Fraction: f, Message: msg})
	}
	tt := *t
	tt.Threads = lt.threads
	e, err := Exec(l.ctx, &tt, ExecOptions{Registry: l.env.Registry, Store: l.env.Store, Progress: progress})
	r := Result{Name: t.Name, Entry: e, Err: err, Started: start, Finished: time.Now()}
	switch {
	case err == nil:
		r.Status = StatusDone
	case l.ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		r.Status = StatusCancelled
	default:
		r.Status = StatusFailed
	}
	l.done <- r
}

// Wait implements Executor.
func (l *Local) Wait() (Result, error) {
	for {
		l.mu.Lock()
		if len(l.out) > 0 {
			r := l.out[0]
			l.out[0] = Result{}
			l.out = l.out[1:]
			l.pending--
			l.mu.Unlock()
			return r, nil
		}
		if l.pending == 0 {
			l.mu.Unlock()
			return Result{}, ErrNoMoreResults
		}
		if l.ctx.Err() != nil {
			l.cancelPending()
			if len(l.out) > 0 {
				l.mu.Unlock()
				continue
			}
		}
		ctxDone := l.ctx.Done()
		if l.canceled {
			ctxDone = nil
		}
		l.mu.Unlock()
		select {
		case r := <-l.done:
			l.mu.Lock()
			lt := l.tasks[r.Name]
			l.free += lt.threads
			l.running--
			l.finish(lt, r)
			l.dispatch()
			l.mu.Unlock()
		case <-ctxDone:
		}
	}
}
