package rpc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ccq-project/ccq/plugins/builtin"
	"github.com/ccq-project/ccq/plugins/internal/synth"
	"github.com/ccq-project/ccq/plugins/optimizer"
	"github.com/ccq-project/ccq/plugins/rpc"
)

// The test binary doubles as the plugin: with this variable set, TestMain
// serves the named (possibly misbehaving) optimizer instead of running tests.
const pluginEnv = "CCQ_RPC_TEST_PLUGIN"

// hostEnv makes the test binary act as a host that starts a plugin, prints
// the plugin's pid and waits to be killed (for the parent-death test).
const hostEnv = "CCQ_RPC_TEST_HOST"

func TestMain(m *testing.M) {
	if mode := os.Getenv(pluginEnv); mode != "" {
		servePlugin(mode)
		os.Exit(0)
	}
	if os.Getenv(hostEnv) != "" {
		runHost()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// misbehaving wraps a real optimizer and fails on purpose.
type misbehaving struct {
	optimizer.Optimizer
	mode string
}

func (m *misbehaving) Init(ctx context.Context, p *optimizer.Problem) (optimizer.InitResult, error) {
	if m.mode == "log" {
		slog.Warn("hello from the plugin", "variables", p.N())
	}
	return m.Optimizer.Init(ctx, p)
}

func (m *misbehaving) Ask(ctx context.Context) (*optimizer.Ask, error) {
	switch m.mode {
	case "panic-ask":
		panic("boom in ask")
	case "hang-ask":
		select {}
	case "error-ask":
		return nil, errors.New("no more ideas")
	}
	return m.Optimizer.Ask(ctx)
}

func (m *misbehaving) Tell(ctx context.Context, t *optimizer.Tell) error {
	if m.mode == "exit-tell" {
		os.Exit(7)
	}
	return m.Optimizer.Tell(ctx, t)
}

// echo keeps the problem and returns its start as the best solution; it
// moves large messages both ways.
type echo struct {
	optimizer.Optimizer
	p *optimizer.Problem
}

func (e *echo) Init(_ context.Context, p *optimizer.Problem) (optimizer.InitResult, error) {
	e.p = p
	return optimizer.InitResult{MaxCandidates: 1}, nil
}

func (e *echo) Best(context.Context) (*optimizer.Solution, error) {
	out := slices.Clone(e.p.Start)
	for i := range out {
		out[i] = -out[i]
	}
	return &optimizer.Solution{Levels: out}, nil
}

func servePlugin(mode string) {
	slog.SetDefault(slog.New(rpc.NewPluginLogHandler(slog.LevelDebug)))
	switch mode {
	case "exit-early":
		fmt.Fprintln(os.Stderr, "cannot start: the model file is missing")
		os.Exit(3)
	case "garbage":
		fmt.Println("hello, I am not a plugin")
		os.Exit(0)
	case "echo":
		inner, _ := builtin.New("ccea")
		rpc.Serve(&echo{Optimizer: inner})
		return
	}
	name := "ccea"
	if builtin.IsBuiltin(mode) {
		name = mode
	}
	inner, err := builtin.New(name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if builtin.IsBuiltin(mode) {
		rpc.Serve(inner)
		return
	}
	rpc.Serve(&misbehaving{Optimizer: inner, mode: mode})
}

func runHost() {
	p, err := rpc.Start(context.Background(), testSpec("ccea"), rpc.Options{})
	if err != nil {
		fmt.Println("error", err)
		return
	}
	// The plugin's pid is its parent-of-socket process; find it via /proc.
	fmt.Println("started", childPID())
	_ = p
	select {}
}

// childPID returns the pid of this process's only child.
func childPID() int {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", os.Getpid(), os.Getpid()))
	if err != nil {
		return -1
	}
	for _, f := range strings.Fields(string(raw)) {
		pid, _ := strconv.Atoi(f)
		return pid
	}
	// The child may have been started from another thread.
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", os.Getpid()))
	for _, t := range tasks {
		raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", os.Getpid(), t.Name()))
		for _, f := range strings.Fields(string(raw)) {
			pid, _ := strconv.Atoi(f)
			return pid
		}
	}
	return -1
}

func testSpec(mode string) rpc.Spec {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return rpc.Spec{Name: mode, Path: exe, Args: []string{"-test.run=^$"}, Env: []string{pluginEnv + "=" + mode}, Source: "test"}
}

func start(t *testing.T, mode string, opts rpc.Options) *rpc.Plugin {
	t.Helper()
	p, err := rpc.Start(context.Background(), testSpec(mode), opts)
	if err != nil {
		t.Fatalf("start %s: %v", mode, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

var ctx = context.Background()

func problem() (*synth.Problem, *optimizer.Problem) {
	sp := synth.New(600, 3, 0.3, 0.3, 1)
	return sp, sp.Optimizer(42, `{"lambda": 12, "group_size": 100, "gens_per_group": 2}`)
}

// run drives an optimizer for gens generations and records every Ask.
func run(t *testing.T, o optimizer.Optimizer, sp *synth.Problem, base []int8, from, gens int) []string {
	t.Helper()
	var rec []string
	for g := from; g < from+gens; g++ {
		a, err := o.Ask(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if a.Base != nil {
			a.Base.ApplyTo(base)
		}
		raw, _ := json.Marshal(a)
		rec = append(rec, string(raw))
		fit := make([]float64, len(a.Candidates))
		fb := sp.Score(uint64(g), base, a.Candidates, fit)
		if err := o.Tell(ctx, &optimizer.Tell{Fitness: fit, BaseFitness: fb}); err != nil {
			t.Fatal(err)
		}
	}
	return rec
}

// TestWireIsTransparent: an optimizer behind gRPC behaves exactly like the
// same optimizer in process, and snapshots cross the wire both ways.
func TestWireIsTransparent(t *testing.T) {
	sp, prob := problem()
	remote := start(t, "ccea", rpc.Options{})
	local, _ := builtin.New("ccea")
	info, err := remote.Info(ctx)
	if err != nil || info.Name != "ccea" || len(info.Params) == 0 {
		t.Fatalf("info %+v, %v", info, err)
	}
	want, _ := local.Info(ctx)
	if !reflect.DeepEqual(info, want) {
		t.Fatalf("info differs over the wire:\n%+v\n%+v", info, want)
	}
	r1, err := remote.Init(ctx, prob)
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := local.Init(ctx, prob)
	if r1 != r2 {
		t.Fatalf("init results differ: %+v vs %+v", r1, r2)
	}
	b1, b2 := slices.Clone(prob.Start), slices.Clone(prob.Start)
	if a, b := run(t, remote, sp, b1, 0, 15), run(t, local, sp, b2, 0, 15); !reflect.DeepEqual(a, b) {
		t.Fatal("remote and local runs differ")
	}
	snap, err := remote.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fresh, _ := builtin.New("ccea")
	if _, err := fresh.Init(ctx, prob); err != nil {
		t.Fatal(err)
	}
	if err := fresh.Restore(ctx, snap); err != nil {
		t.Fatal(err)
	}
	b3 := slices.Clone(b1)
	if a, b := run(t, remote, sp, b1, 15, 10), run(t, fresh, sp, b3, 15, 10); !reflect.DeepEqual(a, b) {
		t.Fatal("restored local copy of a remote snapshot diverged")
	}
	best, err := remote.Best(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want2, _ := fresh.Best(ctx)
	if !slices.Equal(best.Levels, want2.Levels) {
		t.Fatal("best differs")
	}
	// A plugin-side error comes back as a plain message naming the call.
	if err := remote.Restore(ctx, []byte("not a snapshot")); err == nil || !strings.Contains(err.Error(), `plugin "ccea": Restore:`) || !strings.Contains(err.Error(), "magic") {
		t.Fatalf("restore of garbage: %v", err)
	}
	// And the plugin is still usable afterwards.
	if _, err := remote.Best(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestPluginErrorIsNotFatal(t *testing.T) {
	_, prob := problem()
	p := start(t, "error-ask", rpc.Options{})
	if _, err := p.Init(ctx, prob); err != nil {
		t.Fatal(err)
	}
	_, err := p.Ask(ctx)
	if err == nil || err.Error() != `plugin "error-ask": Ask: no more ideas` {
		t.Fatalf("got %v", err)
	}
	bad := *prob
	bad.Params = []byte(`{"lamda": 3}`)
	q := start(t, "ccea", rpc.Options{})
	if _, err := q.Init(ctx, &bad); err == nil || !strings.Contains(err.Error(), `unknown parameter "lamda"`) {
		t.Fatalf("bad params: %v", err)
	}
}

func TestLargeMessages(t *testing.T) {
	const n = 6 << 20 // 6 Mi variables: 18 MiB to the plugin, 6 MiB back
	prob := &optimizer.Problem{
		Layers: []optimizer.Layer{{Name: "big", Offset: 0, Count: n}},
		Start:  make([]int8, n), Lo: make([]int8, n), Hi: make([]int8, n),
	}
	for i := range prob.Start {
		prob.Start[i] = int8(i%15 - 7)
		prob.Lo[i], prob.Hi[i] = -7, 7
	}
	p := start(t, "echo", rpc.Options{})
	if _, err := p.Init(ctx, prob); err != nil {
		t.Fatal(err)
	}
	best, err := p.Best(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(best.Levels) != n || best.Levels[1] != 6 || best.Levels[n-1] != -prob.Start[n-1] {
		t.Fatalf("large round trip corrupted (%d levels)", len(best.Levels))
	}
}

func TestCrashInCall(t *testing.T) {
	_, prob := problem()
	p := start(t, "panic-ask", rpc.Options{})
	if _, err := p.Init(ctx, prob); err != nil {
		t.Fatal(err)
	}
	_, err := p.Ask(ctx)
	if !errors.Is(err, rpc.ErrDied) {
		t.Fatalf("want ErrDied, got %v", err)
	}
	for _, want := range []string{`plugin "panic-ask"`, "Ask", "boom in ask", "exit status 2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q:\n%v", want, err)
		}
	}
	if _, err := p.Best(ctx); err == nil || !strings.Contains(err.Error(), "unusable") {
		t.Errorf("call after the crash: %v", err)
	}
}

func TestExitInCall(t *testing.T) {
	sp, prob := problem()
	p := start(t, "exit-tell", rpc.Options{})
	if _, err := p.Init(ctx, prob); err != nil {
		t.Fatal(err)
	}
	a, err := p.Ask(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fit := make([]float64, len(a.Candidates))
	fb := sp.Score(0, prob.Start, a.Candidates, fit)
	err = p.Tell(ctx, &optimizer.Tell{Fitness: fit, BaseFitness: fb})
	if !errors.Is(err, rpc.ErrDied) || !strings.Contains(err.Error(), "exit status 7") {
		t.Fatalf("got %v", err)
	}
}

func TestHang(t *testing.T) {
	_, prob := problem()
	p := start(t, "hang-ask", rpc.Options{CallTimeout: 500 * time.Millisecond})
	if _, err := p.Init(ctx, prob); err != nil {
		t.Fatal(err)
	}
	_, err := p.Ask(ctx)
	if !errors.Is(err, rpc.ErrHung) || !strings.Contains(err.Error(), `plugin "hang-ask"`) || !strings.Contains(err.Error(), "Ask") {
		t.Fatalf("got %v", err)
	}
	if !p.Exited() {
		t.Fatal("hung plugin still running after the failure")
	}
}

func TestCallerCancel(t *testing.T) {
	_, prob := problem()
	p := start(t, "hang-ask", rpc.Options{})
	if _, err := p.Init(ctx, prob); err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithCancel(ctx)
	go func() {
		// Cancel once the call is in flight: the plugin never answers, so
		// whenever this runs the call is still waiting.
		cancel()
	}()
	_, err := p.Ask(c)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

func TestStartFailures(t *testing.T) {
	_, err := rpc.Start(ctx, testSpec("exit-early"), rpc.Options{})
	if !errors.Is(err, rpc.ErrStart) || !strings.Contains(err.Error(), "the model file is missing") || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("exit before the handshake: %v", err)
	}
	_, err = rpc.Start(ctx, testSpec("garbage"), rpc.Options{})
	if !errors.Is(err, rpc.ErrStart) || !strings.Contains(err.Error(), `printed "hello, I am not a plugin" on stdout`) {
		t.Errorf("garbage on stdout: %v", err)
	}
	_, err = rpc.Start(ctx, rpc.Spec{Name: "missing", Path: "/nonexistent/plugin"}, rpc.Options{})
	if !errors.Is(err, rpc.ErrStart) || !strings.Contains(err.Error(), "/nonexistent/plugin") {
		t.Errorf("missing executable: %v", err)
	}
}

func TestChecksumPin(t *testing.T) {
	spec := testSpec("ccea")
	sum, err := rpc.FileSHA256(spec.Path)
	if err != nil {
		t.Fatal(err)
	}
	spec.SHA256 = strings.ToUpper(sum)
	p, err := rpc.Start(ctx, spec, rpc.Options{})
	if err != nil {
		t.Fatalf("correct pin refused: %v", err)
	}
	p.Close()
	wrong := []byte(sum)
	if wrong[0] == '0' {
		wrong[0] = '1'
	} else {
		wrong[0] = '0'
	}
	spec.SHA256 = string(wrong)
	_, err = rpc.Start(ctx, spec, rpc.Options{})
	if !errors.Is(err, rpc.ErrChecksum) || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("wrong pin: %v", err)
	}
	spec.SHA256 = "abc"
	if _, err := rpc.Start(ctx, spec, rpc.Options{}); err == nil || !strings.Contains(err.Error(), "64 hexadecimal") {
		t.Fatalf("malformed pin: %v", err)
	}
}

// recorder is a slog handler that keeps records.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.recs = append(r.recs, rec)
	r.mu.Unlock()
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// TestLogLinesReemitted: the plugin's slog output reaches the host's slog
// at its level, and is kept among the last stderr lines.
func TestLogLinesReemitted(t *testing.T) {
	_, prob := problem()
	rec := &recorder{}
	p := start(t, "log", rpc.Options{Logger: slog.New(rec)})
	if _, err := p.Init(ctx, prob); err != nil {
		t.Fatal(err)
	}
	p.Close()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	found := false
	for _, r := range rec.recs {
		if r.Message == "hello from the plugin" {
			found = true
			if r.Level != slog.LevelWarn {
				t.Errorf("re-emitted at %v, want WARN", r.Level)
			}
		}
	}
	if !found {
		t.Fatalf("plugin log line not re-emitted; got %d records", len(rec.recs))
	}
	tail := strings.Join(p.StderrTail(), "\n")
	if !strings.Contains(tail, "WARN hello from the plugin") || !strings.Contains(tail, "variables=600") {
		t.Fatalf("stderr tail: %q", tail)
	}
}

// TestNoOrphanAfterHostKill: SIGKILL the host; the plugin dies with it.
func TestNoOrphanAfterHostKill(t *testing.T) {
	if _, err := os.Stat("/proc/self/task"); err != nil {
		t.Skip("needs /proc (Linux)")
	}
	exe, _ := os.Executable()
	host := exec.Command(exe, "-test.run=^$")
	host.Env = append(os.Environ(), hostEnv+"=1")
	var out bytes.Buffer
	pr, pw, _ := os.Pipe()
	host.Stdout = pw
	host.Stderr = &out
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	line := make([]byte, 200)
	n, _ := pr.Read(line)
	fields := strings.Fields(string(line[:n]))
	if len(fields) < 2 || fields[0] != "started" {
		host.Process.Kill()
		host.Wait()
		t.Fatalf("host said %q (stderr %s)", line[:n], out.String())
	}
	pid, _ := strconv.Atoi(fields[1])
	if pid <= 0 {
		host.Process.Kill()
		host.Wait()
		t.Fatalf("no plugin pid: %q", line[:n])
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("plugin %d not running before the kill: %v", pid, err)
	}
	host.Process.Kill()
	host.Wait()
	// The kernel delivers SIGKILL to the plugin when the host dies; it is
	// then reaped by init. Wait (bounded) for the process to disappear.
	deadline := time.Now().Add(10 * time.Second)
	for {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return // gone
		}
		if f := strings.Fields(string(stat)); len(f) > 2 && f[2] == "Z" {
			return // dead, awaiting its reaper
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("plugin %d outlived its SIGKILLed host", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
