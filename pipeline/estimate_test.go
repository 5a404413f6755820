package pipeline_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/testkinds"
)

// secs reads a parameter in seconds (0 when absent).
func secs(p pipeline.Params, name string) time.Duration {
	v, ok := p.Get(name)
	if !ok {
		return 0
	}
	f, err := strconv.ParseFloat(fmt.Sprint(v), 64)
	if err != nil {
		panic(fmt.Sprintf("param %s: %v", name, err))
	}
	return time.Duration(f * float64(time.Second))
}

// estKind is a stage kind for estimate tests that runs nothing. It asks
// for 2 threads. Its "est" parameter is its wall time on those 2 threads;
// as a ThreadEstimator (scaling), that time is CPU work that splits over
// the threads plus a fixed "fixed" part, and with a "wall" parameter (a
// wall-time budget) the wall time is "wall" on any thread count. Without
// scaling it only has Estimate (an old kind).
type estKind struct {
	name    string
	scaling bool
}

func (k estKind) Name() string              { return k.name }
func (estKind) Version() string             { return "1" }
func (estKind) Threads(pipeline.Params) int { return 2 }
func (estKind) Estimate(p pipeline.Params) time.Duration {
	if w := secs(p, "wall"); w > 0 {
		return w
	}
	return secs(p, "est")
}
func (estKind) Run(ctx context.Context, sc *pipeline.StageContext) error { return nil }

// threadEstKind is estKind with EstimateAt.
type threadEstKind struct{ estKind }

func (threadEstKind) EstimateAt(p pipeline.Params, _ pipeline.Upstream, threads int) time.Duration {
	if w := secs(p, "wall"); w > 0 {
		return w
	}
	fixed := secs(p, "fixed")
	return fixed + (secs(p, "est")-fixed)*2/time.Duration(threads)
}

// estimateSpecs: old -> work -> tail (an old kind again), old -> budget.
// On 2 threads: old 10 s, work 21 s (1 s of it fixed), budget 30 s (a
// wall-time budget), tail 4 s.
func estimateSpecs() []pipeline.Spec {
	return []pipeline.Spec{
		spec("old", "old", map[string]any{"est": 10}, nil),
		spec("work", "new", map[string]any{"est": 21, "fixed": 1}, map[string]string{"in": "old"}),
		spec("budget", "new", map[string]any{"wall": 30}, map[string]string{"in": "old"}),
		spec("tail", "old", map[string]any{"est": 4}, map[string]string{"in": "work"}),
	}
}

// TestPlanEstimatesAtTheThreadsStagesGet: a plan made with the local
// executor's sizing estimates each stage at the threads it will run on
// (SlotThreads of its kind's threads and the slots), so its CPU time,
// longest chain and wall time on the slots are those of the run. With one
// slot every stage runs on one thread: an old kind's estimate is scaled
// from its 2 threads as if its work split perfectly, a ThreadEstimator's
// is its 1-thread estimate, and a wall-time budget is counted once, not
// once per thread its kind asks for.
func TestPlanEstimatesAtTheThreadsStagesGet(t *testing.T) {
	e := newEnv(t, estKind{name: "old"}, threadEstKind{estKind{name: "new"}})
	s := time.Second
	for _, c := range []struct {
		name     string
		sizer    func(int) int
		slots    int
		threads  map[string]int
		estimate map[string]time.Duration
		cpu      time.Duration
		critical time.Duration
		wall     time.Duration
	}{
		{
			// Without a sizer, and with 2 slots (the kinds' own 2
			// threads): the estimates the kinds give for their threads.
			name: "kind threads", slots: 2,
			threads:  map[string]int{"old": 2, "work": 2, "budget": 2, "tail": 2},
			estimate: map[string]time.Duration{"old": 10 * s, "work": 21 * s, "budget": 30 * s, "tail": 4 * s},
			// 2 x (10 + 21 + 30 + 4); chains old-work-tail 35 s, old-budget 40 s.
			cpu: 130 * s, critical: 40 * s, wall: 65 * s,
		},
		{
			name: "jobs 2", sizer: pipeline.NewLocal(2).StageThreads, slots: 2,
			threads:  map[string]int{"old": 2, "work": 2, "budget": 2, "tail": 2},
			estimate: map[string]time.Duration{"old": 10 * s, "work": 21 * s, "budget": 30 * s, "tail": 4 * s},
			cpu:      130 * s, critical: 40 * s, wall: 65 * s,
		},
		{
			name: "jobs 1", sizer: pipeline.NewLocal(1).StageThreads, slots: 1,
			threads: map[string]int{"old": 1, "work": 1, "budget": 1, "tail": 1},
			// old and tail: twice their 2-thread time; work: 1 + 2 x 20;
			// budget: its wall time.
			estimate: map[string]time.Duration{"old": 20 * s, "work": 41 * s, "budget": 30 * s, "tail": 8 * s},
			// 20 + 41 + 30 + 8; chains old-work-tail 69 s, old-budget 50 s.
			cpu: 99 * s, critical: 69 * s, wall: 99 * s,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := e.plan(estimateSpecs(), func(o *pipeline.PlanOptions) { o.Threads = c.sizer })
			for _, sp := range p.Stages {
				if sp.Threads != c.threads[sp.Name] || sp.Estimate != c.estimate[sp.Name] {
					t.Errorf("%s: %d threads, estimate %v; want %d, %v", sp.Name, sp.Threads, sp.Estimate, c.threads[sp.Name], c.estimate[sp.Name])
				}
			}
			cpu, critical, unknown := p.Work()
			if cpu != c.cpu || critical != c.critical || unknown != 0 {
				t.Errorf("work: CPU %v, longest chain %v, %d unknown; want %v, %v, 0", cpu, critical, unknown, c.cpu, c.critical)
			}
			if wall := pipeline.WallOn(cpu, critical, c.slots); wall != c.wall {
				t.Errorf("wall on %d slots: %v, want %v", c.slots, wall, c.wall)
			}
		})
	}
}

func TestSlotThreads(t *testing.T) {
	for _, c := range []struct{ kind, jobs, want int }{
		{2, 1, 1}, {2, 2, 2}, {8, 2, 2}, {1, 4, 1}, {0, 4, 1}, {3, 0, 1},
	} {
		if got := pipeline.SlotThreads(c.kind, c.jobs); got != c.want {
			t.Errorf("SlotThreads(%d, %d) = %d, want %d", c.kind, c.jobs, got, c.want)
		}
		if got := (&pipeline.Local{Jobs: c.jobs}).StageThreads(c.kind); got != c.want {
			t.Errorf("Local{Jobs: %d}.StageThreads(%d) = %d, want %d", c.jobs, c.kind, got, c.want)
		}
	}
}

func TestScaleEstimate(t *testing.T) {
	for _, c := range []struct {
		d        time.Duration
		from, to int
		want     time.Duration
	}{
		{10 * time.Second, 2, 1, 20 * time.Second},
		{10 * time.Second, 2, 4, 5 * time.Second},
		{10 * time.Second, 2, 2, 10 * time.Second},
		{10 * time.Second, 0, 1, 10 * time.Second},
		{0, 2, 1, 0},
	} {
		if got := pipeline.ScaleEstimate(c.d, c.from, c.to); got != c.want {
			t.Errorf("ScaleEstimate(%v, %d, %d) = %v, want %v", c.d, c.from, c.to, got, c.want)
		}
	}
}

// threadsSeen records the threads each started stage was given.
type threadsSeen struct {
	mu sync.Mutex
	m  map[string]int
}

func (o *threadsSeen) Observe(ev pipeline.Event) {
	if ev.Type != pipeline.EventStarted {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.m[ev.Stage] = ev.Threads
}

// TestRunUsesThePlannedThreads: stages run on the threads the plan
// estimated them at (the local executor's sizing of the same slots).
func TestRunUsesThePlannedThreads(t *testing.T) {
	for _, jobs := range []int{1, 2, 3} {
		e := newEnv(t, testkinds.Touch{NThreads: 2})
		e.jobs = jobs
		specs := []pipeline.Spec{
			spec("a", "touch", map[string]any{"i": 1}, nil),
			spec("b", "touch", map[string]any{"threads": 1}, map[string]string{"in": "a"}),
			spec("c", "touch", map[string]any{"threads": 3}, map[string]string{"in": "a"}),
		}
		p := e.plan(specs, func(o *pipeline.PlanOptions) { o.Threads = pipeline.NewLocal(jobs).StageThreads })
		seen := &threadsSeen{m: map[string]int{}}
		sum := e.run(context.Background(), p, func(o *pipeline.RunOptions) { o.Observers = []pipeline.Observer{seen} })
		if sum.Outcome != "ok" {
			t.Fatalf("jobs %d: %s", jobs, sum.Outcome)
		}
		for _, sp := range p.Stages {
			if want := pipeline.SlotThreads(map[string]int{"a": 2, "b": 1, "c": 3}[sp.Name], jobs); sp.Threads != want || seen.m[sp.Name] != want {
				t.Errorf("jobs %d: %s planned on %d threads, ran on %d; want %d", jobs, sp.Name, sp.Threads, seen.m[sp.Name], want)
			}
		}
	}
}
