//go:build unix

package slurm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/slurm"
	"github.com/ccq-project/ccq/pipeline/slurm/internal/fakeslurm"
	"github.com/ccq-project/ccq/pipeline/store"
)

// fakeBinary is the executable linked as the fake Slurm commands and run
// by the fake jobs as `stage exec`: this test binary, or, under the race
// detector (whose start-up takes about a second per process here), the
// fake built without it.
var fakeBinary string

func TestMain(m *testing.M) {
	if slices.Contains(fakeslurm.Commands, filepath.Base(os.Args[0])) {
		os.Exit(fakeslurm.Main())
	}
	if os.Getenv("CCQ_SLURM_TEST_STAGE") == "1" && len(os.Args) == 4 && os.Args[1] == "stage" && os.Args[2] == "exec" {
		os.Exit(fakeslurm.StageExec(os.Args[3]))
	}
	os.Exit(func() int {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fakeBinary = exe
		if raceEnabled {
			dir, err := os.MkdirTemp("", "fakeslurm-")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer os.RemoveAll(dir)
			bin := filepath.Join(dir, "fakeslurm")
			cmd := exec.Command("go", "build", "-o", bin, "github.com/ccq-project/ccq/pipeline/slurm/internal/fakeslurm/cmd/fakeslurm")
			if out, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "building the fake Slurm without the race detector failed (%v: %s); the tests re-execute this slower binary\n", err, out)
			} else {
				fakeBinary = bin
			}
		}
		return m.Run()
	}())
}

// harness is a store, a results folder and a fake Slurm in a temporary folder.
type harness struct {
	t       *testing.T
	dir     string
	fake    string
	bin     string
	exe     string
	store   *store.Store
	results *pipeline.Results
	reg     *pipeline.Registry
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	dir := t.TempDir()
	exe := fakeBinary
	var err error
	h := &harness{t: t, dir: dir, fake: filepath.Join(dir, "fake"), bin: filepath.Join(dir, "bin"), exe: exe, reg: fakeslurm.Registry()}
	for _, d := range []string{h.fake, h.bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range fakeslurm.Commands {
		if err := os.Symlink(exe, filepath.Join(h.bin, c)); err != nil {
			t.Fatal(err)
		}
	}
	if h.store, err = store.Open(filepath.Join(dir, "store")); err != nil {
		t.Fatal(err)
	}
	if h.results, err = pipeline.OpenResults(filepath.Join(dir, "results", "exp")); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) config(c fakeslurm.Config) {
	h.t.Helper()
	b, _ := json.Marshal(c)
	if err := os.WriteFile(filepath.Join(h.fake, "config.json"), b, 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) env() []string {
	return []string{"FAKE_SLURM_DIR=" + h.fake, "CCQ_SLURM_TEST_STAGE=1"}
}

func (h *harness) options() slurm.Options {
	return slurm.Options{BinDir: h.bin, Binary: h.exe, Env: h.env(), Partition: "debug", Account: "lab", Time: "1:00:00",
		PollMin: time.Millisecond, PollMax: 5 * time.Millisecond, CommandTimeout: 20 * time.Second}
}

func (h *harness) follow() slurm.FollowOptions {
	return slurm.FollowOptions{BinDir: h.bin, Env: h.env(), PollMin: time.Millisecond, PollMax: 5 * time.Millisecond}
}

func (h *harness) plan(specs []pipeline.Spec) *pipeline.Plan {
	h.t.Helper()
	g, err := pipeline.NewGraph(specs)
	if err != nil {
		h.t.Fatal(err)
	}
	p, err := pipeline.MakePlan(g, pipeline.PlanOptions{Registry: h.reg, Store: h.store, History: h.results.History()})
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

// run runs specs through a Slurm executor with opt.
func (h *harness) run(ctx context.Context, specs []pipeline.Spec, opt slurm.Options, obs ...pipeline.Observer) (*pipeline.Summary, error) {
	h.t.Helper()
	ex, err := slurm.New(opt)
	if err != nil {
		h.t.Fatal(err)
	}
	return pipeline.Run(ctx, h.plan(specs), pipeline.RunOptions{Registry: h.reg, Store: h.store, Results: h.results,
		Executor: ex, Settings: pipeline.Settings{Experiment: "exp"}, Observers: obs})
}

func (h *harness) mustRun(specs []pipeline.Spec, opt slurm.Options, obs ...pipeline.Observer) *pipeline.Summary {
	h.t.Helper()
	sum, err := h.run(context.Background(), specs, opt, obs...)
	if err != nil {
		h.t.Fatal(err)
	}
	return sum
}

func (h *harness) fakeState() fakeslurm.State {
	h.t.Helper()
	var st fakeslurm.State
	b, err := os.ReadFile(filepath.Join(h.fake, "state.json"))
	if err != nil {
		h.t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		h.t.Fatal(err)
	}
	return st
}

// calls lists the fake commands called with this name.
func (h *harness) calls(name string) []string {
	var out []string
	for _, c := range h.fakeState().Calls {
		if strings.HasPrefix(c, name+" ") || c == name {
			out = append(out, c)
		}
	}
	return out
}

func (h *harness) jobs() *slurm.JobsFile {
	h.t.Helper()
	jf, err := slurm.ReadJobs(h.results.Dir)
	if err != nil {
		h.t.Fatal(err)
	}
	return jf
}

func record(jf *slurm.JobsFile, stage string) *slurm.JobRecord {
	for _, r := range jf.Jobs {
		if r.Stage == stage && !r.Orphan {
			return r
		}
	}
	return nil
}

func spec(name, kind string, params map[string]any, inputs map[string]string) pipeline.Spec {
	return pipeline.Spec{Name: name, Kind: kind, Params: pipeline.MustParams(params), Inputs: inputs}
}

// fanDAG: a -> b/1, b/2, b/3 (same kind and inputs: one job array) -> c.
func fanDAG() []pipeline.Spec {
	return []pipeline.Spec{
		spec("a", "touch", map[string]any{"n": 1}, nil),
		spec("b/1", "touch", map[string]any{"seed": 1}, map[string]string{"in": "a"}),
		spec("b/2", "touch", map[string]any{"seed": 2}, map[string]string{"in": "a"}),
		spec("b/3", "touch", map[string]any{"seed": 3}, map[string]string{"in": "a"}),
		spec("c", "touch", nil, map[string]string{"x": "b/1", "y": "b/2", "z": "b/3"}),
	}
}

func statuses(sum *pipeline.Summary) map[string]pipeline.Status {
	m := map[string]pipeline.Status{}
	for _, s := range sum.Stages {
		m[s.Name] = s.Status
	}
	return m
}

func stageState(sum *pipeline.Summary, name string) *pipeline.StageState {
	for _, s := range sum.Stages {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func wantStatuses(t *testing.T, sum *pipeline.Summary, want map[string]pipeline.Status) {
	t.Helper()
	got := statuses(sum)
	for n, w := range want {
		if got[n] != w {
			s := stageState(sum, n)
			t.Errorf("stage %s: %s, want %s (error %q, reason %q)", n, got[n], w, s.Error, s.Reason)
		}
	}
}

func TestArraysAndDependencies(t *testing.T) {
	h := newHarness(t)
	sum := h.mustRun(fanDAG(), h.options())
	if sum.Outcome != "ok" {
		t.Fatalf("outcome %s: %v", sum.Outcome, sum.Err())
	}
	wantStatuses(t, sum, map[string]pipeline.Status{"a": "done", "b/1": "done", "b/2": "done", "b/3": "done", "c": "done"})
	jf := h.jobs()
	a, b1, b3, c := record(jf, "a"), record(jf, "b/1"), record(jf, "b/3"), record(jf, "c")
	base, _, ok := strings.Cut(b1.JobID, "_")
	if !ok || b3.JobID != base+"_2" || record(jf, "b/2").JobID != base+"_1" {
		t.Errorf("b stages should be one job array: %s %s %s", b1.JobID, record(jf, "b/2").JobID, b3.JobID)
	}
	sb := h.calls("sbatch")
	if len(sb) != 3 {
		t.Fatalf("want 3 submissions (a, the b array, c), got %d: %q", len(sb), sb)
	}
	for _, want := range []string{"--partition=debug", "--account=lab", "--time=1:00:00", "--cpus-per-task=1", "--open-mode=append", "--job-name=a", "--output=" + h.results.LogPath("a")} {
		if !strings.Contains(sb[0], want) {
			t.Errorf("first sbatch %q lacks %s", sb[0], want)
		}
	}
	if strings.Contains(sb[0], "--dependency") {
		t.Errorf("a has no inputs to wait for: %q", sb[0])
	}
	if !strings.Contains(sb[1], "--array=0-2") || !strings.Contains(sb[1], "--dependency=afterok:"+a.JobID+" ") || !strings.Contains(sb[1], "--kill-on-invalid-dep=yes") {
		t.Errorf("array submission %q", sb[1])
	}
	for _, id := range []string{b1.JobID, record(jf, "b/2").JobID, b3.JobID} {
		if !strings.Contains(sb[2], id) {
			t.Errorf("c must wait for %s: %q", id, sb[2])
		}
	}
	// Every stage ran in a job and wrote its log there; entries are in the store.
	for _, n := range []string{"a", "b/1", "b/2", "b/3", "c"} {
		r := record(jf, n)
		if r.Status != pipeline.StatusDone || r.Entry == "" || r.Started.IsZero() || r.Finished.IsZero() {
			t.Errorf("record %s: %+v", n, r)
		}
		// The job's output (stage exec prints the entry) went to the stage log.
		log, err := os.ReadFile(h.results.LogPath(n))
		if err != nil || !strings.Contains(string(log), r.Entry) {
			t.Errorf("log of %s: %v %q", n, err, log)
		}
		if ss := stageState(sum, n); ss.JobID != r.JobID && ss.JobID != "" {
			t.Errorf("state.json job id of %s is %q, jobs.json %q", n, ss.JobID, r.JobID)
		}
		if _, err := h.store.Lookup("touch", r.Key); err != nil {
			t.Errorf("store entry of %s: %v", n, err)
		}
	}
	if c.JobID == "" || stageState(sum, "a").JobID != a.JobID {
		t.Errorf("job ids: a %q (state %q), c %q", a.JobID, stageState(sum, "a").JobID, c.JobID)
	}
	// The task file holds the CPU budget of the job.
	task, err := pipeline.ReadTaskFile(h.results.TaskPath("b/2"))
	if err != nil || task.Threads != 1 || task.Name != "b/2" {
		t.Errorf("task file: %v %+v", err, task)
	}

	// A second run has nothing to submit.
	sum = h.mustRun(fanDAG(), h.options())
	if !sum.NothingToDo || len(h.calls("sbatch")) != 3 {
		t.Errorf("second run: nothing to do %v, %d submissions", sum.NothingToDo, len(h.calls("sbatch")))
	}
}

func TestNoArraysAndCPUs(t *testing.T) {
	h := newHarness(t)
	opt := h.options()
	opt.NoArrays = true
	opt.CPUsPerStage = 3
	sum := h.mustRun(fanDAG(), opt)
	if sum.Outcome != "ok" {
		t.Fatalf("outcome %s: %v", sum.Outcome, sum.Err())
	}
	sb := h.calls("sbatch")
	if len(sb) != 5 {
		t.Fatalf("want 5 submissions, got %d", len(sb))
	}
	for _, c := range sb {
		if strings.Contains(c, "--array") || !strings.Contains(c, "--cpus-per-task=3") {
			t.Errorf("submission %q", c)
		}
	}
	jf := h.jobs()
	for _, s := range sum.Stages {
		if s.JobID == "" || s.JobID != record(jf, s.Name).JobID {
			t.Errorf("stage %s: state job id %q, jobs.json %q", s.Name, s.JobID, record(jf, s.Name).JobID)
		}
	}
	task, err := pipeline.ReadTaskFile(h.results.TaskPath("c"))
	if err != nil || task.Threads != 3 {
		t.Errorf("task threads: %v %+v", err, task)
	}
}

func TestFailureSkipsDependents(t *testing.T) {
	for _, arrays := range []bool{true, false} {
		h := newHarness(t)
		opt := h.options()
		opt.NoArrays = !arrays
		specs := []pipeline.Spec{
			spec("bad", "fail", map[string]any{"msg": "the loss exploded"}, nil),
			spec("after-bad", "touch", nil, map[string]string{"in": "bad"}),
			spec("after-after", "touch", nil, map[string]string{"in": "after-bad"}),
			spec("good", "touch", map[string]any{"x": 1}, nil),
		}
		sum := h.mustRun(specs, opt)
		wantStatuses(t, sum, map[string]pipeline.Status{"bad": "failed", "after-bad": "skipped", "after-after": "skipped", "good": "done"})
		bad := stageState(sum, "bad")
		if !strings.Contains(bad.Error, "slurm job") || !strings.Contains(bad.Error, "the loss exploded") || bad.Log != h.results.LogPath("bad") {
			t.Errorf("failure message %q, log %q", bad.Error, bad.Log)
		}
		if r := stageState(sum, "after-bad").Reason; !strings.Contains(r, "input bad failed") {
			t.Errorf("skip reason %q", r)
		}
		if sum.Outcome != "failed" || sum.Err() == nil {
			t.Errorf("outcome %s", sum.Outcome)
		}
		// The dependents' jobs were cancelled, not left pending forever.
		jf := h.jobs()
		ab := record(jf, "after-bad")
		if ab.JobID == "" || ab.Status != pipeline.StatusSkipped {
			t.Errorf("after-bad record %+v", ab)
		}
		for _, id := range []string{ab.JobID, record(jf, "after-after").JobID} {
			for _, j := range h.fakeState().Jobs {
				if j.ID == id && j.State != "CANCELLED" {
					t.Errorf("job %s of a skipped stage is %s", id, j.State)
				}
			}
		}
	}
}

func TestSchedulerKills(t *testing.T) {
	h := newHarness(t)
	h.config(fakeslurm.Config{Fate: map[string]string{"slow": "TIMEOUT", "lost": "NODE_FAIL", "fat": "OUT_OF_MEMORY"}})
	specs := []pipeline.Spec{
		spec("slow", "touch", map[string]any{"i": 1}, nil),
		spec("lost", "touch", map[string]any{"i": 2}, nil),
		spec("fat", "touch", map[string]any{"i": 3}, nil),
		spec("after-slow", "touch", nil, map[string]string{"in": "slow"}),
	}
	opt := h.options()
	opt.NoArrays = true
	sum := h.mustRun(specs, opt)
	wantStatuses(t, sum, map[string]pipeline.Status{"slow": "failed", "lost": "failed", "fat": "failed", "after-slow": "skipped"})
	for name, want := range map[string]string{"slow": "time limit (--time 1:00:00) (TIMEOUT)", "lost": "NODE_FAIL", "fat": "OUT_OF_MEMORY"} {
		if e := stageState(sum, name).Error; !strings.Contains(e, want) || !strings.Contains(e, "slurm job") {
			t.Errorf("%s: error %q lacks %q", name, e, want)
		}
	}

	// Running again resubmits only what did not finish.
	h.config(fakeslurm.Config{})
	before := len(h.calls("sbatch"))
	sum = h.mustRun(specs, opt)
	wantStatuses(t, sum, map[string]pipeline.Status{"slow": "done", "lost": "done", "fat": "done", "after-slow": "done"})
	if n := len(h.calls("sbatch")) - before; n != 4 {
		t.Errorf("second run submitted %d jobs, want 4", n)
	}
	sum = h.mustRun(append(specs, spec("new", "touch", map[string]any{"i": 9}, nil)), opt)
	if n := len(h.calls("sbatch")) - before; n != 5 || sum.Counts[pipeline.StatusCached] != 4 {
		t.Errorf("third run: %d submissions in all, %d cached", n, sum.Counts[pipeline.StatusCached])
	}
}

func TestSubmissionRejected(t *testing.T) {
	for _, arrays := range []bool{true, false} {
		h := newHarness(t)
		h.config(fakeslurm.Config{SbatchFail: "sbatch: error: Batch job submission failed: Invalid partition name specified"})
		opt := h.options()
		opt.NoArrays = !arrays
		sum := h.mustRun(fanDAG(), opt)
		wantStatuses(t, sum, map[string]pipeline.Status{"a": "failed", "b/1": "skipped", "c": "skipped"})
		if e := stageState(sum, "a").Error; !strings.Contains(e, "Invalid partition name specified") || !strings.Contains(e, "submit") {
			t.Errorf("arrays %v: error %q", arrays, e)
		}
	}
}

func TestQueueFull(t *testing.T) {
	h := newHarness(t)
	h.config(fakeslurm.Config{SbatchFail: "sbatch: error: Batch job submission failed: Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)", SbatchFailAfter: 2})
	specs := []pipeline.Spec{
		spec("s1", "touch", map[string]any{"i": 1}, nil),
		spec("s2", "touch", map[string]any{"i": 2}, map[string]string{"in": "s1"}),
		spec("s3", "touch", map[string]any{"i": 3}, map[string]string{"in": "s2"}),
		spec("s4", "touch", map[string]any{"i": 4}, map[string]string{"in": "s3"}),
	}
	sum := h.mustRun(specs, h.options())
	wantStatuses(t, sum, map[string]pipeline.Status{"s1": "done", "s2": "done", "s3": "failed", "s4": "skipped"})
	if e := stageState(sum, "s3").Error; !strings.Contains(e, "job submit limit") {
		t.Errorf("error %q", e)
	}
}

// TestQueueFullRefused: sbatch gives up by itself after its retries.
func TestQueueFullRefused(t *testing.T) {
	h := newHarness(t)
	h.config(fakeslurm.Config{SbatchFail: "sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying\nsbatch: error: Batch job submission failed: Resource temporarily unavailable"})
	opt := h.options()
	opt.NoArrays = true
	sum := h.mustRun([]pipeline.Spec{spec("a", "touch", map[string]any{"i": 1}, nil), spec("b", "touch", map[string]any{"i": 2}, nil)}, opt)
	wantStatuses(t, sum, map[string]pipeline.Status{"a": "failed", "b": "failed"})
	for _, n := range []string{"a", "b"} {
		if e := stageState(sum, n).Error; !strings.Contains(e, "the Slurm queue is full") || !strings.Contains(e, "Resource temporarily unavailable") {
			t.Errorf("%s: error %q", n, e)
		}
	}
	if n := len(h.calls("sbatch")); n != 1 {
		t.Errorf("sbatch called %d times, want 1", n)
	}
}

func TestCommandTimeout(t *testing.T) {
	h := newHarness(t)
	h.config(fakeslurm.Config{Hang: []string{"sbatch"}})
	opt := h.options()
	opt.SubmitTimeout = 300 * time.Millisecond
	sum := h.mustRun([]pipeline.Spec{spec("a", "touch", nil, nil)}, opt)
	wantStatuses(t, sum, map[string]pipeline.Status{"a": "failed"})
	if e := stageState(sum, "a").Error; !strings.Contains(e, "sbatch did not answer within 300ms") {
		t.Errorf("error %q", e)
	}
}

// TestFullQueue: sbatch keeps retrying while the controller refuses jobs
// (MaxJobCount reached). The first submission times out with a clear
// message; the others fail at once instead of waiting as long again.
func TestFullQueue(t *testing.T) {
	h := newHarness(t)
	h.config(fakeslurm.Config{Hang: []string{"sbatch"}, SbatchFail: "sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying"})
	opt := h.options()
	opt.SubmitTimeout = 300 * time.Millisecond
	specs := []pipeline.Spec{
		spec("a", "touch", map[string]any{"i": 1}, nil),
		spec("b", "fail", nil, nil),
		spec("c", "touch", nil, map[string]string{"in": "a"}),
	}
	sum := h.mustRun(specs, opt)
	wantStatuses(t, sum, map[string]pipeline.Status{"a": "failed", "b": "failed", "c": "skipped"})
	for _, n := range []string{"a", "b"} {
		if e := stageState(sum, n).Error; !strings.Contains(e, "the Slurm queue is full") {
			t.Errorf("%s: error %q", n, e)
		}
	}
	hangs, _ := os.ReadFile(filepath.Join(h.fake, "hangs"))
	if n := strings.Count(string(hangs), "sbatch"); n != 1 {
		t.Errorf("sbatch called %d times; after the first timeout the others should fail at once", n)
	}
}

func TestControllerDown(t *testing.T) {
	h := newHarness(t)
	h.config(fakeslurm.Config{PingDown: true})
	_, err := h.run(context.Background(), fanDAG(), h.options())
	if err == nil || !strings.Contains(err.Error(), "controller does not answer") {
		t.Fatalf("err %v", err)
	}
	h.config(fakeslurm.Config{})
	opt := h.options()
	opt.BinDir = filepath.Join(h.dir, "nowhere")
	_, err = h.run(context.Background(), fanDAG(), opt)
	if err == nil || !strings.Contains(err.Error(), "scontrol not found") {
		t.Fatalf("err %v", err)
	}
}

func TestSqueueFailingGivesUp(t *testing.T) {
	h := newHarness(t)
	h.config(fakeslurm.Config{SqueueFail: "squeue: error: Unable to contact slurm controller (connect failure)"})
	opt := h.options()
	opt.GiveUpAfter = time.Nanosecond
	_, err := h.run(context.Background(), []pipeline.Spec{spec("a", "touch", nil, nil)}, opt)
	if err == nil || !strings.Contains(err.Error(), "Unable to contact slurm controller") || !strings.Contains(err.Error(), "ccq cancel") {
		t.Fatalf("err %v", err)
	}
}

func TestPurgedJobs(t *testing.T) {
	specs := []pipeline.Spec{
		spec("ok", "touch", nil, nil),
		spec("bad", "fail", nil, nil),
	}
	fate := map[string]string{"ok": "PURGE", "bad": "PURGE"}
	// With accounting, sacct tells what happened to forgotten jobs.
	h := newHarness(t)
	h.config(fakeslurm.Config{Sacct: "ok", Fate: fate})
	opt := h.options()
	opt.NoArrays = true
	sum := h.mustRun(specs, opt)
	wantStatuses(t, sum, map[string]pipeline.Status{"ok": "done", "bad": "failed"})
	if e := stageState(sum, "bad").Error; !strings.Contains(e, "failed (exit code 1:0)") {
		t.Errorf("error %q", e)
	}
	if len(h.calls("sacct")) == 0 {
		t.Error("sacct was not asked")
	}
	// Without accounting, the store decides.
	h = newHarness(t)
	h.config(fakeslurm.Config{Fate: fate})
	opt = h.options()
	opt.NoArrays = true
	opt.LostAfter = time.Nanosecond
	sum = h.mustRun(specs, opt)
	wantStatuses(t, sum, map[string]pipeline.Status{"ok": "done", "bad": "failed"})
	if e := stageState(sum, "bad").Error; !strings.Contains(e, "no longer known to Slurm") {
		t.Errorf("error %q", e)
	}
	if n := len(h.calls("sacct")); n != 1 {
		t.Errorf("sacct asked %d times; once is enough to learn accounting is off", n)
	}
	// A sacct that hangs is cut off by its timeout.
	h = newHarness(t)
	h.config(fakeslurm.Config{Sacct: "ok", Fate: fate, Hang: []string{"sacct"}})
	opt = h.options()
	opt.NoArrays = true
	opt.LostAfter = time.Nanosecond
	opt.SacctTimeout = 100 * time.Millisecond
	sum = h.mustRun(specs, opt)
	wantStatuses(t, sum, map[string]pipeline.Status{"ok": "done", "bad": "failed"})
}

func TestCompletedWithoutEntry(t *testing.T) {
	h := newHarness(t)
	h.config(fakeslurm.Config{Fate: map[string]string{"a": "NOENTRY"}})
	opt := h.options()
	opt.StoreGrace = time.Nanosecond
	sum := h.mustRun([]pipeline.Spec{spec("a", "touch", nil, nil)}, opt)
	wantStatuses(t, sum, map[string]pipeline.Status{"a": "failed"})
	if e := stageState(sum, "a").Error; !strings.Contains(e, "completed but the store entry") {
		t.Errorf("error %q", e)
	}
}

// observer calls fn for each event (from the run's goroutine).
type observer func(pipeline.Event)

func (o observer) Observe(e pipeline.Event) { o(e) }

func TestScancelOneJob(t *testing.T) {
	h := newHarness(t)
	h.config(fakeslurm.Config{Fate: map[string]string{"long": "RUN"}})
	specs := []pipeline.Spec{
		spec("long", "touch", map[string]any{"i": 1}, nil),
		spec("after-long", "touch", nil, map[string]string{"in": "long"}),
		spec("short", "touch", map[string]any{"i": 2}, nil),
	}
	var wg sync.WaitGroup
	var rep *slurm.CancelReport
	var cerr error
	obs := observer(func(e pipeline.Event) {
		if e.Type == pipeline.EventStarted && e.Stage == "long" {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rep, cerr = slurm.Cancel(context.Background(), h.results.Dir, h.follow())
			}()
		}
	})
	opt := h.options()
	opt.NoArrays = true
	sum := h.mustRun(specs, opt, obs)
	wg.Wait()
	if cerr != nil {
		t.Fatal(cerr)
	}
	wantStatuses(t, sum, map[string]pipeline.Status{"long": "cancelled", "after-long": "cancelled", "short": "done"})
	if e := stageState(sum, "long").Reason; !strings.Contains(e, "was cancelled") {
		t.Errorf("reason %q", e)
	}
	if !rep.Attached || !slices.Contains(rep.Stages, "long") {
		t.Errorf("cancel report %+v", rep)
	}
}

func TestScancelPendingArray(t *testing.T) {
	h := newHarness(t)
	h.config(fakeslurm.Config{Fate: map[string]string{"a": "RUN", "b/1": "HOLD", "b/2": "HOLD", "b/3": "HOLD"}})
	specs := []pipeline.Spec{
		spec("a", "touch", nil, nil),
		spec("b/1", "touch", map[string]any{"seed": 1}, nil),
		spec("b/2", "touch", map[string]any{"seed": 2}, nil),
		spec("b/3", "touch", map[string]any{"seed": 3}, nil),
	}
	var once sync.Once
	obs := observer(func(e pipeline.Event) {
		if e.Type != pipeline.EventStarted || e.Stage != "a" {
			return
		}
		once.Do(func() {
			jf := h.jobs()
			args := []string{record(jf, "b/1").JobID, record(jf, "b/2").JobID, record(jf, "b/3").JobID, record(jf, "a").JobID}
			cmd := exec.Command(filepath.Join(h.bin, "scancel"), args...)
			cmd.Env = append(os.Environ(), h.env()...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("scancel: %v %s", err, out)
			}
		})
	})
	opt := h.options()
	opt.LostAfter = time.Nanosecond // a job Slurm did not report would fail, not wait
	sum := h.mustRun(specs, opt, obs)
	wantStatuses(t, sum, map[string]pipeline.Status{"a": "cancelled", "b/1": "cancelled", "b/2": "cancelled", "b/3": "cancelled"})
	for _, n := range []string{"b/1", "b/3"} {
		if r := stageState(sum, n).Reason; !strings.Contains(r, "was cancelled (scancel") {
			t.Errorf("%s: reason %q", n, r)
		}
	}
	// The fake collapsed the array as Slurm does: only its bare id is left.
	base, _, _ := strings.Cut(record(h.jobs(), "b/1").JobID, "_")
	if j := fakeFindIn(h.fakeState(), base); j == nil || j.State != "CANCELLED" || j.ID != base {
		t.Errorf("array record %+v", j)
	}
}

func fakeFindIn(st fakeslurm.State, id string) *fakeslurm.Job { return fakeslurm.Find(&st, id) }

func TestInterruptCancelsJobs(t *testing.T) {
	h := newHarness(t)
	h.config(fakeslurm.Config{Fate: map[string]string{"long": "RUN"}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	specs := []pipeline.Spec{
		spec("long", "touch", map[string]any{"i": 1}, nil),
		spec("after-long", "touch", nil, map[string]string{"in": "long"}),
	}
	obs := observer(func(e pipeline.Event) {
		if e.Type == pipeline.EventStarted && e.Stage == "long" {
			cancel()
		}
	})
	sum, err := h.run(ctx, specs, h.options(), obs)
	if err != nil {
		t.Fatal(err)
	}
	wantStatuses(t, sum, map[string]pipeline.Status{"long": "cancelled", "after-long": "cancelled"})
	if sum.Outcome != "interrupted" {
		t.Errorf("outcome %s", sum.Outcome)
	}
	for _, j := range h.fakeState().Jobs {
		if j.State != "CANCELLED" {
			t.Errorf("job %s (%s) is %s after the interrupt", j.ID, j.Stage, j.State)
		}
	}
}

// detach submits specs with a detached executor, as `ccq run --detach`
// does: the run state is left pending (written here as the runner would).
func (h *harness) detach(specs []pipeline.Spec) {
	h.t.Helper()
	opt := h.options()
	opt.Detach = true
	ex, err := slurm.New(opt)
	if err != nil {
		h.t.Fatal(err)
	}
	p := h.plan(specs)
	st := &pipeline.RunState{Format: pipeline.StateFormat, Experiment: "exp", Executor: "slurm", Started: time.Now().UTC().Add(-time.Second), Outcome: "detached"}
	for _, sp := range p.Stages {
		st.Stages = append(st.Stages, &pipeline.StageState{Name: sp.Name, Kind: sp.Kind, Key: sp.Key, Status: pipeline.StatusPending})
	}
	b, _ := json.Marshal(st)
	if err := os.WriteFile(h.results.StatePath(), b, 0o644); err != nil {
		h.t.Fatal(err)
	}
	if err := ex.Start(context.Background(), pipeline.RunEnv{Registry: h.reg, Store: h.store, Results: h.results}); err != nil {
		h.t.Fatal(err)
	}
	for _, sp := range p.Stages {
		t := &pipeline.Task{Format: pipeline.TaskFormat, Name: sp.Name, Kind: sp.Kind, KindVersion: sp.KindVersion, Key: sp.Key,
			Params: sp.Params, Threads: sp.Threads, Store: h.store.Root(), LogPath: h.results.LogPath(sp.Name), Settings: pipeline.Settings{Experiment: "exp"}}
		for in, up := range sp.Inputs {
			u := p.Stage(up)
			if t.Inputs == nil {
				t.Inputs = map[string]store.InputRef{}
			}
			t.Inputs[in] = store.InputRef{Stage: u.Name, Kind: u.Kind, Key: u.Key}
			t.After = append(t.After, u.Name)
		}
		slices.Sort(t.After)
		if _, err := ex.Submit(t); err != nil {
			h.t.Fatal(err)
		}
	}
	if _, err := ex.Wait(); err != pipeline.ErrNoMoreResults {
		h.t.Fatalf("detached Wait: %v", err)
	}
}

func TestDetachRefreshFollow(t *testing.T) {
	h := newHarness(t)
	h.config(fakeslurm.Config{Fate: map[string]string{"b/2": "HOLD"}})
	h.detach(fanDAG())
	jf := h.jobs()
	if !jf.Detached || len(jf.Jobs) != 5 || record(jf, "c").JobID == "" {
		t.Fatalf("jobs file %+v", jf)
	}
	// Refresh: one look; b/2 is held, so c waits.
	st, _, err := slurm.Refresh(context.Background(), h.results.Dir, h.follow())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]pipeline.Status{"a": "done", "b/1": "done", "b/2": "pending", "b/3": "done", "c": "pending"}
	for n, w := range want {
		if ss := st.Stage(n); ss.Status != w || ss.JobID == "" {
			t.Errorf("refresh: %s is %s (job %q), want %s", n, ss.Status, ss.JobID, w)
		}
	}
	if st.Outcome != "detached" {
		t.Errorf("outcome %s", st.Outcome)
	}
	// Release b/2 and follow to the end.
	h.config(fakeslurm.Config{})
	var events []string
	obs := observer(func(e pipeline.Event) {
		if e.Type == pipeline.EventFinished {
			events = append(events, e.Stage+" "+string(e.Status))
		}
	})
	fo := h.follow()
	fo.Observer = obs
	st, err = slurm.Follow(context.Background(), h.results.Dir, fo)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(events)
	if st.Outcome != "ok" || !slices.Equal(events, []string{"b/2 done", "c done"}) {
		t.Errorf("follow: outcome %s, events %q", st.Outcome, events)
	}
	onDisk, err := pipeline.ReadState(h.results.Dir)
	if err != nil || onDisk.Outcome != "ok" || onDisk.Stage("c").Status != pipeline.StatusDone || onDisk.Stage("c").Entry == "" {
		t.Errorf("state.json after follow: %v %+v", err, onDisk)
	}
}

func TestDetachedFailureFollow(t *testing.T) {
	h := newHarness(t)
	h.detach([]pipeline.Spec{
		spec("bad", "fail", nil, nil),
		spec("next", "touch", nil, map[string]string{"in": "bad"}),
	})
	st, err := slurm.Follow(context.Background(), h.results.Dir, h.follow())
	if err != nil {
		t.Fatal(err)
	}
	if st.Stage("bad").Status != pipeline.StatusFailed || st.Stage("next").Status != pipeline.StatusSkipped || st.Outcome != "failed" {
		t.Errorf("bad %s, next %s (%s), outcome %s", st.Stage("bad").Status, st.Stage("next").Status, st.Stage("next").Reason, st.Outcome)
	}
}

func TestCancelDetached(t *testing.T) {
	h := newHarness(t)
	h.config(fakeslurm.Config{Fate: map[string]string{"a": "HOLD"}})
	h.detach(fanDAG())
	rep, err := slurm.Cancel(context.Background(), h.results.Dir, h.follow())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Attached || len(rep.Cancelled) != 5 {
		t.Errorf("report %+v", rep)
	}
	sc := h.calls("scancel")
	if len(sc) != 1 || !strings.Contains(sc[0], record(h.jobs(), "a").JobID) {
		t.Errorf("scancel calls %q", sc)
	}
	st, err := pipeline.ReadState(h.results.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Stages {
		if s.Status != pipeline.StatusCancelled {
			t.Errorf("%s: %s", s.Name, s.Status)
		}
	}
	if st.Outcome != "failed" {
		t.Errorf("outcome %s", st.Outcome)
	}
	// Nothing left to cancel.
	rep, err = slurm.Cancel(context.Background(), h.results.Dir, h.follow())
	if err != nil || len(rep.Cancelled) != 0 || rep.Finished != 5 {
		t.Errorf("second cancel: %v %+v", err, rep)
	}
}

func TestCancelKeepsCommittedStages(t *testing.T) {
	h := newHarness(t)
	h.config(fakeslurm.Config{Fate: map[string]string{"x": "HOLD", "y": "HOLD"}})
	h.detach([]pipeline.Spec{spec("x", "touch", map[string]any{"i": 1}, nil), spec("y", "touch", map[string]any{"i": 2}, nil)})
	// x's job committed its entry, but nobody has looked since.
	task, err := pipeline.ReadTaskFile(h.results.TaskPath("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.Exec(context.Background(), task, pipeline.ExecOptions{Registry: h.reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := slurm.Cancel(context.Background(), h.results.Dir, h.follow()); err != nil {
		t.Fatal(err)
	}
	st, err := pipeline.ReadState(h.results.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Stage("x").Status != pipeline.StatusDone || st.Stage("x").Entry == "" || st.Stage("y").Status != pipeline.StatusCancelled {
		t.Errorf("x %+v, y %+v", st.Stage("x"), st.Stage("y"))
	}
}

func TestRerunAdoptsQueuedJobs(t *testing.T) {
	h := newHarness(t)
	h.config(fakeslurm.Config{Fate: map[string]string{"b/2": "HOLD2"}})
	h.detach(fanDAG())
	held := record(h.jobs(), "b/2").JobID
	cjob := record(h.jobs(), "c").JobID
	subs := len(h.calls("sbatch"))
	// a, b/1 and b/3 run; b/2 is held and c waits for it.
	if _, _, err := slurm.Refresh(context.Background(), h.results.Dir, h.follow()); err != nil {
		t.Fatal(err)
	}
	// `ccq run` again while b/2 and c are still queued: they are adopted.
	sum := h.mustRun(fanDAG(), h.options())
	if sum.Outcome != "ok" {
		t.Fatalf("outcome %s: %v", sum.Outcome, sum.Err())
	}
	if n := len(h.calls("sbatch")); n != subs {
		t.Errorf("%d new submissions, want none", n-subs)
	}
	jf := h.jobs()
	if r := record(jf, "b/2"); r.JobID != held || !r.Adopted || r.Status != pipeline.StatusDone {
		t.Errorf("b/2 record %+v", r)
	}
	if r := record(jf, "c"); r.JobID != cjob || !r.Adopted {
		t.Errorf("c record %+v", r)
	}
	if record(jf, "a") != nil {
		t.Error("a was cached and should not be in the new jobs file")
	}
}

func TestJobsFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := slurm.ReadJobs(dir); err == nil || !strings.Contains(err.Error(), "not run with the Slurm executor") {
		t.Errorf("missing: %v", err)
	}
	cases := map[string]string{
		`{`:                                   "unexpected end",
		`{"format":7,"jobs":[]}`:              "format 7",
		`{"format":1,"jobs":[{"stage":"a"}]}`: "stage, kind and key are required",
		`{"format":1,"jobs":[{"stage":"a","kind":"k","key":"x","job_id":"12;rm","status":"pending"}]}`: `job_id "12;rm"`,
		`{"format":1,"jobs":[{"stage":"a","kind":"k","key":"x","status":"weird"}]}`:                    `status "weird"`,
		`{"format":1,"jobs":[{"stage":"a","kind":"k","key":"x","status":"done","after":["z"]}]}`:       "waits for z",
	}
	for src, want := range cases {
		if err := os.WriteFile(slurm.JobsPath(dir), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := slurm.ReadJobs(dir)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "jobs.json") {
			t.Errorf("%s: err %v, want %q", src, err, want)
		}
	}
}
