package pipeline_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/store"
	"github.com/ccq-project/ccq/pipeline/testkinds"
)

// TestMain lets the test binary act as a child ccq process for the kill
// tests (see crashChild).
func TestMain(m *testing.M) {
	if os.Getenv("CCQ_PIPELINE_CHILD") != "" {
		os.Exit(crashChild())
	}
	os.Exit(m.Run())
}

// crashSpecs is the DAG the crash child runs: touch stages and one
// checkpointing stage, in a fixed order (one job slot).
func crashSpecs() []pipeline.Spec {
	s := tree(1)
	s = append(s, spec("steps", "steps", map[string]any{"steps": 6, "seed": 7}, map[string]string{"in": "model/lenet"}))
	return s
}

func crashRegistry(onStep func(*pipeline.StageContext, int)) *pipeline.Registry {
	reg := &pipeline.Registry{}
	reg.MustRegister(testkinds.Touch{})
	reg.MustRegister(testkinds.Steps{OnStep: onStep})
	return reg
}

// crashChild runs crashSpecs in CCQ_PIPELINE_CHILD (a folder) and kills
// itself with SIGKILL at the Nth passage of point CCQ_CRASH_POINT
// (a store.Hook point, "step" for a step of the checkpointing stage, or
// "hold" to hold the results lock and wait for stdin to close).
func crashChild() int {
	dir := os.Getenv("CCQ_PIPELINE_CHILD")
	point := os.Getenv("CCQ_CRASH_POINT")
	n, _ := strconv.Atoi(os.Getenv("CCQ_CRASH_N"))
	hits := 0
	die := func(p string) {
		if p == point {
			hits++
			if hits == n {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}
	}
	store.Hook = die
	if point == "orphan" {
		return orphanChild()
	}
	if point == "signal" || point == "signal-stubborn" {
		return signalChild(dir, point == "signal-stubborn")
	}
	if point == "store-lock" {
		return storeLockChild(dir)
	}
	res, err := pipeline.OpenResults(filepath.Join(dir, "results"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if point == "hold" {
		l, err := res.Lock("child")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		fmt.Println("locked")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		_ = l.Release()
		return 0
	}
	st, err := store.Open(filepath.Join(dir, "store"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	reg := crashRegistry(func(_ *pipeline.StageContext, i int) { die("step") })
	g, err := pipeline.NewGraph(crashSpecs())
	if err != nil {
		return 2
	}
	p, err := pipeline.MakePlan(g, pipeline.PlanOptions{Registry: reg, Store: st, History: res.History()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	sum, err := pipeline.Run(context.Background(), p, pipeline.RunOptions{Registry: reg, Store: st, Results: res, Jobs: 1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if sum.Outcome != "ok" {
		return 1
	}
	return 0
}

func startChild(t *testing.T, dir, point string, n int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CCQ_PIPELINE_CHILD="+dir, "CCQ_CRASH_POINT="+point, "CCQ_CRASH_N="+strconv.Itoa(n))
	return cmd
}

// referenceOutputs runs crashSpecs once without interruption and returns
// each stage's output digests.
func outputsOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	st, err := store.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	g, _ := pipeline.NewGraph(crashSpecs())
	p, err := pipeline.MakePlan(g, pipeline.PlanOptions{Registry: crashRegistry(nil), Store: st})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range p.Stages {
		if s.Status != pipeline.StatusCached {
			t.Fatalf("%s is %s", s.Name, s.Status)
		}
		if err := s.Entry.Verify(); err != nil {
			t.Fatal(err)
		}
		out[s.Name] = fmt.Sprint(s.Entry.Manifest.Outputs)
	}
	return out
}

// TestKillAnyMoment kills a child run with SIGKILL at every commit step of
// every stage and at every step of the checkpointing stage, then checks
// that the store holds only complete entries, and that a new run keeps
// what was finished, resumes the checkpoint, and ends with the same
// outputs as an uninterrupted run.
func TestKillAnyMoment(t *testing.T) {
	refDir := t.TempDir()
	if out, err := startChild(t, refDir, "", 0).CombinedOutput(); err != nil {
		t.Fatalf("reference run: %v\n%s", err, out)
	}
	want := outputsOf(t, refDir)
	// The 8 stages commit in a fixed order (one slot); hit n of a point is
	// the commit of the nth stage. The points before the rename behave
	// alike, so they are tried at the first, a middle and the last stage.
	points := []struct {
		name string
		hits []int
	}{{"outputs-hashed", []int{1, 8}}, {"manifest-written", []int{4}}, {"before-rename", []int{1, 5, 8}},
		{"after-rename", []int{1, 2, 3, 4, 5, 6, 7, 8}}, {"step", []int{1, 2, 3, 4, 5, 6}}}
	if testing.Short() {
		points = points[2:4]
	}
	for _, pt := range points {
		for _, n := range pt.hits {
			dir := t.TempDir()
			err := startChild(t, dir, pt.name, n).Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("%s #%d: child was not killed: %v", pt.name, n, err)
			}
			st, _ := store.Open(filepath.Join(dir, "store"))
			// Every entry folder in place is complete; count them.
			kept := 0
			kinds, _ := os.ReadDir(st.Root())
			for _, k := range kinds {
				ents, _ := os.ReadDir(filepath.Join(st.Root(), k.Name()))
				for _, e := range ents {
					if strings.HasPrefix(e.Name(), ".") {
						continue
					}
					en, err := st.Lookup(k.Name(), e.Name())
					if err != nil {
						t.Fatalf("%s #%d: entry %s/%s left incomplete: %v", pt.name, n, k.Name(), e.Name(), err)
					}
					if err := en.Verify(); err != nil {
						t.Fatalf("%s #%d: %v", pt.name, n, err)
					}
					kept++
				}
			}
			if pt.name == "after-rename" && kept != n {
				t.Fatalf("after-rename #%d: %d entries kept", n, kept)
			}
			// The second run: the lock is stale, finished stages are cached,
			// the rest runs, the checkpoint resumes.
			rec := &testkinds.Recorder{}
			reg := &pipeline.Registry{}
			reg.MustRegister(testkinds.Touch{Runs: rec})
			reg.MustRegister(testkinds.Steps{Runs: rec, Executed: rec})
			res, _ := pipeline.OpenResults(filepath.Join(dir, "results"))
			g, _ := pipeline.NewGraph(crashSpecs())
			p, err := pipeline.MakePlan(g, pipeline.PlanOptions{Registry: reg, Store: st, History: res.History()})
			if err != nil {
				t.Fatal(err)
			}
			if c := p.Counts(); c[pipeline.StatusCached] != kept {
				t.Fatalf("%s #%d: %d entries but %d cached", pt.name, n, kept, c[pipeline.StatusCached])
			}
			sum, err := pipeline.Run(context.Background(), p, pipeline.RunOptions{Registry: reg, Store: st, Results: res, Jobs: 2})
			if err != nil || sum.Outcome != "ok" {
				t.Fatalf("%s #%d: resume: %v %v", pt.name, n, err, sum.Err())
			}
			if pt.name == "step" {
				// Killed after step n was checkpointed: only the rest is computed.
				if got := rec.Count("steps"); got != 1+(6-n) {
					t.Fatalf("step #%d: resumed run computed %d steps+runs, want %d", n, got, 1+6-n)
				}
			}
			if got := outputsOf(t, dir); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s #%d: outputs differ from the uninterrupted run:\n%v\n%v", pt.name, n, got, want)
			}
			// No temporary folder survives the second run's clean-up of dead processes.
			for _, k := range kinds {
				tmps, _ := os.ReadDir(filepath.Join(st.Root(), k.Name(), ".tmp"))
				if len(tmps) != 0 {
					t.Fatalf("%s #%d: temporary folders left in %s: %d", pt.name, n, k.Name(), len(tmps))
				}
			}
		}
	}
}

func TestCancelStopsSchedulingAndResumes(t *testing.T) {
	started := make(chan string, 10)
	release := make(chan struct{})
	rec := &testkinds.Recorder{}
	e := newEnv(t, testkinds.Block{Started: started, Release: release}, testkinds.Touch{Runs: rec}, testkinds.Steps{})
	e.jobs = 1
	specs := []pipeline.Spec{
		spec("slow", "block", nil, nil),
		spec("after", "touch", nil, map[string]string{"in": "slow"}),
		spec("other", "touch", map[string]any{"x": 1}, nil),
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	sum := e.run(ctx, e.plan(specs, nil), nil)
	got := finalStatuses(sum)
	if got["slow"] != pipeline.StatusCancelled || got["after"] != pipeline.StatusCancelled || got["other"] != pipeline.StatusCancelled {
		t.Fatalf("after cancel: %v", got)
	}
	if sum.Outcome != "interrupted" || sum.Err() == nil || len(rec.Names()) != 0 {
		t.Fatalf("outcome %s, ran %v", sum.Outcome, rec.Names())
	}
	close(release)
	sum = e.run(context.Background(), e.plan(specs, nil), nil)
	if sum.Outcome != "ok" || sum.Counts[pipeline.StatusDone] != 3 {
		t.Fatalf("resume: %+v", sum.Counts)
	}
}

func TestCheckpointResumeAfterCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	rec := &testkinds.Recorder{}
	kind := testkinds.Steps{Executed: rec, OnStep: func(_ *pipeline.StageContext, i int) {
		if i == 4 {
			cancel()
		}
	}}
	e := newEnv(t, kind)
	specs := []pipeline.Spec{spec("s", "steps", map[string]any{"steps": 10, "seed": 3}, nil)}
	sum := e.run(ctx, e.plan(specs, nil), nil)
	if sum.Outcome != "interrupted" || rec.Count("s") != 4 {
		t.Fatalf("outcome %s after %d steps", sum.Outcome, rec.Count("s"))
	}
	p := e.plan(specs, nil)
	if s := p.Stage("s"); !s.Resume || !strings.Contains(s.Reason, "checkpoint") {
		t.Fatalf("plan does not show the resume: %+v", s)
	}
	sum = e.run(context.Background(), p, nil)
	if sum.Outcome != "ok" || rec.Count("s") != 10 {
		t.Fatalf("resumed run: %s, %d steps in all", sum.Outcome, rec.Count("s"))
	}
	en, err := e.store.Lookup("steps", p.Stage("s").Key)
	if err != nil || !en.Manifest.Resumed {
		t.Fatalf("entry %v %+v", err, en)
	}
	if e.store.HasCheckpoint("steps", p.Stage("s").Key) {
		t.Error("checkpoint left after commit")
	}
	// Same result as an uninterrupted run.
	e2 := newEnv(t, testkinds.Steps{})
	e2.run(context.Background(), e2.plan(specs, nil), nil)
	en2, _ := e2.store.Lookup("steps", p.Stage("s").Key)
	a, _ := os.ReadFile(en.Path("result.txt"))
	b, _ := os.ReadFile(en2.Path("result.txt"))
	if len(a) == 0 || string(a) != string(b) {
		t.Fatalf("resumed result %q differs from uninterrupted %q", a, b)
	}
}

func TestLock(t *testing.T) {
	e := newEnv(t)
	l, err := e.results.Lock("first")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.results.Lock("second")
	var le *pipeline.ErrLocked
	if !errors.As(err, &le) || le.Info == nil || le.Info.PID != os.Getpid() || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second lock: %v", err)
	}
	// A run refuses too.
	g, _ := pipeline.NewGraph(nil)
	p, _ := pipeline.MakePlan(g, pipeline.PlanOptions{Registry: e.reg, Store: e.store})
	if _, err := pipeline.Run(context.Background(), p, pipeline.RunOptions{Store: e.store, Results: e.results}); !errors.As(err, &le) {
		t.Fatalf("run under a held lock: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l, err = e.results.Lock("third")
	if err != nil || l.TakenOver != nil {
		t.Fatalf("after release: %v %+v", err, l)
	}
	l.Release()
}

func TestLockHeldByLiveProcessThenCrashed(t *testing.T) {
	dir := t.TempDir()
	cmd := startChild(t, dir, "hold", 0)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if line != "locked\n" {
		t.Fatalf("child said %q", line)
	}
	res, _ := pipeline.OpenResults(filepath.Join(dir, "results"))
	_, err := res.Lock("me")
	var le *pipeline.ErrLocked
	if !errors.As(err, &le) || le.Info.PID != cmd.Process.Pid {
		t.Fatalf("live lock: %v", err)
	}
	info, alive, err := pipeline.ReadLock(res.LockPath())
	if err != nil || !alive || info.PID != cmd.Process.Pid {
		t.Fatalf("ReadLock: %+v %v %v", info, alive, err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	stdin.Close()
	l, err := res.Lock("me")
	if err != nil {
		t.Fatalf("stale lock not taken over: %v", err)
	}
	if l.TakenOver == nil || l.TakenOver.PID != cmd.Process.Pid {
		t.Fatalf("takeover not reported: %+v", l.TakenOver)
	}
	l.Release()
}

func TestTaskFileExec(t *testing.T) {
	rec := &testkinds.Recorder{}
	e := newEnv(t, testkinds.Touch{Runs: rec})
	specs := tree(1)[:2]
	e.run(context.Background(), e.plan(specs[:1], nil), nil)
	p := e.plan(specs, nil)
	sp := p.Stage("model/lenet")
	task := &pipeline.Task{Format: pipeline.TaskFormat, Name: sp.Name, Kind: sp.Kind, KindVersion: sp.KindVersion, Key: sp.Key,
		Params: sp.Params, Store: e.store.Root(), LogPath: e.results.LogPath(sp.Name), Threads: 1,
		Inputs: map[string]store.InputRef{"data": {Stage: "data/mnist", Kind: "touch", Key: p.Stage("data/mnist").Key}}}
	path := e.results.TaskPath(sp.Name)
	if err := pipeline.WriteTaskFile(path, task); err != nil {
		t.Fatal(err)
	}
	got, err := pipeline.ReadTaskFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the second exec finds the entry and does nothing
		en, err := pipeline.Exec(context.Background(), got, pipeline.ExecOptions{Registry: e.reg})
		if err != nil || en.Manifest.Key != sp.Key {
			t.Fatalf("exec: %v", err)
		}
	}
	if rec.Count("model/lenet") != 1 {
		t.Fatalf("ran %d times", rec.Count("model/lenet"))
	}
	if e.plan(specs, nil).Stage("model/lenet").Status != pipeline.StatusCached {
		t.Fatal("exec'd entry not cached")
	}
	// A missing input is a clear error.
	task.Inputs["data"] = store.InputRef{Stage: "data/mnist", Kind: "touch", Key: "0123"}
	task.Key = "fff"
	if _, err := pipeline.Exec(context.Background(), task, pipeline.ExecOptions{Registry: e.reg}); err == nil || !strings.Contains(err.Error(), "input data") {
		t.Fatalf("missing input: %v", err)
	}
}

func TestThreadsWithinSlots(t *testing.T) {
	// Stages declaring more threads than slots still run (clamped), and
	// many independent stages all finish.
	e := newEnv(t, testkinds.Touch{NThreads: 8})
	var specs []pipeline.Spec
	for i := 0; i < 20; i++ {
		specs = append(specs, spec(fmt.Sprintf("s/%d", i), "touch", map[string]any{"i": i}, nil))
	}
	sum := e.run(context.Background(), e.plan(specs, nil), nil)
	if sum.Outcome != "ok" || sum.Counts[pipeline.StatusDone] != 20 {
		t.Fatalf("%+v", sum.Counts)
	}
}

// TestRerunDiscardsCheckpoint: --rerun and --force start a stage from
// scratch, whatever checkpoint it left (here one that would make it resume
// from a wrong state), and the plan says so.
func TestRerunDiscardsCheckpoint(t *testing.T) {
	rec := &testkinds.Recorder{}
	e := newEnv(t, testkinds.Steps{Executed: rec})
	specs := []pipeline.Spec{spec("s", "steps", map[string]any{"steps": 6, "seed": 3}, nil)}
	p := e.plan(specs, nil)
	if sum := e.run(context.Background(), p, nil); sum.Outcome != "ok" {
		t.Fatalf("first run: %s", sum.Outcome)
	}
	key := p.Stage("s").Key
	en, err := e.store.Lookup("steps", key)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(en.Path("result.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, force := range []func(*pipeline.PlanOptions){
		func(o *pipeline.PlanOptions) { o.Rerun = []string{"s"} },
		func(o *pipeline.PlanOptions) { o.Force = true },
	} {
		// A checkpoint at step 3 whose state is wrong.
		dir := e.store.CheckpointDir("steps", key)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		bad := append(binary.LittleEndian.AppendUint64(nil, 3), make([]byte, 32)...)
		if err := os.WriteFile(filepath.Join(dir, "state"), bad, 0o644); err != nil {
			t.Fatal(err)
		}
		p := e.plan(specs, force)
		if s := p.Stage("s"); s.Resume || !strings.Contains(s.Reason, "checkpoint is discarded") {
			t.Fatalf("plan of a forced stage with a checkpoint: resume %v, %q", s.Resume, s.Reason)
		}
		rec.Reset()
		if sum := e.run(context.Background(), p, nil); sum.Outcome != "ok" {
			t.Fatalf("forced run: %s", sum.Outcome)
		}
		if n := rec.Count("s"); n != 6 {
			t.Fatalf("the forced run computed %d steps, want all 6 (it resumed from the checkpoint)", n)
		}
		en, err := e.store.Lookup("steps", key)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(en.Path("result.txt")); string(got) != string(want) {
			t.Fatalf("forced run's result %q, want %q", got, want)
		}
		if en.Manifest.Resumed {
			t.Fatal("the forced run's manifest says it resumed")
		}
	}
}
