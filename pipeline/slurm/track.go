package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/store"
)

// tracker follows the jobs of one submission through Slurm's commands and
// the store, turning job states into stage results. The executor (while a
// run waits) and Follow/Refresh (after a detached submission) share it.
type tracker struct {
	cmd   *commander
	store *store.Store
	obs   pipeline.Observer
	log   *slog.Logger
	jf    *JobsFile
	// dir is the results folder (for jobs.json); "" disables writes.
	dir string

	jobs   []*job
	byName map[string]*job
	// out holds results not yet delivered.
	out     []pipeline.Result
	pending int

	lostAfter    time.Duration
	storeGrace   time.Duration
	sacctTimeout time.Duration
	giveUpAfter  time.Duration
	sacctOff     bool
	sacctRetry   time.Time
	failSince    time.Time
	lastWarn     time.Time
	dirty        bool
	changes      int
	saved        time.Time
	now          func() time.Time
}

// touch records a change (jobs.json needs writing; the poll saw news).
func (tr *tracker) touch() {
	tr.dirty = true
	tr.changes++
}

// job is one stage's job in a tracker.
type job struct {
	rec        *JobRecord
	deps       []*job
	dependents []*job
	// replace is true for forced stages: an older store entry does not count.
	replace   bool
	threads   int
	estimate  time.Duration
	completed time.Time // first seen COMPLETED without a store entry
	final     bool
	// fraction and message are the last progress read from the log.
	fraction float64
	message  string
}

func newTracker(cmd *commander, st *store.Store, jf *JobsFile, dir string, obs pipeline.Observer, log *slog.Logger) *tracker {
	return &tracker{cmd: cmd, store: st, jf: jf, dir: dir, obs: obs, log: log, byName: map[string]*job{},
		lostAfter: time.Minute, storeGrace: 30 * time.Second, sacctTimeout: 10 * time.Second,
		giveUpAfter: 10 * time.Minute, now: time.Now}
}

// add registers a record; its After stages must be registered already.
// A record already in a final state is registered as final (no result is
// delivered for it).
func (tr *tracker) add(rec *JobRecord, replace bool) (*job, error) {
	if _, dup := tr.byName[rec.Stage]; dup {
		return nil, fmt.Errorf("stage %s submitted twice", rec.Stage)
	}
	j := &job{rec: rec, replace: replace, threads: rec.CPUs}
	for _, a := range rec.After {
		d, ok := tr.byName[a]
		if !ok {
			return nil, fmt.Errorf("stage %s waits for %s, which was not submitted", rec.Stage, a)
		}
		j.deps = append(j.deps, d)
		d.dependents = append(d.dependents, j)
	}
	tr.byName[rec.Stage] = j
	tr.jobs = append(tr.jobs, j)
	tr.jf.Jobs = append(tr.jf.Jobs, rec)
	if rec.Status.Final() {
		j.final = true
	} else {
		tr.pending++
	}
	tr.touch()
	return j, nil
}

// remove forgets the last added job (its submission failed before any
// job id existed and the caller reports the error itself).
func (tr *tracker) remove(j *job) {
	if len(tr.jobs) == 0 || tr.jobs[len(tr.jobs)-1] != j {
		return
	}
	tr.jobs = tr.jobs[:len(tr.jobs)-1]
	tr.jf.Jobs = tr.jf.Jobs[:len(tr.jf.Jobs)-1]
	delete(tr.byName, j.rec.Stage)
	for _, d := range j.deps {
		d.dependents = d.dependents[:len(d.dependents)-1]
	}
	if !j.final {
		tr.pending--
	}
}

// depProblem returns a reason to skip j when one of its inputs ended
// without success, and the status to give it (skipped, or cancelled when
// the input was cancelled).
func depProblem(j *job) (pipeline.Status, string) {
	for _, d := range j.deps {
		if d.final && d.rec.Status != pipeline.StatusDone {
			if d.rec.Status == pipeline.StatusCancelled {
				return pipeline.StatusCancelled, fmt.Sprintf("input %s was cancelled", d.rec.Stage)
			}
			return pipeline.StatusSkipped, fmt.Sprintf("input %s %s", d.rec.Stage, d.rec.Status)
		}
	}
	return "", ""
}

// finish gives j a final state, queues its result and ends every job
// waiting on it unless it is done. It returns the job ids of dependents
// to scancel.
func (tr *tracker) finish(j *job, status pipeline.Status, msg string, entry *store.Entry) []string {
	if j.final {
		return nil
	}
	j.final = true
	tr.pending--
	tr.touch()
	r := j.rec
	r.Status = status
	r.Error = msg
	if r.Finished.IsZero() {
		switch {
		case r.Slurm != nil && !r.Slurm.End.IsZero():
			r.Finished = r.Slurm.End.UTC()
		default:
			r.Finished = tr.now().UTC()
		}
	}
	res := pipeline.Result{Name: r.Stage, JobID: r.JobID, Status: status, Started: r.Started, Finished: r.Finished}
	if entry != nil {
		res.Entry = entry
		r.Entry = entry.Dir
		if m := entry.Manifest; m != nil && !m.Finished.IsZero() && m.Finished.After(r.Started) {
			r.Finished = m.Finished.UTC()
			res.Finished = r.Finished
		}
	}
	if msg != "" {
		res.Err = errors.New(msg)
	}
	tr.out = append(tr.out, res)
	if status == pipeline.StatusDone {
		return nil
	}
	var ids []string
	for _, d := range j.dependents {
		if d.final {
			continue
		}
		st, why := pipeline.StatusSkipped, fmt.Sprintf("input %s %s", r.Stage, status)
		if status == pipeline.StatusCancelled {
			st, why = pipeline.StatusCancelled, fmt.Sprintf("input %s was cancelled", r.Stage)
		}
		if d.rec.JobID != "" {
			ids = append(ids, d.rec.JobID)
			why += "; slurm job " + d.rec.JobID + " cancelled"
		}
		ids = append(ids, tr.finish(d, st, why, nil)...)
	}
	return ids
}

// started emits the start event of j once.
func (tr *tracker) started(j *job, at time.Time) {
	if !j.rec.Started.IsZero() {
		return
	}
	if at.IsZero() {
		at = tr.now()
	}
	j.rec.Started = at.UTC()
	tr.touch()
	if tr.obs != nil {
		tr.obs.Observe(pipeline.Event{Time: at, Type: pipeline.EventStarted, Stage: j.rec.Stage, Kind: j.rec.Kind,
			Threads: j.threads, LogPath: j.rec.Log, JobID: j.rec.JobID, Estimate: j.estimate})
	}
}

// lookup returns the store entry of j if it exists and counts (an entry
// older than the job does not count for a forced stage).
func (tr *tracker) lookup(j *job) *store.Entry {
	if tr.store == nil {
		return nil
	}
	e, err := tr.store.Lookup(j.rec.Kind, j.rec.Key)
	if err != nil {
		return nil
	}
	if j.replace && e.Manifest != nil && !j.rec.Submitted.IsZero() && e.Manifest.Finished.Before(j.rec.Submitted.Add(-time.Second)) {
		return nil
	}
	return e
}

// active lists the jobs that have a job id and no final state.
func (tr *tracker) active() []*job {
	var out []*job
	for _, j := range tr.jobs {
		if !j.final && j.rec.JobID != "" {
			out = append(out, j)
		}
	}
	return out
}

// baseIDs lists the distinct job ids to ask squeue about ("123" for "123_4").
func baseIDs(js []*job) []string {
	seen := map[string]bool{}
	var ids []string
	for _, j := range js {
		id, _, _ := strings.Cut(j.rec.JobID, "_")
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}

// squeue returns the states of jobs (finished ones too, while the
// controller remembers them) by job id.
func (tr *tracker) squeue(ctx context.Context, js []*job) (map[string]JobState, error) {
	ids := baseIDs(js)
	states := map[string]JobState{}
	for len(ids) > 0 {
		n := min(len(ids), 500)
		out, err := tr.cmd.run(ctx, 0, "squeue", "", "-h", "-r", "-t", "all", "-j", strings.Join(ids[:n], ","), "-o", squeueFormat)
		if err != nil && !isInvalidJobID(err) {
			return nil, err
		}
		if err == nil {
			sts, perr := parseSqueue(out)
			if perr != nil {
				return nil, perr
			}
			for _, s := range sts {
				states[s.ID] = s
			}
		}
		ids = ids[n:]
	}
	return states, nil
}

// sacct asks the accounting database about jobs the controller forgot.
// A cluster without accounting, or a slow sacct, gives no states.
func (tr *tracker) sacct(ctx context.Context, js []*job) map[string]JobState {
	if tr.sacctOff || tr.now().Before(tr.sacctRetry) || len(js) == 0 {
		return nil
	}
	ids := baseIDs(js)
	out, err := tr.cmd.run(ctx, tr.sacctTimeout, "sacct", "", "-n", "-P", "-X", "-j", strings.Join(ids, ","), "-o", sacctFields)
	if err != nil || strings.TrimSpace(out) == "" {
		var ce *CommandError
		switch {
		case isAccountingDisabled(out, err):
			tr.sacctOff = true
			tr.log.Debug("slurm: no job accounting on this cluster (sacct); finished jobs are judged by the store")
		case errors.As(err, &ce) && ce.NotFound:
			tr.sacctOff = true
		case errors.As(err, &ce) && ce.TimedOut:
			tr.sacctRetry = tr.now().Add(5 * time.Minute)
			tr.log.Warn("slurm: sacct is slow; not asking it for 5 minutes", "err", err)
		case err != nil:
			tr.sacctRetry = tr.now().Add(time.Minute)
			tr.log.Warn("slurm: sacct failed; not asking it for a minute", "err", err)
		}
		return nil
	}
	sts, err := parseSacct(out)
	if err != nil {
		tr.log.Warn("slurm: unreadable sacct output", "err", err)
		return nil
	}
	m := make(map[string]JobState, len(sts))
	for _, s := range sts {
		m[s.ID] = s
	}
	return m
}

// exitCode asks scontrol for a finished job's exit code (best effort).
func (tr *tracker) exitCode(ctx context.Context, id string) string {
	out, err := tr.cmd.run(ctx, 5*time.Second, "scontrol", "", "-o", "show", "job", id)
	if err != nil {
		return ""
	}
	sts, err := parseScontrol(out)
	if err != nil {
		return ""
	}
	for _, s := range sts {
		if s.ID == id {
			return s.ExitCode
		}
	}
	return ""
}

// stateOf finds the state of job id. Elements of a job array that ended
// before they were split off (cancelled while pending) have no record of
// their own: the array's remaining record, listed under the bare array
// job id, holds their state.
func stateOf(states map[string]JobState, id string) (JobState, bool) {
	if s, ok := states[id]; ok {
		return s, true
	}
	if base, _, ok := strings.Cut(id, "_"); ok {
		if s, ok := states[base]; ok && classify(s.State) != classActive {
			s.ID = id
			return s, true
		}
	}
	return JobState{}, false
}

// poll asks Slurm about every active job once and applies what it says.
// It returns whether anything changed. An error means squeue kept failing
// for longer than giveUpAfter.
func (tr *tracker) poll(ctx context.Context) (bool, error) {
	act := tr.active()
	if len(act) == 0 {
		return false, nil
	}
	states, err := tr.squeue(ctx, act)
	now := tr.now()
	if err != nil {
		if ctx.Err() != nil {
			return false, nil
		}
		if tr.failSince.IsZero() {
			tr.failSince = now
		}
		if now.Sub(tr.failSince) >= tr.giveUpAfter {
			return false, fmt.Errorf("asking Slurm about the jobs failed for %s: %w; the jobs may still run: `ccq status --follow` re-attaches, `ccq cancel` cancels them", tr.giveUpAfter, err)
		}
		if now.Sub(tr.lastWarn) >= time.Minute {
			tr.lastWarn = now
			tr.log.Warn("slurm: squeue failed; trying again", "err", err)
		}
		return false, nil
	}
	tr.failSince = time.Time{}
	var missing []*job
	for _, j := range act {
		if _, ok := stateOf(states, j.rec.JobID); !ok {
			missing = append(missing, j)
		}
	}
	for id, s := range tr.sacct(ctx, missing) {
		states[id] = s
	}
	before := tr.changes
	var kill []string
	for _, j := range act {
		if j.final {
			continue // ended by an input's failure in this loop
		}
		s, ok := stateOf(states, j.rec.JobID)
		kill = append(kill, tr.apply(ctx, j, s, ok)...)
	}
	if len(kill) > 0 {
		tr.scancel(ctx, kill)
	}
	return tr.changes != before, nil
}

// apply moves j according to Slurm's state s (found false: Slurm does not
// know the job any more). It returns job ids to scancel.
func (tr *tracker) apply(ctx context.Context, j *job, s JobState, found bool) []string {
	r := j.rec
	now := tr.now()
	if !found {
		if e := tr.lookup(j); e != nil {
			tr.started(j, time.Time{})
			return tr.finish(j, pipeline.StatusDone, "", e)
		}
		if now.Sub(r.Submitted) < tr.lostAfter {
			return nil
		}
		return tr.finish(j, pipeline.StatusFailed, fmt.Sprintf("slurm job %s is no longer known to Slurm (it ended longer ago than the controller remembers and there is no job accounting, or the controller lost it) and stage %s left no store entry; run again to resubmit it", r.JobID, r.Stage), nil)
	}
	if r.Slurm == nil || *r.Slurm != s {
		cp := s
		r.Slurm = &cp
		tr.touch()
	}
	switch classify(s.State) {
	case classActive:
		switch s.State {
		case "PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD":
			if s.Reason == "DependencyNeverSatisfied" {
				st, why := depProblem(j)
				if st == "" {
					st, why = pipeline.StatusSkipped, "a job it waits for did not succeed (DependencyNeverSatisfied)"
				}
				return append([]string{r.JobID}, tr.finish(j, st, why+"; slurm job "+r.JobID+" cancelled", nil)...)
			}
			if r.Status != pipeline.StatusPending {
				r.Status = pipeline.StatusPending
				tr.touch()
			}
		default: // RUNNING, COMPLETING, CONFIGURING, SUSPENDED, ...
			tr.started(j, s.Start)
			if r.Status != pipeline.StatusRunning {
				r.Status = pipeline.StatusRunning
				tr.touch()
			}
			tr.progress(j)
		}
		return nil
	case classCompleted:
		tr.started(j, s.Start)
		if e := tr.lookup(j); e != nil {
			return tr.finish(j, pipeline.StatusDone, "", e)
		}
		if j.completed.IsZero() {
			j.completed = now
		}
		if now.Sub(j.completed) < tr.storeGrace {
			return nil // a shared file system may show the entry late
		}
		return tr.finish(j, pipeline.StatusFailed, fmt.Sprintf("slurm job %s completed but the store entry of %s (%s/%s) did not appear here within %s: is the store on a file system shared with the nodes?", r.JobID, r.Stage, r.Kind, r.Key, tr.storeGrace), nil)
	case classCancelled:
		if s.Reason == "DependencyNeverSatisfied" {
			st, why := depProblem(j)
			if st == "" {
				st, why = pipeline.StatusSkipped, "a job it waits for did not succeed (DependencyNeverSatisfied)"
			}
			return tr.finish(j, st, why, nil)
		}
		if e := tr.lookup(j); e != nil {
			return tr.finish(j, pipeline.StatusDone, "", e)
		}
		if !s.Start.IsZero() && !s.End.IsZero() && s.End.After(s.Start) {
			tr.started(j, s.Start)
		}
		return tr.finish(j, pipeline.StatusCancelled, fmt.Sprintf("slurm job %s was cancelled (scancel, ccq cancel or an administrator); run again to resubmit it", r.JobID), nil)
	default: // classFailed
		tr.started(j, s.Start)
		if e := tr.lookup(j); e != nil {
			// The stage committed before Slurm ended the job: its work is kept.
			return tr.finish(j, pipeline.StatusDone, "", e)
		}
		if s.ExitCode == "" && s.State == "FAILED" {
			s.ExitCode = tr.exitCode(ctx, r.JobID)
		}
		msg := failureText(r.JobID, s, tr.jf.TimeLimit)
		if last := lastError(r.Log); last != "" {
			msg += ": " + last
		}
		return tr.finish(j, pipeline.StatusFailed, msg, nil)
	}
}

// scancel cancels jobs, logging (not returning) failures: a job that
// already ended cannot be cancelled and needs nothing more.
func (tr *tracker) scancel(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	sort.Strings(ids)
	_, err := tr.cmd.run(ctx, 0, "scancel", "", ids...)
	if err != nil {
		tr.log.Warn("slurm: scancel failed", "jobs", strings.Join(ids, ","), "err", err)
	}
	return err
}

// cancelAll cancels every active job and ends every unfinished stage as
// cancelled with reason.
func (tr *tracker) cancelAll(ctx context.Context, reason string) {
	var ids []string
	for _, j := range tr.active() {
		ids = append(ids, j.rec.JobID)
	}
	note := ""
	if err := tr.scancel(ctx, ids); err != nil {
		note = fmt.Sprintf(" (scancel failed: %v; the job may still run)", err)
	}
	for _, j := range tr.jobs {
		if j.final {
			continue
		}
		msg := reason
		if j.rec.JobID != "" {
			msg += "; slurm job " + j.rec.JobID + " cancelled" + note
		}
		tr.finish(j, pipeline.StatusCancelled, msg, nil)
	}
}

// next pops the oldest undelivered result.
func (tr *tracker) next() (pipeline.Result, bool) {
	if len(tr.out) == 0 {
		return pipeline.Result{}, false
	}
	r := tr.out[0]
	tr.out[0] = pipeline.Result{}
	tr.out = tr.out[1:]
	return r, true
}

// save writes jobs.json if something changed.
func (tr *tracker) save() error {
	if tr.dir == "" || !tr.dirty {
		return nil
	}
	if err := tr.jf.write(tr.dir); err != nil {
		return err
	}
	tr.dirty = false
	tr.saved = tr.now()
	return nil
}

// saveSoon is save at most once a second (while submitting many jobs).
func (tr *tracker) saveSoon() error {
	if tr.now().Sub(tr.saved) < time.Second {
		return nil
	}
	return tr.save()
}

// progress sends the stage's latest progress line from its log, if new.
func (tr *tracker) progress(j *job) {
	if tr.obs == nil {
		return
	}
	f, msg, ok := lastProgress(j.rec.Log, j.rec.Stage)
	if !ok || (f == j.fraction && msg == j.message) {
		return
	}
	j.fraction, j.message = f, msg
	tr.obs.Observe(pipeline.Event{Time: tr.now(), Type: pipeline.EventProgress, Stage: j.rec.Stage, Kind: j.rec.Kind, Fraction: f, Message: msg})
}

// progressRe matches the progress lines `ccq stage exec` prints (the
// plain reporter of pipeline/progress): "15:04:05       <stage>  42%: msg".
var progressRe = regexp.MustCompile(`^[0-9]{2}:[0-9]{2}:[0-9]{2} +(\S+) +([0-9]{1,3})%(?:: (.*))?$`)

// lastProgress returns the last progress line of stage in a log.
func lastProgress(path, stage string) (float64, string, bool) {
	b := tailOf(path, 16<<10)
	lines := bytes.Split(b, []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		m := progressRe.FindStringSubmatch(strings.TrimRight(string(lines[i]), "\r"))
		if m == nil || m[1] != stage {
			continue
		}
		pct, err := strconv.Atoi(m[2])
		if err != nil || pct > 100 {
			continue
		}
		return float64(pct) / 100, m[3], true
	}
	return 0, "", false
}

// tailOf returns up to the last n bytes of a file (nil on error).
func tailOf(path string, n int64) []byte {
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		if _, err := f.Seek(fi.Size()-n, io.SeekStart); err != nil {
			return nil
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, n))
	if err != nil {
		return nil
	}
	return b
}

// lastError returns the last "ccq: ..." line of a stage log (the error
// `ccq stage exec` printed), or "".
func lastError(path string) string {
	lines := bytes.Split(tailOf(path, 64<<10), []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(string(lines[i]))
		if rest, ok := strings.CutPrefix(l, "ccq: "); ok {
			if k := strings.LastIndex(rest, " (log: "); k > 0 {
				rest = rest[:k]
			}
			if len(rest) > 500 {
				rest = rest[:500] + "..."
			}
			return rest
		}
	}
	return ""
}
