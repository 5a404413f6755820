package pipeline_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/store"
	"github.com/ccq-project/ccq/pipeline/testkinds"
)

// runResult is what a run started in a goroutine ends with.
type runResult struct {
	sum *pipeline.Summary
	err error
}

// goRun plans specs and runs them in a goroutine on its own results
// folder, with obs observing.
func goRun(t *testing.T, st *store.Store, resDir string, reg *pipeline.Registry, specs []pipeline.Spec, obs pipeline.Observer) <-chan runResult {
	t.Helper()
	res, err := pipeline.OpenResults(resDir)
	if err != nil {
		t.Fatal(err)
	}
	g, err := pipeline.NewGraph(specs)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.MakePlan(g, pipeline.PlanOptions{Registry: reg, Store: st, History: res.History()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan runResult, 1)
	go func() {
		var observers []pipeline.Observer
		if obs != nil {
			observers = append(observers, obs)
		}
		sum, err := pipeline.Run(context.Background(), p, pipeline.RunOptions{Registry: reg, Store: st, Results: res, Jobs: 2,
			Settings: pipeline.Settings{Experiment: filepath.Base(resDir)}, Observers: observers})
		done <- runResult{sum, err}
	}()
	return done
}

// waitingFor returns an observer that closes the returned channel when
// stage reports that it waits for the store lock, and one that receives
// the stage's final status.
func waitingFor(stage string) (pipeline.Observer, <-chan struct{}, <-chan pipeline.Status) {
	waiting := make(chan struct{})
	finished := make(chan pipeline.Status, 1)
	var once sync.Once
	return pipeline.ObserverFunc(func(e pipeline.Event) {
		if e.Stage != stage {
			return
		}
		switch {
		case e.Type == pipeline.EventProgress && strings.HasPrefix(e.Message, "waiting for ccq pid"):
			once.Do(func() { close(waiting) })
		case e.Type == pipeline.EventFinished:
			finished <- e.Status
		}
	}), waiting, finished
}

func stageState(t *testing.T, sum *pipeline.Summary, name string) *pipeline.StageState {
	t.Helper()
	for _, s := range sum.Stages {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no stage %s", name)
	return nil
}

// TestRunsSharingAStoreBuildAnEntryOnce: two runs in one process, with
// different results folders and one store, both need the same entry (under
// different stage names). The second waits for the first's stage and then
// uses its entry; the stage runs once.
func TestRunsSharingAStoreBuildAnEntryOnce(t *testing.T) {
	started := make(chan string, 4)
	release := make(chan struct{})
	rec := &testkinds.Recorder{}
	reg := &pipeline.Registry{}
	reg.MustRegister(testkinds.Block{Started: started, Release: release})
	reg.MustRegister(testkinds.Touch{Runs: rec})
	dir := t.TempDir()
	stA, err := store.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	stB, err := store.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	doneA := goRun(t, stA, filepath.Join(dir, "results", "a"), reg, []pipeline.Spec{
		spec("shared", "block", nil, nil),
		spec("a/after", "touch", map[string]any{"x": "a"}, map[string]string{"in": "shared"}),
	}, nil)
	if name := <-started; name != "shared" {
		t.Fatalf("started %s", name)
	}
	obs, waiting, _ := waitingFor("b/shared")
	doneB := goRun(t, stB, filepath.Join(dir, "results", "b"), reg, []pipeline.Spec{
		spec("b/shared", "block", nil, nil),
		spec("b/after", "touch", map[string]any{"x": "b"}, map[string]string{"in": "b/shared"}),
	}, obs)
	select {
	case <-waiting:
	case name := <-started:
		t.Fatalf("%s started while another run builds the same entry", name)
	case r := <-doneB:
		t.Fatalf("the second run ended without waiting: %v %v", r.err, r.sum.Err())
	}
	close(release)
	a, b := <-doneA, <-doneB
	for _, r := range []runResult{a, b} {
		if r.err != nil || r.sum.Outcome != "ok" {
			t.Fatalf("run: %v %v", r.err, r.sum.Err())
		}
	}
	if len(started) != 0 {
		t.Fatalf("the shared stage ran again as %s", <-started)
	}
	ea, eb := stageState(t, a.sum, "shared"), stageState(t, b.sum, "b/shared")
	if eb.Status != pipeline.StatusDone || eb.Entry == "" || eb.Entry != ea.Entry {
		t.Fatalf("second run's stage: %s, entry %q (first: %q)", eb.Status, eb.Entry, ea.Entry)
	}
	if rec.Count("a/after") != 1 || rec.Count("b/after") != 1 {
		t.Fatalf("downstream stages ran %v", rec.Names())
	}
}

// gateKind is the stage of the two-process tests. In the child it prints
// "started", waits for a line on stdin and writes out.txt "child"; in the
// parent it records its run and writes out.txt "parent".
type gateKind struct {
	child bool
	runs  *testkinds.Recorder
}

func (gateKind) Name() string                           { return "gate" }
func (gateKind) Version() string                        { return "1" }
func (gateKind) Threads(pipeline.Params) int            { return 1 }
func (gateKind) Estimate(pipeline.Params) time.Duration { return 0 }
func (k gateKind) Run(ctx context.Context, sc *pipeline.StageContext) error {
	who := "parent"
	if k.child {
		who = "child"
		fmt.Println("started")
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			return err
		}
	}
	k.runs.Add(sc.Name)
	return os.WriteFile(filepath.Join(sc.OutDir, "out.txt"), []byte(who), 0o644)
}

func gateSpecs(name string) []pipeline.Spec {
	return []pipeline.Spec{spec(name, "gate", map[string]any{"n": 1}, nil)}
}

// storeLockChild runs the gate stage in dir/store with the results folder
// dir/results/child (CCQ_CRASH_POINT "store-lock").
func storeLockChild(dir string) int {
	reg := &pipeline.Registry{}
	reg.MustRegister(gateKind{child: true})
	st, err := store.Open(filepath.Join(dir, "store"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	res, _ := pipeline.OpenResults(filepath.Join(dir, "results", "child"))
	g, _ := pipeline.NewGraph(gateSpecs("child/gate"))
	p, err := pipeline.MakePlan(g, pipeline.PlanOptions{Registry: reg, Store: st})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	sum, err := pipeline.Run(context.Background(), p, pipeline.RunOptions{Registry: reg, Store: st, Results: res, Jobs: 1})
	if err != nil || sum.Outcome != "ok" {
		fmt.Fprintln(os.Stderr, err, sum.Err())
		return 1
	}
	return 0
}

// startGateChild starts the child and waits for its stage to start.
func startGateChild(t *testing.T, dir string) (*os.Process, io.WriteCloser, func() error) {
	t.Helper()
	cmd := startChild(t, dir, "store-lock", 0)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	expectLine(t, bufio.NewReader(stdout), "started")
	return cmd.Process, stdin, cmd.Wait
}

// TestRunsInTwoProcessesBuildAnEntryOnce: a run in another process builds
// an entry; a run here needing it waits, then uses the other's entry.
func TestRunsInTwoProcessesBuildAnEntryOnce(t *testing.T) {
	dir := t.TempDir()
	_, stdin, wait := startGateChild(t, dir)
	rec := &testkinds.Recorder{}
	reg := &pipeline.Registry{}
	reg.MustRegister(gateKind{runs: rec})
	st, err := store.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	obs, waiting, finished := waitingFor("gate")
	done := goRun(t, st, filepath.Join(dir, "results", "parent"), reg, gateSpecs("gate"), obs)
	select {
	case <-waiting:
	case s := <-finished:
		t.Fatalf("the stage ended (%s) while another process builds its entry", s)
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	r := <-done
	if r.err != nil || r.sum.Outcome != "ok" || rec.Count("gate") != 0 {
		t.Fatalf("run: %v %v; ran here %d times", r.err, r.sum.Err(), rec.Count("gate"))
	}
	if b, err := os.ReadFile(filepath.Join(stageState(t, r.sum, "gate").Entry, "out.txt")); err != nil || string(b) != "child" {
		t.Fatalf("entry content %q %v", b, err)
	}
}

// TestStoreLockOfAKilledProcess: a process killed (SIGKILL) while building
// an entry leaves its lock file; the next run takes it over at once, says
// so in the stage log, and builds the entry.
func TestStoreLockOfAKilledProcess(t *testing.T) {
	dir := t.TempDir()
	proc, stdin, wait := startGateChild(t, dir)
	defer stdin.Close()
	if err := proc.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = wait()
	rec := &testkinds.Recorder{}
	reg := &pipeline.Registry{}
	reg.MustRegister(gateKind{runs: rec})
	st, err := store.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	r := <-goRun(t, st, filepath.Join(dir, "results", "parent"), reg, gateSpecs("gate"), nil)
	if r.err != nil || r.sum.Outcome != "ok" || rec.Count("gate") != 1 {
		t.Fatalf("run: %v %v; ran %d times", r.err, r.sum.Err(), rec.Count("gate"))
	}
	log, _ := os.ReadFile(stageState(t, r.sum, "gate").Log)
	if !strings.Contains(string(log), "took over a stale store lock") || !strings.Contains(string(log), fmt.Sprintf("pid %d", proc.Pid)) {
		t.Fatalf("stage log:\n%s", log)
	}
}
