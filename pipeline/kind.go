package pipeline

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"sort"
	"sync"
	"time"
)

// Kind is a stage kind: what a stage of that kind computes. Stage packages
// (stages/<kind>) implement it and register it from an init function:
//
//	func init() { pipeline.Register(Kind{}) }
//
// A Kind must be safe for concurrent use: several stages of the same kind
// may run at once.
type Kind interface {
	// Name is the kind's name as used in stage names and the store
	// ("dataset", "pretrain", "quantize", "evolve", "evaluate", "report").
	Name() string
	// Version is part of every key of this kind. Change it whenever the
	// kind computes something different for the same parameters and
	// inputs, so that old store entries stop being reused.
	Version() string
	// Threads is how many CPU threads a stage with these parameters asks
	// for. The executor decides what it gets (ThreadSizer): the local
	// executor at least 1, at most --jobs (SlotThreads).
	Threads(p Params) int
	// Estimate is the expected wall time of a stage with these parameters
	// on Threads(p) threads, for plans and progress; 0 means unknown. A
	// stage run on another thread count is estimated by EstimateOn.
	Estimate(p Params) time.Duration
	// Run computes the stage. It writes its outputs into sc.OutDir and
	// returns nil on success. It must return soon after ctx is done
	// (after saving a checkpoint if it keeps one), returning ctx.Err() or
	// an error wrapping it. A panic is recovered into a stage failure.
	Run(ctx context.Context, sc *StageContext) error
}

// Upstream is a stage's view of the stages it reads from, for estimates.
// Input returns the kind and parameters of the stage behind an input name
// ("model", "start", "dataset") and that stage's own Upstream.
type Upstream interface {
	Input(name string) (kind string, p Params, up Upstream, ok bool)
}

// ThreadEstimator is optionally implemented by a Kind that can estimate a
// stage on a thread count other than its own Threads(p): an executor may
// run it on fewer (the local executor clamps to its --jobs slots) or more
// (Slurm's cpus_per_stage), and plans estimate every stage at the threads
// it will get. EstimateAt is the expected wall time of a stage with
// parameters p on threads threads (0 means unknown); up may be nil when
// the stage's inputs are unknown.
//
// The interface asks for a wall time at a thread count rather than, say,
// a CPU part that divides over threads plus a fixed wall part, because
// that is the form every kind can answer without a scaling assumption: the
// cost model measures each thread count separately (stagecost keys its
// probes by threads), and a wall-time budget is the same wall time on any
// count. The CPU time a stage holds is then that wall time times its
// threads (Plan.Work). Kinds without it are scaled by EstimateOn.
type ThreadEstimator interface {
	EstimateAt(p Params, up Upstream, threads int) time.Duration
}

// EstimateOn is kind k's expected wall time of a stage with parameters p
// and inputs up (nil if unknown) on threads threads: k's EstimateAt when k
// is a ThreadEstimator (the only estimate that sees up); otherwise its
// Estimate, which is for Threads(p) threads, scaled as if the work split
// perfectly over the threads (ScaleEstimate).
func EstimateOn(k Kind, p Params, up Upstream, threads int) time.Duration {
	threads = max(1, threads)
	if te, ok := k.(ThreadEstimator); ok {
		return te.EstimateAt(p, up, threads)
	}
	return ScaleEstimate(k.Estimate(p), k.Threads(p), threads)
}

// ScaleEstimate converts d, the wall time on from threads of work that
// splits perfectly over threads, to the wall time on to threads (both at
// least 1). An unknown estimate (0 or less) stays as it is.
func ScaleEstimate(d time.Duration, from, to int) time.Duration {
	from, to = max(1, from), max(1, to)
	if d <= 0 || from == to {
		return d
	}
	return time.Duration(math.Round(float64(d) * float64(from) / float64(to)))
}

// Checker is optionally implemented by a Kind to check parameters without
// running (`ccq validate` and `ccq plan` call it). Return *ParamError values
// (Params.Decode produces them) so the error can point at the experiment
// file's line.
type Checker interface {
	CheckParams(p Params) error
}

// Fingerprinter is optionally implemented by a Kind whose result depends on
// something its parameters only name, such as an optimizer plugin found by
// name (its code and its default parameters). Fingerprint returns those
// dependencies as name -> value pairs (a version, a digest); they enter the
// stage key as "dep" lines (see KeyRecipeVersion), so a changed plugin or
// changed defaults stop old store entries from being reused. files holds the
// digests of the stage's external files (already in the key). An error
// blocks the stage, with the error as the reason.
type Fingerprinter interface {
	Fingerprint(p Params, files map[string]string) (map[string]string, error)
}

// Prober is optionally implemented by a Kind whose parameters can only be
// checked by asking something outside ccq, such as an external optimizer
// plugin for the parameters it declares. Check (`ccq validate`, and `ccq
// run` before it starts anything) calls it once the stage's kind,
// parameters and files passed; planning does not, so plans stay cheap.
// files maps the stage's external file names to their paths. Return
// *ParamError values where a parameter is at fault.
type Prober interface {
	Probe(ctx context.Context, p Params, files map[string]string) error
}

// Registry maps kind names to kinds. The zero value is empty and usable.
type Registry struct {
	mu    sync.RWMutex
	kinds map[string]Kind
}

// DefaultRegistry holds the kinds built into the ccq binary.
var DefaultRegistry = &Registry{}

// Register adds k to DefaultRegistry; it panics on a bad or duplicate name
// (a programming error, found at start-up).
func Register(k Kind) { DefaultRegistry.MustRegister(k) }

var kindName = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// Register adds k, failing on a bad or duplicate name or an empty version.
func (r *Registry) Register(k Kind) error {
	name := k.Name()
	if !kindName.MatchString(name) {
		return fmt.Errorf("stage kind name %q: expected lower-case letters, digits, '-' or '_'", name)
	}
	if k.Version() == "" {
		return fmt.Errorf("stage kind %s: empty version", name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.kinds == nil {
		r.kinds = map[string]Kind{}
	}
	if _, dup := r.kinds[name]; dup {
		return fmt.Errorf("stage kind %s registered twice", name)
	}
	r.kinds[name] = k
	return nil
}

// MustRegister is Register that panics on error.
func (r *Registry) MustRegister(k Kind) {
	if err := r.Register(k); err != nil {
		panic(err)
	}
}

// Lookup returns the kind with this name.
func (r *Registry) Lookup(name string) (Kind, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	k, ok := r.kinds[name]
	return k, ok
}

// Names lists the registered kinds in order.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.kinds))
	for n := range r.kinds {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
