package pipeline

import (
	"path/filepath"
	"testing"
	"time"
)

func TestStateWriterFollowsEvents(t *testing.T) {
	dir := t.TempDir()
	st := &RunState{Format: StateFormat, Experiment: "x", Outcome: "running", Stages: []*StageState{
		{Name: "a", Status: StatusPending}, {Name: "b", Status: StatusPending}, {Name: "c", Status: StatusCached},
	}}
	w := newStateWriter(filepath.Join(dir, "state.json"), st, time.Hour)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w.Observe(Event{Time: t0, Type: EventStarted, Stage: "a", JobID: "42"})
	w.Observe(Event{Time: t0.Add(time.Second), Type: EventProgress, Stage: "a", Fraction: 0.5, Message: "half"})
	got := st.Stage("a")
	if got.Status != StatusRunning || got.Fraction != 0.5 || got.Message != "half" || got.JobID != "42" {
		t.Fatalf("running stage: %+v", got)
	}
	w.Observe(Event{Time: t0.Add(2 * time.Second), Type: EventFinished, Stage: "a", Status: StatusFailed, Error: "bad"})
	w.Observe(Event{Time: t0.Add(3 * time.Second), Type: EventProgress, Stage: "a", Fraction: 0.9, Message: "late"})
	w.Observe(Event{Time: t0.Add(2 * time.Second), Type: EventFinished, Stage: "b", Status: StatusSkipped, Error: "input a failed"})
	w.Observe(Event{Type: EventProgress, Stage: "unknown"})
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	back, err := ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, b := back.Stage("a"), back.Stage("b")
	if a.Status != StatusFailed || a.Error != "bad" || a.Seconds != 2 || a.Message != "half" || a.Fraction != 0.5 {
		t.Errorf("a: %+v", a)
	}
	if b.Status != StatusSkipped || b.Reason != "input a failed" {
		t.Errorf("b: %+v", b)
	}
	if back.Counts[StatusFailed] != 1 || back.Counts[StatusSkipped] != 1 || back.Counts[StatusCached] != 1 {
		t.Errorf("counts %v", back.Counts)
	}
}
