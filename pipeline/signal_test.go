package pipeline_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/store"
)

// waitKind announces its start on stdout and then waits for the context
// (saving a checkpoint when it ends), or forever when stubborn.
type waitKind struct{ stubborn bool }

func (waitKind) Name() string                           { return "wait" }
func (waitKind) Version() string                        { return "1" }
func (waitKind) Threads(pipeline.Params) int            { return 1 }
func (waitKind) Estimate(pipeline.Params) time.Duration { return 0 }
func (k waitKind) Run(ctx context.Context, sc *pipeline.StageContext) error {
	fmt.Println("started")
	if k.stubborn {
		select {}
	}
	<-ctx.Done()
	if err := os.MkdirAll(sc.CheckpointDir, 0o755); err != nil {
		return err
	}
	if err := store.WriteFileAtomic(filepath.Join(sc.CheckpointDir, "state"), []byte("halfway"), true); err != nil {
		return err
	}
	return ctx.Err()
}

// signalChild mimics cmd/ccq's main: the first SIGINT/SIGTERM cancels the
// run's context, a second exits 130 at once.
func signalChild(dir string, stubborn bool) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Println("stopping")
		cancel()
		<-sigs
		os.Exit(130)
	}()
	reg := &pipeline.Registry{}
	reg.MustRegister(waitKind{stubborn: stubborn})
	st, _ := store.Open(filepath.Join(dir, "store"))
	res, _ := pipeline.OpenResults(filepath.Join(dir, "results"))
	g, _ := pipeline.NewGraph([]pipeline.Spec{
		spec("slow", "wait", nil, nil),
		spec("after", "wait", map[string]any{"x": 1}, map[string]string{"in": "slow"}),
	})
	p, _ := pipeline.MakePlan(g, pipeline.PlanOptions{Registry: reg, Store: st})
	sum, err := pipeline.Run(ctx, p, pipeline.RunOptions{Registry: reg, Store: st, Results: res, Jobs: 1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if sum.Outcome == "interrupted" {
		return 130
	}
	return 1
}

func startSignalChild(t *testing.T, dir, mode string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CCQ_PIPELINE_CHILD="+dir, "CCQ_CRASH_POINT="+mode)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewReader(out)
}

func expectLine(t *testing.T, r *bufio.Reader, want string) {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil || line != want+"\n" {
		t.Fatalf("child said %q (%v), want %q", line, err, want)
	}
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child: %v", err)
	}
	return ee.ExitCode()
}

func TestSIGINTStopsAndCheckpoints(t *testing.T) {
	dir := t.TempDir()
	cmd, out := startSignalChild(t, dir, "signal")
	expectLine(t, out, "started")
	_ = cmd.Process.Signal(os.Interrupt)
	expectLine(t, out, "stopping")
	if code := exitCode(t, cmd.Wait()); code != 130 {
		t.Fatalf("exit code %d", code)
	}
	st, err := pipeline.ReadState(filepath.Join(dir, "results"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Outcome != "interrupted" || st.Stage("slow").Status != pipeline.StatusCancelled || st.Stage("after").Status != pipeline.StatusCancelled {
		t.Fatalf("state after SIGINT: %s %s %s", st.Outcome, st.Stage("slow").Status, st.Stage("after").Status)
	}
	s, _ := store.Open(filepath.Join(dir, "store"))
	if !s.HasCheckpoint("wait", st.Stage("slow").Key) {
		t.Fatal("the interrupted stage's checkpoint is missing")
	}
}

func TestSecondSIGINTExitsAtOnce(t *testing.T) {
	dir := t.TempDir()
	cmd, out := startSignalChild(t, dir, "signal-stubborn")
	expectLine(t, out, "started")
	_ = cmd.Process.Signal(os.Interrupt)
	expectLine(t, out, "stopping")
	_ = cmd.Process.Signal(os.Interrupt)
	if code := exitCode(t, cmd.Wait()); code != 130 {
		t.Fatalf("exit code %d", code)
	}
	// The lock died with the process.
	res, _ := pipeline.OpenResults(filepath.Join(dir, "results"))
	l, err := res.Lock("next")
	if err != nil {
		t.Fatalf("lock after a hard exit: %v", err)
	}
	if l.TakenOver == nil {
		t.Error("stale lock not reported")
	}
	l.Release()
}
