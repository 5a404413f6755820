package slurm

import (
	"testing"

	"github.com/ccq-project/ccq/pipeline"
)

// TestStageThreads: a stage's job asks for cpus_per_stage CPUs when set,
// else its kind's threads (not clamped by the submitting machine's --jobs),
// and the plan sizes the stage with the same rule.
func TestStageThreads(t *testing.T) {
	for _, c := range []struct{ cpus, kind, want int }{{0, 2, 2}, {0, 0, 1}, {0, 8, 8}, {3, 2, 3}, {3, 1, 3}} {
		e, err := New(Options{CPUsPerStage: c.cpus})
		if err != nil {
			t.Fatal(err)
		}
		var ts pipeline.ThreadSizer = e
		if got := ts.StageThreads(c.kind); got != c.want {
			t.Errorf("cpus_per_stage %d: StageThreads(%d) = %d, want %d", c.cpus, c.kind, got, c.want)
		}
		if got := e.cpus(&pipeline.Task{Threads: c.kind}); got != c.want {
			t.Errorf("cpus_per_stage %d: --cpus-per-task of a %d-thread task %d, want %d", c.cpus, c.kind, got, c.want)
		}
	}
}
