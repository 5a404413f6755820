package pipeline_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/store"
	"github.com/ccq-project/ccq/pipeline/testkinds"
)

// bigKind writes big.bin, one byte over store.SmallFile, so that only a
// full verification digests it, and out.txt for touch stages reading it.
type bigKind struct{ runs *testkinds.Recorder }

func (bigKind) Name() string                           { return "big" }
func (bigKind) Version() string                        { return "1" }
func (bigKind) Threads(pipeline.Params) int            { return 1 }
func (bigKind) Estimate(pipeline.Params) time.Duration { return 0 }
func (k bigKind) Run(_ context.Context, sc *pipeline.StageContext) error {
	k.runs.Add(sc.Name)
	if err := os.WriteFile(filepath.Join(sc.OutDir, "out.txt"), []byte("big\n"), 0o644); err != nil {
		return err
	}
	b := bytes.Repeat([]byte("0123456789abcdef"), store.SmallFile/16+1)
	return os.WriteFile(filepath.Join(sc.OutDir, "big.bin"), b[:store.SmallFile+1], 0o644)
}

// warnings collects the run's log records at warning level and above.
type warnings struct{ buf bytes.Buffer }

func (w *warnings) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(&w.buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func (w *warnings) lines() []string {
	s := strings.TrimSpace(w.buf.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// TestDamagedEntriesAreRebuilt damages three cached entries (a deleted
// file, a file of another size, a small file with other content of the
// same size): each is rebuilt, with one warning naming the stage and the
// file, and what reads them stays cached.
func TestDamagedEntriesAreRebuilt(t *testing.T) {
	rec := &testkinds.Recorder{}
	e := newEnv(t, testkinds.Touch{Runs: rec})
	specs := tree(1)
	e.run(context.Background(), e.plan(specs, nil), nil)
	p := e.plan(specs, nil)
	damage := map[string]func(path string) error{
		"q/w2": os.Remove,
		"q/w4": func(p string) error { return os.WriteFile(p, []byte("short"), 0o644) },
		"ev/w2": func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[0] ^= 1
			return os.WriteFile(p, b, 0o644)
		},
	}
	for name, f := range damage {
		if err := f(p.Stage(name).Entry.Path("out.txt")); err != nil {
			t.Fatal(err)
		}
	}
	rec.Reset()
	p = e.plan(specs, nil)
	for _, s := range p.Stages {
		_, damaged := damage[s.Name]
		if damaged != (s.Status == pipeline.StatusToRun) || damaged != strings.Contains(s.Damage, "out.txt") {
			t.Errorf("%s: %s, damage %q", s.Name, s.Status, s.Damage)
		}
	}
	var w warnings
	sum := e.run(context.Background(), p, func(o *pipeline.RunOptions) { o.Logger = w.logger() })
	if sum.Outcome != "ok" || strings.Join(rec.Names(), " ") != "ev/w2 q/w2 q/w4" {
		t.Fatalf("outcome %s, ran %v", sum.Outcome, rec.Names())
	}
	lines := w.lines()
	if len(lines) != len(damage) {
		t.Fatalf("%d warnings, want %d:\n%s", len(lines), len(damage), w.buf.String())
	}
	for name := range damage {
		n := 0
		for _, l := range lines {
			if strings.Contains(l, "stage="+name+" ") && strings.Contains(l, "out.txt") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d warnings name %s and its file:\n%s", n, name, w.buf.String())
		}
	}
	for _, s := range e.plan(specs, nil).Stages {
		if s.Status != pipeline.StatusCached {
			t.Fatalf("%s is %s after the rebuild", s.Name, s.Status)
		}
		if err := s.Entry.Verify(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestVerifyRebuildsDamagedBigFile changes a big file without changing its
// size: only --verify sees it, and then the stage really runs again
// (it used to be planned to run and then served from the damaged entry).
func TestVerifyRebuildsDamagedBigFile(t *testing.T) {
	rec := &testkinds.Recorder{}
	e := newEnv(t, bigKind{runs: rec}, testkinds.Touch{Runs: rec})
	specs := []pipeline.Spec{spec("big", "big", nil, nil), spec("after", "touch", nil, map[string]string{"in": "big"})}
	e.run(context.Background(), e.plan(specs, nil), nil)
	path := e.plan(specs, nil).Stage("big").Entry.Path("big.bin")
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("XY"), store.SmallFile/2); err != nil {
		t.Fatal(err)
	}
	f.Close()
	rec.Reset()
	if s := e.plan(specs, nil).Stage("big"); s.Status != pipeline.StatusCached {
		t.Fatalf("without --verify: %s (the cheap check reads no big file)", s.Status)
	}
	verify := func(o *pipeline.PlanOptions) { o.Verify = true }
	p := e.plan(specs, verify)
	if s := p.Stage("big"); s.Status != pipeline.StatusToRun || !strings.Contains(s.Damage, "big.bin") || !strings.Contains(s.Reason, "damaged") {
		t.Fatalf("with --verify: %s %q %q", s.Status, s.Damage, s.Reason)
	}
	var w warnings
	sum := e.run(context.Background(), p, func(o *pipeline.RunOptions) { o.Logger = w.logger() })
	if sum.Outcome != "ok" || rec.Count("big") != 1 || rec.Count("after") != 0 {
		t.Fatalf("outcome %s (%v), ran %v", sum.Outcome, sum.Err(), rec.Names())
	}
	if l := w.lines(); len(l) != 1 || !strings.Contains(l[0], "stage=big ") || !strings.Contains(l[0], "big.bin") {
		t.Fatalf("warnings:\n%s", w.buf.String())
	}
	if s := e.plan(specs, verify).Stage("big"); s.Status != pipeline.StatusCached {
		t.Fatalf("after the rebuild: %s %s", s.Status, s.Reason)
	}
}

// TestExecChecksTheEntry: a task (as `ccq stage exec` runs it) does not
// return an entry with a missing file.
func TestExecChecksTheEntry(t *testing.T) {
	rec := &testkinds.Recorder{}
	e := newEnv(t, testkinds.Touch{Runs: rec})
	specs := tree(1)[:1]
	e.run(context.Background(), e.plan(specs, nil), nil)
	sp := e.plan(specs, nil).Stage("data/mnist")
	if err := os.Remove(sp.Entry.Path("out.txt")); err != nil {
		t.Fatal(err)
	}
	task := &pipeline.Task{Format: pipeline.TaskFormat, Name: sp.Name, Kind: sp.Kind, KindVersion: sp.KindVersion, Key: sp.Key,
		Params: sp.Params, Store: e.store.Root(), Threads: 1}
	en, err := pipeline.Exec(context.Background(), task, pipeline.ExecOptions{Registry: e.reg})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Count("data/mnist") != 2 {
		t.Fatalf("ran %d times", rec.Count("data/mnist"))
	}
	if err := en.Verify(); err != nil {
		t.Fatal(err)
	}
}
