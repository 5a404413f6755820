//go:build unix

package slurm_test

import (
	"context"
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

// realCluster skips unless CCQ_SLURM_TEST=1 names a reachable cluster
// (SLURM_CONF from .ci/slurm-up, or the machine's own configuration).
// The jobs run this test binary as their `ccq` (with the test stage kinds),
// so the results folder must be on a file system the nodes share: on a
// real cluster set CCQ_SLURM_TEST_DIR to a shared folder.
func realCluster(t testing.TB) *harness {
	t.Helper()
	if os.Getenv("CCQ_SLURM_TEST") != "1" {
		t.Skip("set CCQ_SLURM_TEST=1 (and SLURM_CONF, from .ci/slurm-up) to run against a real Slurm cluster")
	}
	if _, err := exec.LookPath("sbatch"); err != nil {
		t.Fatalf("CCQ_SLURM_TEST=1 but no sbatch: %v", err)
	}
	dir := os.Getenv("CCQ_SLURM_TEST_DIR")
	if dir == "" {
		dir = t.TempDir()
	} else {
		var err error
		if dir, err = os.MkdirTemp(dir, "ccq-slurm-e2e-"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{dir: dir, exe: exe, reg: fakeslurm.Registry()}
	switch tt := t.(type) {
	case *testing.T:
		h.t = tt
	}
	if h.store, err = store.Open(filepath.Join(dir, "store")); err != nil {
		t.Fatal(err)
	}
	if h.results, err = pipeline.OpenResults(filepath.Join(dir, "results", "exp")); err != nil {
		t.Fatal(err)
	}
	return h
}

func realOptions(h *harness) slurm.Options {
	return slurm.Options{Binary: h.exe, Env: []string{"CCQ_SLURM_TEST_STAGE=1"}, Partition: os.Getenv("CCQ_SLURM_PARTITION"),
		Time: "10", PollMin: 100 * time.Millisecond, PollMax: 500 * time.Millisecond, LostAfter: 5 * time.Minute}
}

func realFollow() slurm.FollowOptions {
	return slurm.FollowOptions{PollMin: 100 * time.Millisecond, PollMax: 500 * time.Millisecond}
}

// TestRealCluster runs a small experiment through a real Slurm: a job
// array between two dependent jobs, a failing stage (its dependent is
// skipped), a stage cancelled with scancel while it runs (ccq cancel),
// then a second run that has nothing to do, then a detached submission
// followed to the end.
func TestRealCluster(t *testing.T) {
	h := realCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	specs := append(fanDAG(),
		spec("bad", "fail", map[string]any{"msg": "synthetic failure on the cluster"}, nil),
		spec("after-bad", "touch", nil, map[string]string{"in": "bad"}),
		spec("long", "block", map[string]any{"i": 1}, nil),
		spec("after-long", "touch", nil, map[string]string{"in": "long"}),
	)
	// One scancel, of the job of "long" once it runs.
	var wg sync.WaitGroup
	var cerr error
	obs := observer(func(e pipeline.Event) {
		if e.Type == pipeline.EventStarted && e.Stage == "long" {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if out, err := exec.CommandContext(ctx, "scancel", e.JobID).CombinedOutput(); err != nil {
					cerr = fmt.Errorf("scancel %s: %v %s", e.JobID, err, out)
				}
			}()
		}
	})
	sum, err := h.run(ctx, specs, realOptions(h), obs)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if cerr != nil {
		t.Fatal(cerr)
	}
	wantStatuses(t, sum, map[string]pipeline.Status{"a": "done", "b/1": "done", "b/2": "done", "b/3": "done", "c": "done",
		"bad": "failed", "after-bad": "skipped", "long": "cancelled", "after-long": "cancelled"})
	if e := stageState(sum, "bad").Error; !strings.Contains(e, "synthetic failure on the cluster") || !strings.Contains(e, "slurm job") {
		t.Errorf("failure message %q", e)
	}
	jf, err := slurm.ReadJobs(h.results.Dir)
	if err != nil {
		t.Fatal(err)
	}
	b1 := record(jf, "b/1").JobID
	base, _, ok := strings.Cut(b1, "_")
	if !ok || record(jf, "b/3").JobID != base+"_2" {
		t.Errorf("b/* should be one job array: %s, %s", b1, record(jf, "b/3").JobID)
	}
	for _, n := range []string{"a", "b/1", "b/2", "b/3", "c"} {
		r := record(jf, n)
		if r.Status != pipeline.StatusDone || r.Entry == "" || r.Slurm == nil || r.Slurm.State != "COMPLETED" {
			t.Errorf("%s: %+v", n, r)
		}
		if log, err := os.ReadFile(r.Log); err != nil || !strings.Contains(string(log), r.Entry) {
			t.Errorf("log of %s: %v %q", n, err, log)
		}
	}
	if r := record(jf, "long"); r.Slurm == nil || r.Slurm.State != "CANCELLED" {
		t.Errorf("long: %+v", r)
	}

	// Unchanged: nothing to do. The failed and cancelled stages are what
	// a rerun would resubmit.
	p := h.plan(specs)
	var toRun []string
	for _, sp := range p.Stages {
		if sp.Status == pipeline.StatusToRun {
			toRun = append(toRun, sp.Name)
		}
	}
	slices.Sort(toRun)
	if !slices.Equal(toRun, []string{"after-bad", "after-long", "bad", "long"}) {
		t.Errorf("to run after the first run: %q", toRun)
	}

	// Detached submission, then follow (ccq status --follow).
	more := append(fanDAG(), spec("d/1", "touch", map[string]any{"d": 1}, map[string]string{"in": "c"}),
		spec("d/2", "touch", map[string]any{"d": 2}, map[string]string{"in": "d/1"}))
	h.detached(ctx, t, more)
	st, err := slurm.Follow(ctx, h.results.Dir, realFollow())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"d/1", "d/2"} {
		if ss := st.Stage(n); ss == nil || ss.Status != pipeline.StatusDone || ss.JobID == "" || ss.Entry == "" {
			t.Errorf("%s after follow: %+v", n, ss)
		}
	}
	if st.Outcome != "ok" {
		t.Errorf("outcome after follow: %s", st.Outcome)
	}

	// Detached submission, then ccq cancel: every job is cancelled.
	h.detached(ctx, t, []pipeline.Spec{spec("hang", "block", map[string]any{"i": 2}, nil),
		spec("after-hang", "touch", nil, map[string]string{"in": "hang"})})
	rep, err := slurm.Cancel(ctx, h.results.Dir, realFollow())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Attached || len(rep.Cancelled) != 2 {
		t.Errorf("cancel report %+v", rep)
	}
	st, err = pipeline.ReadState(h.results.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Stage("hang").Status != pipeline.StatusCancelled || st.Stage("after-hang").Status != pipeline.StatusCancelled {
		t.Errorf("after cancel: hang %s, after-hang %s", st.Stage("hang").Status, st.Stage("after-hang").Status)
	}
	// Slurm agrees (squeue remembers the cancelled jobs).
	out, err := exec.CommandContext(ctx, "squeue", "-h", "-t", "all", "-j", strings.Join(rep.Cancelled, ","), "-o", "%T").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range strings.Fields(string(out)) {
		if s != "CANCELLED" {
			t.Errorf("job state after ccq cancel: %s", out)
		}
	}
}

// detached runs specs through a detached Slurm executor.
func (h *harness) detached(ctx context.Context, t *testing.T, specs []pipeline.Spec) {
	t.Helper()
	opt := realOptions(h)
	opt.Detach = true
	ex, err := slurm.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := pipeline.Run(ctx, h.plan(specs), pipeline.RunOptions{Registry: h.reg, Store: h.store, Results: h.results,
		Executor: ex, Settings: pipeline.Settings{Experiment: "exp"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Failures) > 0 {
		t.Fatalf("detached submission: %v", sum.Err())
	}
}
