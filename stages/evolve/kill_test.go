package evolve

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ccq-project/ccq/plugins/catalog"
	"github.com/ccq-project/ccq/plugins/optimizer"
	"github.com/ccq-project/ccq/plugins/rpc"
	"github.com/ccq-project/ccq/results"
	"github.com/ccq-project/ccq/stages/stageio"
)

// childEnv makes the test binary run one evolve session (see evolveChild)
// instead of its tests; restoreFailsEnv makes it serve a built-in whose
// Restore refuses every snapshot.
const (
	childEnv        = "CCQ_EVOLVE_TEST_CHILD"
	restoreFailsEnv = "CCQ_EVOLVE_TEST_RESTORE_FAILS"
)

// restoreFails is a built-in optimizer whose Restore always fails.
type restoreFails struct{ optimizer.Optimizer }

func (restoreFails) Restore(context.Context, []byte) error {
	return errors.New("snapshot format not understood")
}

// childConfig is one evolve session run by a child process.
type childConfig struct {
	Dataset, Start, Out, Ckpt string
	Resumed                   bool
	Generations               int64
	Extra                     map[string]any
	// KillAt, if > 0, makes the child SIGKILL itself right after the
	// checkpoint of that generation is written.
	KillAt int64
}

// checkpointReporter prints "checkpoint N" on stdout when the host logs
// that it wrote the checkpoint of generation N, and kills the process
// right there when N is killAt.
type checkpointReporter struct{ killAt int64 }

func (checkpointReporter) Enabled(context.Context, slog.Level) bool { return true }
func (h checkpointReporter) WithAttrs([]slog.Attr) slog.Handler     { return h }
func (h checkpointReporter) WithGroup(string) slog.Handler          { return h }
func (h checkpointReporter) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "checkpoint written" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "generation" {
			return true
		}
		gen := a.Value.Int64()
		fmt.Printf("checkpoint %d\n", gen)
		if gen == h.killAt {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
		return false
	})
	return nil
}

// evolveChild runs the session described by the JSON in cfg; its exit code
// is 0 when the stage succeeded.
func evolveChild(cfg string) int {
	var c childConfig
	if err := json.Unmarshal([]byte(cfg), &c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var extra []map[string]any
	if c.Extra != nil {
		extra = append(extra, c.Extra)
	}
	sc, err := stageContext(fixtureInputs(c.Dataset, c.Start), slog.New(checkpointReporter{killAt: c.KillAt}),
		c.Generations, c.Out, c.Ckpt, c.Resumed, extra...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := (Kind{}).Run(context.Background(), sc); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("done")
	return 0
}

// session is a running child.
type session struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr strings.Builder
}

func startSession(t *testing.T, c childConfig) *session {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	s := &session{cmd: exec.Command(os.Args[0], "-test.run=^$"), lines: make(chan string)}
	s.cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	s.cmd.Stderr = &s.stderr
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	return s
}

// lastCheckpoint reads the child's lines until it ends (or, when stopAt >
// 0, until it reports the checkpoint of generation stopAt, then kills it)
// and returns the last checkpoint it reported (0 if none) and whether it
// finished the stage.
func (s *session) lastCheckpoint(t *testing.T, stopAt int64) (last int64, done bool) {
	t.Helper()
	for line := range s.lines {
		var g int64
		if _, err := fmt.Sscanf(line, "checkpoint %d", &g); err == nil {
			last = g
			if g == stopAt {
				_ = s.cmd.Process.Kill() // SIGKILL, wherever the child is now
				break
			}
		} else if line == "done" {
			done = true
		}
	}
	go func() {
		for range s.lines { // drain what the child printed before dying
		}
	}()
	err := s.cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL:
	default:
		t.Fatalf("child session: %v\n%s", err, s.stderr.String())
	}
	return last, done
}

var (
	referenceMu  sync.Mutex
	referenceOut = map[string]outcome{}
)

// reference is the outcome of an uninterrupted in-process run (computed
// once per parameter set).
func reference(t *testing.T, f fixture, gens int64, extra map[string]any) outcome {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"gens": gens, "extra": extra})
	referenceMu.Lock()
	defer referenceMu.Unlock()
	if o, ok := referenceOut[string(b)]; ok {
		return o
	}
	out := t.TempDir()
	if err := f.run(t, gens, out, t.TempDir(), false, extra); err != nil {
		t.Fatal(err)
	}
	o := readOutcome(t, out)
	referenceOut[string(b)] = o
	return o
}

// withoutTimes zeroes the timings of generation rows.
func withoutTimes(rows []results.GenerationRow) []results.GenerationRow {
	for i := range rows {
		rows[i].WallTime, rows[i].Timestamp = 0, time.Time{}
	}
	return rows
}

// TestEvolveSurvivesKills: an evolve run killed with SIGKILL at several
// points (right after a checkpoint, asynchronously somewhere after one, and
// after the final checkpoint but before its outputs), resumed each time,
// leaves the same model, generation rows (and part files) and evolve.json
// as an uninterrupted run, timings and the resume point aside. After every
// kill the rows the last checkpoint covers are on disk and readable.
func TestEvolveSurvivesKills(t *testing.T) {
	if testing.Short() {
		t.Skip("runs evolve sessions in subprocesses")
	}
	f := newFixture(t)
	const gens = 12
	extra := map[string]any{"checkpoint_every": 3}
	want := reference(t, f, gens, extra)
	if len(want.rows) != gens || want.sum.StartLoss == 0 || want.sum.FinalLoss == 0 {
		t.Fatalf("reference run: %d rows, summary %+v", len(want.rows), want.sum)
	}

	ckpt := t.TempDir()
	genDir := filepath.Join(ckpt, results.GenerationsDir)
	sessions := []struct {
		killAt, stopAt int64 // self-kill after that checkpoint; parent's SIGKILL after it
	}{
		{killAt: 3},    // rows 0-2 must survive, in a part never closed by size or age
		{stopAt: 6},    // lands mid-generation, mid-part or mid-checkpoint
		{killAt: gens}, // the final checkpoint is written, the outputs are not
		{killAt: -1},   // resumes with the budget spent and finishes
		{killAt: -1},   // (spare: runs only if the asynchronous kill came too late)
	}
	var out string
	resumed := false
	for i, s := range sessions {
		out = t.TempDir()
		c := childConfig{Dataset: f.dsDir, Start: f.startDir, Out: out, Ckpt: ckpt, Resumed: resumed,
			Generations: gens, Extra: extra, KillAt: s.killAt}
		last, done := startSession(t, c).lastCheckpoint(t, s.stopAt)
		t.Logf("session %d: last checkpoint at generation %d, finished %v", i+1, last, done)
		if done {
			break
		}
		if s.killAt == -1 {
			t.Fatalf("session %d neither finished nor was killed", i+1)
		}
		if last == 0 {
			t.Fatalf("session %d was killed before its first checkpoint", i+1)
		}
		rows, err := results.ReadGenerations(genDir)
		if err != nil {
			t.Fatalf("after the kill in session %d: %v", i+1, err)
		}
		var covered []results.GenerationRow
		for _, r := range rows {
			if r.Generation < last {
				covered = append(covered, r)
			}
		}
		if !reflect.DeepEqual(withoutTimes(covered), want.rows[:last]) {
			t.Fatalf("killed in session %d after the checkpoint of generation %d: %d of its %d rows are on disk",
				i+1, last, len(covered), last)
		}
		resumed = true
	}
	got := readOutcome(t, out)
	for g := range want.rows {
		if g >= len(got.rows) || !reflect.DeepEqual(got.rows[g], want.rows[g]) {
			t.Fatalf("generation %d: row differs from the uninterrupted run's (%d rows, want %d)", g, len(got.rows), len(want.rows))
		}
	}
	if len(got.rows) != len(want.rows) {
		t.Fatalf("%d rows, want %d", len(got.rows), len(want.rows))
	}
	if !reflect.DeepEqual(got.sum, want.sum) {
		t.Fatalf("evolve.json differs from the uninterrupted run's:\n got %+v\nwant %+v", got.sum, want.sum)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the killed and resumed run differs from the uninterrupted one: levels equal %v, parts %v vs %v, record equal %v",
			reflect.DeepEqual(got.levels, want.levels), got.parts, want.parts, reflect.DeepEqual(got.rec, want.rec))
	}
}

// warnings is a slog handler that keeps the warnings.
type warnings struct {
	mu   *sync.Mutex
	recs *[]slog.Record
}

func newWarnings() warnings { return warnings{mu: &sync.Mutex{}, recs: &[]slog.Record{}} }

func (warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w warnings) WithAttrs([]slog.Attr) slog.Handler         { return w }
func (w warnings) WithGroup(string) slog.Handler              { return w }
func (w warnings) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	*w.recs = append(*w.recs, r.Clone())
	return nil
}

// TestUnusableCheckpointIsMovedAside: a damaged checkpoint, or one the
// optimizer's Restore refuses, does not block the stage: it is renamed
// host.ckpt.damaged-<time> with one warning naming it, and the stage starts
// over and ends as an uninterrupted run does.
func TestUnusableCheckpointIsMovedAside(t *testing.T) {
	if testing.Short() {
		t.Skip("runs optimizer subprocesses")
	}
	f := newFixture(t)
	const gens = 6
	want := reference(t, f, gens, nil)
	// A run that stopped after 2 generations, leaving its checkpoint and
	// rows behind (each case gets a copy).
	left := t.TempDir()
	if err := f.run(t, 2, t.TempDir(), left, false); err != nil {
		t.Fatal(err)
	}
	if rows, err := results.ReadGenerations(filepath.Join(left, results.GenerationsDir)); err != nil || len(rows) != 2 {
		t.Fatalf("the checkpoint folder holds %d generation rows (%v); a crash leaves them there", len(rows), err)
	}
	for _, damage := range []string{"damaged", "restore-fails"} {
		t.Run(damage, func(t *testing.T) {
			ckpt := filepath.Join(t.TempDir(), "ckpt")
			if err := os.CopyFS(ckpt, os.DirFS(left)); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(ckpt, "host.ckpt")
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			switch damage {
			case "damaged":
				raw[len(raw)/2] ^= 0x40
				if err := os.WriteFile(path, raw, 0o644); err != nil {
					t.Fatal(err)
				}
			case "restore-fails":
				prev := resolver
				t.Cleanup(func() { resolver = prev })
				resolver = restoreFailsResolver
			}
			w := newWarnings()
			out := t.TempDir()
			if err := f.runLogged(t, slog.New(w), gens, out, ckpt, true); err != nil {
				t.Fatalf("the stage did not start over: %v", err)
			}
			aside, _ := filepath.Glob(path + ".damaged-*")
			if len(aside) != 1 {
				t.Fatalf("checkpoint folder holds %d files moved aside, want 1", len(aside))
			}
			if b, err := os.ReadFile(aside[0]); err != nil || string(b) != string(raw) {
				t.Fatalf("the file moved aside is not the unusable checkpoint: %v", err)
			}
			if len(*w.recs) != 1 {
				t.Fatalf("%d warnings, want 1", len(*w.recs))
			}
			named := false
			(*w.recs)[0].Attrs(func(a slog.Attr) bool {
				named = named || a.Value.String() == aside[0]
				return true
			})
			if !named {
				t.Fatalf("the warning %q does not name %s", (*w.recs)[0].Message, aside[0])
			}
			var sum Summary
			if err := stageio.ReadJSON(out, "evolve.json", &sum); err != nil || sum.ResumedFrom != -1 {
				t.Fatalf("summary %+v (%v): want a run that started over", sum, err)
			}
			if got := readOutcome(t, out); !reflect.DeepEqual(got, want) {
				t.Fatalf("the run that started over differs from an uninterrupted one (rows %d vs %d)", len(got.rows), len(want.rows))
			}
		})
	}
}

// restoreFailsResolver serves the built-ins with a Restore that fails.
func restoreFailsResolver() *catalog.Resolver {
	return &catalog.Resolver{Builtin: func(name string) (rpc.Spec, error) {
		s, err := catalog.TestBinarySpec(name)
		s.Env = append(s.Env, restoreFailsEnv+"=1")
		return s, err
	}}
}
