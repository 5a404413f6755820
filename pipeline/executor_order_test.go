package pipeline

import (
	"testing"
	"time"
)

func TestLocalReadyQueueShortestEstimateFirst(t *testing.T) {
	l := &Local{}
	add := func(name string, est time.Duration, seq int) {
		l.enqueue(&localTask{t: &Task{Name: name, Estimate: est}, seq: seq})
	}
	add("evolve/a", time.Minute, 0)
	add("evolve/b", time.Minute, 1)
	add("evaluate/a", 3*time.Second, 2)
	add("unknown", 0, 3)
	add("evaluate/b", 3*time.Second, 4)
	add("report", 2*time.Second, 5)
	var got []string
	for _, lt := range l.ready {
		got = append(got, lt.t.Name)
	}
	want := []string{"unknown", "report", "evaluate/a", "evaluate/b", "evolve/a", "evolve/b"}
	for i := range want {
		if i >= len(got) || got[i] != want[i] {
			t.Fatalf("ready order %v, want %v", got, want)
		}
	}
}
