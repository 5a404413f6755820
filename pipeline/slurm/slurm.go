// Package slurm is the pipeline executor that runs stages as Slurm jobs.
//
// Every stage to run is written as a task file (runs/<exp>/tasks/) and
// submitted with sbatch as a job running `ccq stage exec <task file>` on a
// node; a stage's inputs that are still to run become afterok dependencies
// (with --kill-on-invalid-dep), and independent stages of the same kind,
// CPU count and inputs go together as a job array. Job states come from
// squeue (which remembers finished jobs for a while), from sacct when the
// cluster keeps job accounting, and from the store, which alone decides
// whether a stage is done. The jobs of a submission are recorded in
// runs/<exp>/jobs.json, so `ccq status` can show them, `ccq cancel` can
// cancel them, a detached submission can be followed later, and a new
// `ccq run` adopts jobs still queued for the same stage instead of
// submitting them twice. The store and the results folder must be on a
// file system the nodes share.
package slurm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/experiment"
)

// Options configure the Slurm executor. The zero value submits to the
// cluster's default partition and account with no time limit, one CPU
// per stage thread, job arrays on.
type Options struct {
	// Partition, Account and Time are sbatch's --partition, --account and
	// --time ("" leaves the cluster's default). Time is minutes, MM:SS,
	// HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS or UNLIMITED.
	Partition string
	Account   string
	Time      string
	// CPUsPerStage, when above 0, is every job's --cpus-per-task (and the
	// thread count the stage is told to use); otherwise each stage gets the
	// threads its kind declares.
	CPUsPerStage int
	// Args are extra sbatch options given to every job ("--mem=8G", "--qos=long").
	Args []string
	// Binary is the executable the jobs run as `Binary BinaryArgs... stage
	// exec FILE`. Empty means a copy of the running ccq in
	// <results>/bin/ccq-<digest> (see the package README).
	Binary     string
	BinaryArgs []string
	// BinDir is the folder holding sbatch, squeue, scontrol, sacct and
	// scancel; empty means $PATH.
	BinDir string
	// Env is added to the environment of Slurm's commands and, since
	// sbatch exports its environment, of the jobs ("NAME=value").
	Env []string
	// NoArrays submits one job per stage instead of job arrays.
	NoArrays bool
	// MaxArray caps the elements of one job array (default 1000, within
	// Slurm's default MaxArraySize of 1001).
	MaxArray int
	// Detach makes Wait return once every job is submitted: the jobs run
	// on, and Follow (ccq status --follow) watches them.
	Detach bool
	// PollMin and PollMax bound the interval between two squeue calls
	// while waiting (it grows from PollMin while nothing changes; defaults
	// 1s and 30s).
	PollMin, PollMax time.Duration
	// CommandTimeout bounds each squeue, scontrol and scancel call
	// (default 60s).
	CommandTimeout time.Duration
	// SubmitTimeout bounds each sbatch call (default CommandTimeout; sbatch
	// retries on its own while the queue is full).
	SubmitTimeout time.Duration
	// SacctTimeout bounds each sacct call (default 10s); a slow sacct is
	// left alone for 5 minutes.
	SacctTimeout time.Duration
	// LostAfter is how long after submission a job Slurm does not know is
	// waited for before its stage fails (default 1m).
	LostAfter time.Duration
	// StoreGrace is how long a COMPLETED job's store entry may take to
	// appear on this machine (shared file system caches; default 30s).
	StoreGrace time.Duration
	// GiveUpAfter is how long squeue may keep failing before Wait returns
	// an error (default 10m; the jobs run on).
	GiveUpAfter time.Duration
	// Logger receives warnings; slog.Default() if nil.
	Logger *slog.Logger
}

// FromConfig returns the options of an experiment's [executor.slurm] table.
func FromConfig(c experiment.Slurm) Options {
	return Options{Partition: c.Partition, Account: c.Account, Time: c.Time, CPUsPerStage: c.CPUsPerStage,
		Args: append([]string(nil), c.Args...)}
}

// Check validates the options.
func (o *Options) Check() error {
	var errs []error
	if o.Partition != "" {
		if err := checkName("partition", o.Partition); err != nil {
			errs = append(errs, err)
		}
	}
	if o.Account != "" {
		if err := checkName("account", o.Account); err != nil {
			errs = append(errs, err)
		}
	}
	if o.Time != "" {
		if err := CheckTime(o.Time); err != nil {
			errs = append(errs, err)
		}
	}
	if o.CPUsPerStage < 0 {
		errs = append(errs, fmt.Errorf("cpus per stage %d: expected 1 or more (0 for the stage's own thread count)", o.CPUsPerStage))
	}
	if o.MaxArray < 0 {
		errs = append(errs, fmt.Errorf("max array %d: expected 1 or more", o.MaxArray))
	}
	for _, a := range o.Args {
		if !strings.HasPrefix(a, "-") {
			errs = append(errs, fmt.Errorf("sbatch argument %q: expected an option starting with '-' (such as --mem=8G)", a))
		}
		for _, own := range []string{"--parsable", "--dependency", "--array", "--output", "--error", "--job-name", "--chdir", "--wrap"} {
			if a == own || strings.HasPrefix(a, own+"=") {
				errs = append(errs, fmt.Errorf("sbatch argument %q: ccq sets %s itself", a, own))
			}
		}
	}
	for _, kv := range o.Env {
		if i := strings.IndexByte(kv, '='); i <= 0 {
			errs = append(errs, fmt.Errorf("environment entry %q: expected NAME=value", kv))
		}
	}
	if o.Binary != "" && !filepath.IsAbs(o.Binary) {
		errs = append(errs, fmt.Errorf("binary %q: expected an absolute path (the jobs run elsewhere)", o.Binary))
	}
	return errors.Join(errs...)
}

// Executor runs a pipeline's tasks as Slurm jobs; it implements
// pipeline.Executor. Create it with New.
type Executor struct {
	opt Options
	log *slog.Logger

	mu       sync.Mutex
	ctx      context.Context
	env      pipeline.RunEnv
	cmd      *commander
	tr       *tracker
	binary   string
	groups   map[string]*group
	order    []*group
	old      map[string]*JobRecord // live jobs of the previous submission, by stage
	interval time.Duration
	flushed  bool
	stopped  bool
	// stuck is the first sbatch timeout: later submissions fail at once
	// instead of waiting as long again (a full queue).
	stuck error
}

// group is a job array being gathered: stages of one kind, CPU count and
// set of dependencies.
type group struct {
	key  string
	kind string
	cpus int
	jobs []*job
}

// New returns a Slurm executor after checking the options.
func New(opt Options) (*Executor, error) {
	if err := opt.Check(); err != nil {
		return nil, fmt.Errorf("slurm executor: %w", err)
	}
	if opt.MaxArray == 0 {
		opt.MaxArray = 1000
	}
	if opt.PollMin <= 0 {
		opt.PollMin = time.Second
	}
	if opt.PollMax < opt.PollMin {
		opt.PollMax = max(opt.PollMin, 30*time.Second)
	}
	if opt.CommandTimeout <= 0 {
		opt.CommandTimeout = time.Minute
	}
	if opt.SubmitTimeout <= 0 {
		opt.SubmitTimeout = opt.CommandTimeout
	}
	if opt.SacctTimeout <= 0 {
		opt.SacctTimeout = 10 * time.Second
	}
	if opt.LostAfter <= 0 {
		opt.LostAfter = time.Minute
	}
	if opt.StoreGrace <= 0 {
		opt.StoreGrace = 30 * time.Second
	}
	if opt.GiveUpAfter <= 0 {
		opt.GiveUpAfter = 10 * time.Minute
	}
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Executor{opt: opt, log: log}, nil
}

// Name is "slurm".
func (e *Executor) Name() string { return "slurm" }

// Detached reports whether Wait returns once everything is submitted.
func (e *Executor) Detached() bool { return e.opt.Detach }

func newCommander(opt Options, env []string) *commander {
	return &commander{binDir: opt.BinDir, env: env, timeout: opt.CommandTimeout}
}

func envValue(env []string, name string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], name+"="); ok {
			return v
		}
	}
	return ""
}

// Start implements pipeline.Executor: it checks that the controller
// answers, prepares the binary the jobs run, and reads the jobs of an
// earlier submission from the same results folder (jobs still queued or
// running for the same stage and key are adopted, not submitted again).
func (e *Executor) Start(ctx context.Context, env pipeline.RunEnv) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if env.Results == nil || env.Store == nil {
		return errors.New("slurm executor: a results folder and a store are required")
	}
	e.ctx, e.env = ctx, env
	e.groups = map[string]*group{}
	e.order, e.flushed, e.stopped = nil, false, false
	e.interval = e.opt.PollMin
	cenv := mergeEnv(os.Environ(), e.opt.Env)
	e.cmd = newCommander(e.opt, cenv)
	out, err := e.cmd.run(ctx, 0, "scontrol", "", "ping")
	if err != nil || !strings.Contains(out, "UP") {
		if err == nil {
			err = fmt.Errorf("scontrol ping: %s", oneLine(out))
		}
		return fmt.Errorf("the Slurm controller does not answer: %w", err)
	}
	e.binary = e.opt.Binary
	if e.binary == "" {
		if e.binary, err = stageBinary(env.Results.Dir); err != nil {
			return err
		}
	} else if _, err := os.Stat(e.binary); err != nil {
		return fmt.Errorf("slurm executor: binary: %w", err)
	}
	e.old = e.liveOldJobs(ctx)
	host, _ := os.Hostname()
	jf := &JobsFile{Submitted: time.Now().UTC(), Host: host, PID: os.Getpid(), Detached: e.opt.Detach,
		Store: env.Store.Root(), Binary: e.binary, SlurmConf: envValue(cenv, "SLURM_CONF"), TimeLimit: e.opt.Time}
	e.tr = newTracker(e.cmd, env.Store, jf, env.Results.Dir, env.Observer, e.log)
	e.tr.lostAfter, e.tr.storeGrace, e.tr.sacctTimeout, e.tr.giveUpAfter = e.opt.LostAfter, e.opt.StoreGrace, e.opt.SacctTimeout, e.opt.GiveUpAfter
	return nil
}

// liveOldJobs returns the jobs of the previous submission (jobs.json) that
// Slurm still has queued or running, by stage.
func (e *Executor) liveOldJobs(ctx context.Context) map[string]*JobRecord {
	old, err := ReadJobs(e.env.Results.Dir)
	if err != nil {
		if !errors.Is(err, ErrNoJobs) {
			e.log.Warn("slurm: ignoring the jobs file of the previous submission", "err", err)
		}
		return nil
	}
	var js []*job
	for _, r := range old.Jobs {
		if r.JobID != "" && !r.Status.Final() {
			js = append(js, &job{rec: r})
		}
	}
	if len(js) == 0 {
		return nil
	}
	tr := &tracker{cmd: e.cmd}
	states, err := tr.squeue(ctx, js)
	if err != nil {
		e.log.Warn("slurm: could not ask about the jobs of the previous submission; they will not be adopted", "err", err)
		return nil
	}
	byStage := map[string]*JobRecord{}
	for _, j := range js {
		if s, ok := states[j.rec.JobID]; ok && classify(s.State) == classActive {
			byStage[j.rec.Stage] = j.rec
		}
	}
	return byStage
}

// StageThreads implements pipeline.ThreadSizer: a stage's job gets
// CPUsPerStage CPUs when set, else the threads its kind asks for (the
// --jobs slots of the submitting machine do not limit it), and the stage
// runs on that many threads.
func (e *Executor) StageThreads(kindThreads int) int {
	if e.opt.CPUsPerStage > 0 {
		return e.opt.CPUsPerStage
	}
	return max(1, kindThreads)
}

// cpus is the --cpus-per-task of a task.
func (e *Executor) cpus(t *pipeline.Task) int { return e.StageThreads(t.Threads) }

// Submit implements pipeline.Executor. It writes the task file and submits
// the job, or, with job arrays on, holds the task until its array is
// complete (the job id is then "" here and known from jobs.json, the
// started event and the result).
func (e *Executor) Submit(t *pipeline.Task) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tr == nil {
		return "", errors.New("slurm executor: Submit before Start")
	}
	if e.flushed {
		return "", errors.New("slurm executor: Submit after Wait")
	}
	cpus := e.cpus(t)
	rec := &JobRecord{Stage: t.Name, Kind: t.Kind, Key: t.Key, After: append([]string(nil), t.After...),
		TaskFile: e.env.Results.TaskPath(t.Name), Log: t.LogPath, CPUs: cpus, Replace: t.Replace, Status: pipeline.StatusPending}
	j, err := e.tr.add(rec, t.Replace)
	if err != nil {
		return "", fmt.Errorf("slurm executor: %w", err)
	}
	j.estimate = t.Estimate
	if e.ctx.Err() != nil || e.stopped {
		e.tr.finish(j, pipeline.StatusCancelled, "run interrupted before it was submitted", nil)
		return "", nil
	}
	if st, why := depProblem(j); st != "" {
		e.tr.finish(j, st, why, nil)
		return "", nil
	}
	if old := e.old[t.Name]; old != nil && old.Kind == t.Kind && old.Key == t.Key && !t.Replace {
		delete(e.old, t.Name)
		rec.JobID, rec.Submitted, rec.Adopted = old.JobID, old.Submitted, true
		rec.Status, rec.Slurm = old.Status, old.Slurm
		if rec.Status == pipeline.StatusRunning {
			e.tr.started(j, old.Started)
		}
		e.log.Info("slurm: adopting a job of the previous submission", "stage", t.Name, "job", old.JobID)
		return old.JobID, nil
	}
	tt := *t
	tt.Threads = cpus
	if err := pipeline.WriteTaskFile(rec.TaskFile, &tt); err != nil {
		e.tr.remove(j)
		return "", err
	}
	if t.LogPath != "" {
		if err := os.MkdirAll(filepath.Dir(t.LogPath), 0o755); err != nil {
			e.tr.remove(j)
			return "", fmt.Errorf("log folder: %w", err)
		}
	}
	if e.opt.NoArrays {
		id, err := e.submitOne(j, e.depIDs(j))
		if err != nil {
			e.tr.remove(j)
			return "", err
		}
		return id, nil
	}
	// Inputs held in an open array must be submitted first.
	for _, d := range j.deps {
		for _, g := range e.order {
			if containsJob(g.jobs, d) {
				e.flush(g)
				break
			}
		}
	}
	key := groupKey(t.Kind, cpus, t.After)
	g := e.groups[key]
	if g == nil {
		g = &group{key: key, kind: t.Kind, cpus: cpus}
		e.groups[key] = g
		e.order = append(e.order, g)
	}
	g.jobs = append(g.jobs, j)
	if len(g.jobs) >= e.opt.MaxArray {
		e.flush(g)
	}
	return "", nil
}

func containsJob(js []*job, j *job) bool {
	for _, x := range js {
		if x == j {
			return true
		}
	}
	return false
}

func groupKey(kind string, cpus int, after []string) string {
	a := append([]string(nil), after...)
	sort.Strings(a)
	return kind + "\x00" + strconv.Itoa(cpus) + "\x00" + strings.Join(a, "\x00")
}

// depIDs lists the job ids j must wait for (inputs already done are left out).
func (e *Executor) depIDs(j *job) []string {
	var ids []string
	for _, d := range j.deps {
		if d.final || d.rec.JobID == "" {
			continue
		}
		ids = append(ids, d.rec.JobID)
	}
	return ids
}

// submitOne submits j as a job of its own and records its id.
func (e *Executor) submitOne(j *job, deps []string) (string, error) {
	args := e.sbatchArgs(j.rec.Stage, j.rec.CPUs, deps, 0, j.rec.Log)
	when := time.Now()
	out, err := e.sbatch(e.singleScript(j), args)
	if err != nil {
		return "", fmt.Errorf("sbatch for %s: %w", j.rec.Stage, err)
	}
	id, err := parseSubmit(out)
	if err != nil {
		return "", fmt.Errorf("sbatch for %s: %w", j.rec.Stage, err)
	}
	j.rec.JobID, j.rec.Submitted = id, when.UTC()
	e.tr.touch()
	if err := e.tr.saveSoon(); err != nil {
		e.log.Warn("slurm: writing jobs.json failed", "err", err)
	}
	return id, nil
}

// sbatch submits a script, or fails at once after an earlier sbatch timed out.
func (e *Executor) sbatch(script string, args []string) (string, error) {
	if e.stuck != nil {
		return "", fmt.Errorf("not submitted after an earlier sbatch failed: %w", e.stuck)
	}
	out, err := e.cmd.run(e.ctx, e.opt.SubmitTimeout, "sbatch", script, args...)
	var ce *CommandError
	if errors.As(err, &ce) && (ce.TimedOut || strings.Contains(ce.Stderr, "temporarily unable to accept job")) {
		e.stuck = err
	}
	return out, err
}

// flush submits an open group: one job, or a job array. A failed
// submission fails its stages (their results come from Wait).
func (e *Executor) flush(g *group) {
	delete(e.groups, g.key)
	for i, x := range e.order {
		if x == g {
			e.order = append(e.order[:i], e.order[i+1:]...)
			break
		}
	}
	var js []*job
	for _, j := range g.jobs {
		if j.final {
			continue
		}
		if e.ctx.Err() != nil || e.stopped {
			e.tr.finish(j, pipeline.StatusCancelled, "run interrupted before it was submitted", nil)
			continue
		}
		if st, why := depProblem(j); st != "" {
			e.tr.finish(j, st, why, nil)
			continue
		}
		js = append(js, j)
	}
	if len(js) == 0 {
		return
	}
	deps := e.depIDs(js[0]) // same inputs for every member
	if len(js) == 1 {
		if _, err := e.submitOne(js[0], deps); err != nil {
			e.tr.finish(js[0], pipeline.StatusFailed, "submit: "+err.Error(), nil)
		}
		return
	}
	args := e.sbatchArgs(g.kind, g.cpus, deps, len(js), e.arrayOutput(g.kind))
	if err := os.MkdirAll(filepath.Dir(e.arrayOutput(g.kind)), 0o755); err != nil {
		for _, j := range js {
			e.tr.finish(j, pipeline.StatusFailed, "submit: "+err.Error(), nil)
		}
		return
	}
	when := time.Now()
	out, err := e.sbatch(e.arrayScript(js), args)
	var id string
	if err == nil {
		id, err = parseSubmit(out)
	}
	if err != nil {
		msg := fmt.Sprintf("submit: sbatch for a job array of %d %s stages: %v", len(js), g.kind, err)
		for _, j := range js {
			e.tr.finish(j, pipeline.StatusFailed, msg, nil)
		}
		return
	}
	for i, j := range js {
		j.rec.JobID, j.rec.Submitted = id+"_"+strconv.Itoa(i), when.UTC()
	}
	e.tr.touch()
	if err := e.tr.saveSoon(); err != nil {
		e.log.Warn("slurm: writing jobs.json failed", "err", err)
	}
}

// flushAll submits every open group, in the order they were opened.
func (e *Executor) flushAll() {
	for len(e.order) > 0 {
		e.flush(e.order[0])
	}
	e.flushed = true
	// Jobs of the previous submission that were not adopted keep running;
	// record them so `ccq cancel` can still reach them.
	for _, r := range e.old {
		cp := *r
		cp.Orphan, cp.After = true, nil
		e.tr.jf.Jobs = append(e.tr.jf.Jobs, &cp)
		e.log.Warn("slurm: a job of the previous submission is still queued or running and is not part of this run", "stage", r.Stage, "job", r.JobID)
	}
	e.old = nil
	e.tr.touch()
	if err := e.tr.save(); err != nil {
		e.log.Warn("slurm: writing jobs.json failed", "err", err)
	}
}

// Wait implements pipeline.Executor: it submits what is still held, then
// polls Slurm until a stage reaches a final state. With Detach it returns
// ErrNoMoreResults once the jobs are submitted (after the results of
// stages that failed to submit or were skipped).
func (e *Executor) Wait() (pipeline.Result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tr == nil {
		return pipeline.Result{}, errors.New("slurm executor: Wait before Start")
	}
	if !e.flushed {
		e.flushAll()
	}
	for {
		if r, ok := e.tr.next(); ok {
			return r, nil
		}
		if e.tr.pending == 0 || e.opt.Detach {
			if err := e.tr.save(); err != nil {
				e.log.Warn("slurm: writing jobs.json failed", "err", err)
			}
			return pipeline.Result{}, pipeline.ErrNoMoreResults
		}
		if e.ctx.Err() != nil {
			e.stopped = true
			e.tr.cancelAll(context.WithoutCancel(e.ctx), "run interrupted")
			continue
		}
		changed, err := e.tr.poll(e.ctx)
		if serr := e.tr.save(); serr != nil {
			e.log.Warn("slurm: writing jobs.json failed", "err", serr)
		}
		if err != nil {
			return pipeline.Result{}, err
		}
		if len(e.tr.out) > 0 {
			continue
		}
		if changed {
			e.interval = e.opt.PollMin
		} else {
			e.interval = min(e.interval*2, e.opt.PollMax)
		}
		e.mu.Unlock()
		timer := time.NewTimer(e.interval)
		select {
		case <-timer.C:
		case <-e.ctx.Done():
			timer.Stop()
		}
		e.mu.Lock()
	}
}
