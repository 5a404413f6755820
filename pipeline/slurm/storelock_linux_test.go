//go:build linux

package slurm_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/slurm"
	"github.com/ccq-project/ccq/pipeline/testkinds"
)

// TestSlurmJobWaitsForAnotherRunsStage: a local run in this process builds
// an entry; a Slurm run on the same store needs it. The Slurm job (another
// process, `stage exec`) waits on the entry's store lock instead of
// building it too, then uses the local run's entry. The test learns that
// the job reached the lock from inotify (the job's private lock file
// appearing in the lock folder), not from timing.
func TestSlurmJobWaitsForAnotherRunsStage(t *testing.T) {
	h := newHarness(t)
	specs := []pipeline.Spec{spec("shared", "touch", map[string]any{"n": 1}, nil)}
	// The local run's "touch" blocks until released and writes "released"
	// (same kind name and version as the job's touch: the same key).
	started := make(chan string, 2)
	release := make(chan struct{})
	regA := &pipeline.Registry{}
	regA.MustRegister(testkinds.Block{KindName: "touch", Started: started, Release: release})
	resA, err := pipeline.OpenResults(filepath.Join(h.dir, "results", "local"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := pipeline.NewGraph(specs)
	if err != nil {
		t.Fatal(err)
	}
	pA, err := pipeline.MakePlan(g, pipeline.PlanOptions{Registry: regA, Store: h.store})
	if err != nil {
		t.Fatal(err)
	}
	doneA := make(chan error, 1)
	go func() {
		sum, err := pipeline.Run(context.Background(), pA, pipeline.RunOptions{Registry: regA, Store: h.store, Results: resA, Jobs: 1})
		if err == nil {
			err = sum.Err()
		}
		doneA <- err
	}()
	<-started

	lockDir := filepath.Dir(h.store.LockPath("touch", pA.Stage("shared").Key))
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	ino := os.NewFile(uintptr(fd), "inotify")
	defer ino.Close()
	if _, err := unix.InotifyAddWatch(fd, lockDir, unix.IN_CREATE); err != nil {
		t.Fatal(err)
	}
	created := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		if _, err := ino.Read(buf); err == nil {
			close(created)
		}
	}()

	ex, err := slurm.New(h.options())
	if err != nil {
		t.Fatal(err)
	}
	pB := h.plan(specs)
	type result struct {
		sum *pipeline.Summary
		err error
	}
	doneB := make(chan result, 1)
	go func() {
		sum, err := pipeline.Run(context.Background(), pB, pipeline.RunOptions{Registry: h.reg, Store: h.store, Results: h.results,
			Executor: ex, Settings: pipeline.Settings{Experiment: "exp"}})
		doneB <- result{sum, err}
	}()
	select {
	case <-created:
	case r := <-doneB:
		t.Fatalf("the Slurm run ended without waiting for the stage the local run builds: %v %v", r.err, r.sum.Err())
	}
	close(release)
	if err := <-doneA; err != nil {
		t.Fatal(err)
	}
	r := <-doneB
	if r.err != nil || r.sum.Outcome != "ok" {
		t.Fatalf("Slurm run: %v %v", r.err, r.sum.Err())
	}
	st := stageState(r.sum, "shared")
	if b, err := os.ReadFile(filepath.Join(st.Entry, "out.txt")); err != nil || string(b) != "released\n" {
		t.Fatalf("the Slurm job's entry holds %q (%v), not the local run's output", b, err)
	}
}
