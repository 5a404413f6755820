package slurm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/store"
)

// FollowOptions configure Refresh, Follow and Cancel.
type FollowOptions struct {
	// BinDir and Env are as in Options. When the environment has no
	// SLURM_CONF, the one recorded at submission is used.
	BinDir string
	Env    []string
	// CommandTimeout and SacctTimeout are as in Options (defaults 60s, 10s).
	CommandTimeout time.Duration
	SacctTimeout   time.Duration
	// PollMin and PollMax bound Follow's polling interval (defaults 1s, 30s).
	PollMin, PollMax time.Duration
	// Observer receives started and finished events while following.
	Observer pipeline.Observer
	// Logger receives warnings; slog.Default() if nil.
	Logger *slog.Logger
}

func (o *FollowOptions) defaults() {
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = time.Minute
	}
	if o.SacctTimeout <= 0 {
		o.SacctTimeout = 10 * time.Second
	}
	if o.PollMin <= 0 {
		o.PollMin = time.Second
	}
	if o.PollMax < o.PollMin {
		o.PollMax = max(o.PollMin, 30*time.Second)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// commanderFor builds the commander for a recorded submission.
func commanderFor(jf *JobsFile, opt FollowOptions) *commander {
	env := mergeEnv(os.Environ(), opt.Env)
	if envValue(env, "SLURM_CONF") == "" && jf.SlurmConf != "" {
		env = append(env, "SLURM_CONF="+jf.SlurmConf)
	}
	return &commander{binDir: opt.BinDir, env: env, timeout: opt.CommandTimeout}
}

// loadTracker rebuilds the tracker of a recorded submission. Jobs already
// final keep their state; the others are followed.
func loadTracker(dir string, jf *JobsFile, opt FollowOptions) (*tracker, error) {
	var st *store.Store
	if jf.Store != "" {
		if _, err := os.Stat(jf.Store); err == nil {
			if st, err = store.Open(jf.Store); err != nil {
				return nil, err
			}
		}
	}
	head := *jf
	head.Jobs = nil
	tr := newTracker(commanderFor(jf, opt), st, &head, dir, opt.Observer, opt.Logger)
	tr.sacctTimeout = opt.SacctTimeout
	for _, r := range jf.Jobs {
		if r.Orphan {
			tr.jf.Jobs = append(tr.jf.Jobs, r)
			continue
		}
		j, err := tr.add(r, r.Replace)
		if err != nil {
			return nil, fmt.Errorf("jobs file %s: %w", JobsPath(dir), err)
		}
		j.threads = r.CPUs
	}
	tr.dirty = false
	return tr, nil
}

// Refresh returns the run state of a results folder with the stages of its
// last Slurm submission brought up to date from Slurm and the store (one
// query). It writes the updated jobs.json and state.json when no ccq
// process holds the folder (a detached submission); otherwise the process
// that holds it keeps them up to date and Refresh only merges in memory.
func Refresh(ctx context.Context, dir string, opt FollowOptions) (*pipeline.RunState, *JobsFile, error) {
	opt.defaults()
	st, err := pipeline.ReadState(dir)
	if err != nil {
		return nil, nil, err
	}
	jf, err := ReadJobs(dir)
	if err != nil {
		return st, nil, err
	}
	if !belongs(st, jf) {
		return st, jf, nil
	}
	tr, err := loadTracker(dir, jf, opt)
	if err != nil {
		return st, jf, err
	}
	if _, err := tr.poll(ctx); err != nil {
		return st, tr.jf, err
	}
	lock, lerr := (&pipeline.Results{Dir: dir}).Lock("ccq status (slurm refresh)")
	if lerr == nil {
		defer lock.Release()
		// Re-read under the lock: a run may have ended or begun meanwhile.
		if st2, err := pipeline.ReadState(dir); err == nil {
			st = st2
		}
	}
	mergeState(st, tr.jf)
	if lerr == nil && tr.dirty {
		if err := tr.jf.write(dir); err != nil {
			return st, tr.jf, err
		}
		if err := writeState(dir, st); err != nil {
			return st, tr.jf, err
		}
	}
	return st, tr.jf, nil
}

// ErrAttached reports a results folder held by a live ccq process (the
// submitting `ccq run` still waits for its jobs, or another follower):
// follow its state.json instead.
var ErrAttached = errors.New("a ccq process is attached to this run")

// Follow re-attaches to the jobs of a detached (or abandoned) submission:
// it holds the results folder's lock, polls Slurm and the store until
// every stage of the submission is final, keeps jobs.json and state.json
// up to date, sends started/finished events to opt.Observer, and returns
// the final state. When a live ccq process holds the folder it returns an
// error wrapping ErrAttached (and the lock error).
func Follow(ctx context.Context, dir string, opt FollowOptions) (*pipeline.RunState, error) {
	opt.defaults()
	res := &pipeline.Results{Dir: dir}
	lock, err := res.Lock("ccq status --follow")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAttached, err)
	}
	defer lock.Release()
	st, err := pipeline.ReadState(dir)
	if err != nil {
		return nil, err
	}
	jf, err := ReadJobs(dir)
	if err != nil {
		return st, err
	}
	if !belongs(st, jf) {
		return st, fmt.Errorf("%s: the last run did not use the Slurm executor (%s executor); nothing to follow", dir, st.Executor)
	}
	tr, err := loadTracker(dir, jf, opt)
	if err != nil {
		return st, err
	}
	if opt.Observer != nil {
		opt.Observer.Observe(pipeline.Event{Time: time.Now(), Type: pipeline.EventRunStart, Total: tr.pending})
		for _, j := range tr.jobs {
			if !j.final && !j.rec.Started.IsZero() {
				opt.Observer.Observe(pipeline.Event{Time: j.rec.Started, Type: pipeline.EventStarted, Stage: j.rec.Stage,
					Kind: j.rec.Kind, Threads: j.threads, LogPath: j.rec.Log, JobID: j.rec.JobID})
			}
		}
	}
	interval := opt.PollMin
	for tr.pending > 0 {
		changed, err := tr.poll(ctx)
		if err != nil {
			return st, err
		}
		for {
			r, ok := tr.next()
			if !ok {
				break
			}
			if opt.Observer != nil {
				ev := pipeline.Event{Time: r.Finished, Type: pipeline.EventFinished, Stage: r.Name, Kind: tr.byName[r.Name].rec.Kind,
					Status: r.Status, JobID: r.JobID, LogPath: tr.byName[r.Name].rec.Log}
				if r.Err != nil {
					ev.Error = r.Err.Error()
				}
				opt.Observer.Observe(ev)
			}
		}
		if tr.dirty {
			mergeState(st, tr.jf)
			if err := tr.save(); err != nil {
				return st, err
			}
			if err := writeState(dir, st); err != nil {
				return st, err
			}
		}
		if tr.pending == 0 {
			break
		}
		if changed {
			interval = opt.PollMin
		} else {
			interval = min(interval*2, opt.PollMax)
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return st, ctx.Err()
		case <-t.C:
		}
	}
	mergeState(st, tr.jf)
	if err := writeState(dir, st); err != nil {
		return st, err
	}
	if opt.Observer != nil {
		opt.Observer.Observe(pipeline.Event{Time: time.Now(), Type: pipeline.EventRunEnd, Status: pipeline.Status(st.Outcome)})
	}
	return st, nil
}

// CancelReport says what Cancel did.
type CancelReport struct {
	Dir string `json:"dir"`
	// Cancelled lists the job ids scancel was asked to cancel.
	Cancelled []string `json:"cancelled"`
	// Stages are the stages of those jobs.
	Stages []string `json:"stages"`
	// Finished counts the stages of the submission already final.
	Finished int `json:"finished"`
	// Attached is true when a live ccq process holds the folder (it will
	// report the cancellations itself).
	Attached bool `json:"attached"`
}

// Cancel scancels every job of the last Slurm submission from a results
// folder that has not reached a final state (jobs of earlier submissions
// that were not adopted too). When no ccq process holds the folder, it also
// records the stages as cancelled in jobs.json and state.json.
func Cancel(ctx context.Context, dir string, opt FollowOptions) (*CancelReport, error) {
	opt.defaults()
	jf, err := ReadJobs(dir)
	if err != nil {
		return nil, err
	}
	rep := &CancelReport{Dir: dir, Cancelled: []string{}, Stages: []string{}}
	var recs []*JobRecord
	for _, r := range jf.Jobs {
		switch {
		case r.Status.Final():
			rep.Finished++
		case r.JobID != "":
			rep.Cancelled = append(rep.Cancelled, r.JobID)
			rep.Stages = append(rep.Stages, r.Stage)
			recs = append(recs, r)
		}
	}
	if len(rep.Cancelled) == 0 {
		return rep, nil
	}
	cmd := commanderFor(jf, opt)
	if _, err := cmd.run(ctx, 0, "scancel", "", rep.Cancelled...); err != nil {
		return rep, fmt.Errorf("cancelling jobs %v: %w", rep.Cancelled, err)
	}
	lock, err := (&pipeline.Results{Dir: dir}).Lock("ccq cancel")
	if err != nil {
		rep.Attached = true
		return rep, nil
	}
	defer lock.Release()
	// Re-read under the lock: a watcher may have written meanwhile.
	if jf2, err := ReadJobs(dir); err == nil {
		jf = jf2
	}
	now := time.Now().UTC()
	// A stage may have committed its entry just before its job was
	// cancelled: the store decides.
	var tr *tracker
	if t, err := loadTracker(dir, &JobsFile{Store: jf.Store}, opt); err == nil {
		tr = t
	}
	cancelled := map[string]bool{}
	for _, id := range rep.Cancelled {
		cancelled[id] = true
	}
	byStage := map[string]*JobRecord{}
	for _, r := range jf.Jobs {
		if !r.Orphan {
			byStage[r.Stage] = r
		}
		if !r.Status.Final() && cancelled[r.JobID] {
			if tr != nil {
				if e := tr.lookup(&job{rec: r, replace: r.Replace}); e != nil {
					r.Status, r.Entry, r.Finished = pipeline.StatusDone, e.Dir, now
					if e.Manifest != nil && !e.Manifest.Finished.IsZero() {
						r.Finished = e.Manifest.Finished.UTC()
					}
					continue
				}
			}
			r.Status = pipeline.StatusCancelled
			r.Error = fmt.Sprintf("slurm job %s cancelled by ccq cancel", r.JobID)
			r.Finished = now
		}
	}
	// Stages never submitted that wait for a cancelled one are cancelled too.
	for changed := true; changed; {
		changed = false
		for _, r := range jf.Jobs {
			if r.Status.Final() || r.Orphan {
				continue
			}
			for _, a := range r.After {
				if d := byStage[a]; d != nil && d.Status == pipeline.StatusCancelled {
					r.Status, r.Error, r.Finished = pipeline.StatusCancelled, "input "+a+" was cancelled", now
					changed = true
					break
				}
			}
		}
	}
	if err := jf.write(dir); err != nil {
		return rep, err
	}
	if st, err := pipeline.ReadState(dir); err == nil && belongs(st, jf) {
		mergeState(st, jf)
		if err := writeState(dir, st); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// belongs reports whether jf is the submission of the run st describes.
func belongs(st *pipeline.RunState, jf *JobsFile) bool {
	return st.Executor == "slurm" && !jf.Submitted.Before(st.Started.Add(-time.Second))
}

// mergeState copies the submission's stage states into a run state and,
// when every stage is final, ends the run (outcome ok or failed).
func mergeState(st *pipeline.RunState, jf *JobsFile) {
	for _, r := range jf.Jobs {
		if r.Orphan {
			continue
		}
		ss := st.Stage(r.Stage)
		if ss == nil || (ss.Status.Final() && !r.Status.Final()) {
			continue
		}
		ss.JobID = r.JobID
		ss.Status = r.Status
		if !r.Started.IsZero() {
			ss.Started = r.Started
		}
		if !r.Finished.IsZero() && r.Status.Final() {
			ss.Finished = r.Finished
			if !ss.Started.IsZero() {
				ss.Seconds = ss.Finished.Sub(ss.Started).Seconds()
			}
		}
		if r.Log != "" && ss.Log == "" && !r.Started.IsZero() {
			ss.Log = r.Log
		}
		switch r.Status {
		case pipeline.StatusDone:
			ss.Fraction, ss.Entry, ss.Message, ss.Reason = 1, r.Entry, "", ""
		case pipeline.StatusFailed:
			ss.Error = r.Error
		case pipeline.StatusSkipped, pipeline.StatusCancelled:
			ss.Reason = r.Error
		case pipeline.StatusPending:
			if r.Slurm != nil {
				ss.Reason = "slurm " + r.Slurm.State
				if r.Slurm.Reason != "" && r.Slurm.Reason != "None" {
					ss.Reason += " (" + r.Slurm.Reason + ")"
				}
			}
		case pipeline.StatusRunning:
			if r.Slurm != nil {
				ss.Message = "slurm " + r.Slurm.State
			}
		}
	}
	counts := map[pipeline.Status]int{}
	final := true
	var last time.Time
	for _, ss := range st.Stages {
		counts[ss.Status]++
		if !ss.Status.Final() {
			final = false
		}
		if ss.Finished.After(last) {
			last = ss.Finished
		}
	}
	st.Counts = counts
	if final && st.Outcome != "interrupted" {
		st.Outcome = "ok"
		for s, n := range counts {
			if n > 0 && (s == pipeline.StatusFailed || s == pipeline.StatusSkipped || s == pipeline.StatusBlocked || s == pipeline.StatusCancelled) {
				st.Outcome = "failed"
			}
		}
		if st.Finished.IsZero() || last.After(st.Finished) {
			st.Finished = last
		}
	}
}

// writeState writes state.json atomically.
func writeState(dir string, st *pipeline.RunState) error {
	st.Updated = time.Now().UTC()
	b, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		return fmt.Errorf("state.json: %w", err)
	}
	return store.WriteFileAtomic((&pipeline.Results{Dir: dir}).StatePath(), b, false)
}
