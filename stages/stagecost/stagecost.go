// Package stagecost is the cost model behind the estimates of `ccq plan`
// and `ccq run`. A stage's work is counted in images of one operation:
// training steps, inference, or candidate scorings of the quantized
// evaluator, times this machine's seconds per image for that operation on
// that architecture. The seconds per image come from a short probe of the
// real code path (a fraction of a second to a few seconds, once per
// operation, architecture, activation bits, batch and thread count),
// counted in CPU time per thread so that estimates are the wall time of an
// otherwise idle machine, and cached in the user's cache folder. CPU time
// shared with other work still comes out high, so a probe during which
// other processes used more than BusyShare of this process's CPUs is used
// but not cached. Without probing (the default of a library
// user, and tests) a reference table measured with the same probe on
// ReferenceMachine is used.
package stagecost

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/ccq-project/ccq/internal/atomicfile"
	"github.com/ccq-project/ccq/internal/digest"
	"github.com/ccq-project/ccq/internal/version"
)

// Op is the kind of work a stage does per image.
type Op string

// The operations the model knows.
const (
	// OpTrain is one image of a float training step (forward, backward,
	// update) at the training batch size.
	OpTrain Op = "train"
	// OpInfer is one image of a float eval-mode forward pass.
	OpInfer Op = "infer"
	// OpScore is one image of one candidate scored by the quantized
	// evaluator (deltas spread over every layer, as ccea's groups are).
	OpScore Op = "score"
	// OpInteger is one image of the evaluate stage's integer-only check
	// of a model with quantized activations: integer-only inference plus
	// the fake-quantized predictions it is compared with.
	OpInteger Op = "integer"
)

// Work names one measured cost: an operation on an architecture.
type Work struct {
	Op   Op
	Arch string
	// Bits and ActBits are the weight and activation bits (OpScore and
	// OpInteger only).
	Bits, ActBits int
	// Batch is the images per scoring (OpScore) or per step (OpTrain).
	Batch int
	// Threads is the number of threads the stage uses.
	Threads int
}

func (w Work) key() string {
	switch w.Op {
	case OpScore:
		return fmt.Sprintf("%s/%s/w%d/a%d/b%d/t%d", w.Op, w.Arch, w.Bits, w.ActBits, w.Batch, w.Threads)
	case OpTrain:
		return fmt.Sprintf("%s/%s/b%d/t%d", w.Op, w.Arch, w.Batch, w.Threads)
	case OpInteger:
		return fmt.Sprintf("%s/%s/a%d/t%d", w.Op, w.Arch, w.ActBits, w.Threads)
	}
	return fmt.Sprintf("%s/%s/t%d", w.Op, w.Arch, w.Threads)
}

// Entry is one measured cost.
type Entry struct {
	SecondsPerImage float64   `json:"seconds_per_image"`
	Measured        time.Time `json:"measured"`
	// Machine and Code identify what was measured: the processor and
	// thread count, and the ccq build.
	Machine string `json:"machine"`
	Code    string `json:"code"`
}

// cacheFile is the on-disk form of the cache.
type cacheFile struct {
	Format  int              `json:"format"`
	Entries map[string]Entry `json:"entries"`
}

// cacheFormat 2: probes count CPU time per thread (format 1 counted wall time).
const cacheFormat = 2

// MaxAge is how long a probed cost is trusted before it is measured again.
const MaxAge = 30 * 24 * time.Hour

// Options configure a Model.
type Options struct {
	// Probe measures costs missing from the cache on this machine; false
	// uses the reference table only.
	Probe bool
	// CacheFile keeps probed costs between runs ("" keeps them in memory).
	CacheFile string
	// Recalibrate ignores cached costs and probes again.
	Recalibrate bool
	// Logger receives one line per probe (default slog.Default()).
	Logger *slog.Logger
}

// ProbeFunc measures the seconds per image of a piece of work.
type ProbeFunc func(ctx context.Context, w Work) (float64, error)

// Model answers seconds per image, probing and caching as configured. It is
// safe for concurrent use.
type Model struct {
	mu      sync.Mutex
	opt     Options
	probe   ProbeFunc
	entries map[string]Entry
	loaded  bool
	failed  map[string]bool
	// busy holds figures probed while other processes kept the machine
	// busy: used by this model, never cached.
	busy    map[string]float64
	machine string
	code    string
	// sample reads the machine's load (sampleLoad; tests substitute one).
	sample func() loadSample
	// fresh marks the work this model probed (with Recalibrate, each is
	// measured once, not once per question).
	fresh map[string]bool
}

// New returns a model; probe nil uses the real probes (Probe).
func New(opt Options, probe ProbeFunc) *Model {
	if probe == nil {
		probe = Probe
	}
	return &Model{opt: opt, probe: probe, machine: machineID(), code: codeID(), sample: sampleLoad,
		busy: map[string]float64{}, fresh: map[string]bool{}}
}

var (
	defaultMu    sync.Mutex
	defaultModel = New(Options{}, nil)
)

// Default is the model the stage kinds' estimates use; it uses the
// reference table until SetDefault installs a probing one (the CLI does).
func Default() *Model {
	defaultMu.Lock()
	defer defaultMu.Unlock()
	return defaultModel
}

// SetDefault replaces the model Default returns and returns the old one.
func SetDefault(m *Model) *Model {
	defaultMu.Lock()
	defer defaultMu.Unlock()
	old := defaultModel
	defaultModel = m
	return old
}

// DefaultCacheFile is where the CLI keeps probed costs:
// $XDG_CACHE_HOME/ccq/costs.json or ~/.cache/ccq/costs.json.
func DefaultCacheFile() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "ccq", "costs.json")
}

// SecondsPerImage returns the cost of one image of w and where it comes
// from ("probe", "cache", "reference"); ok is false when the model knows
// nothing of w (an architecture absent from the reference table with
// probing off or failed).
func (m *Model) SecondsPerImage(ctx context.Context, w Work) (sec float64, source string, ok bool) {
	w.Threads = max(1, w.Threads)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.opt.Probe {
		k := w.key()
		m.load()
		if e, hit := m.entries[k]; hit && (!m.opt.Recalibrate || m.fresh[k]) && e.Machine == m.machine && e.Code == m.code &&
			time.Since(e.Measured) < MaxAge && e.SecondsPerImage > 0 {
			return e.SecondsPerImage, "cache", true
		}
		if s, hit := m.busy[k]; hit {
			return s, "probe", true
		}
		if !m.failed[k] {
			log := m.opt.Logger
			if log == nil {
				log = slog.Default()
			}
			start := time.Now()
			before := m.sample()
			s, err := m.probe(ctx, w)
			after := m.sample()
			if share, known := otherShare(before, after); err == nil && s > 0 && known && share > BusyShare {
				log.Warn("cost model: other processes kept this process's CPUs busy while probing; the figure is used for this command but not cached (any cached one is kept), and may be high: run again on a quiet machine",
					"work", k, "seconds_per_image", s, "others_cpu_share", math.Round(share*100)/100)
				m.busy[k] = s
				return s, "probe", true
			}
			if err == nil && s > 0 {
				log.Info("cost model: measured this machine", "work", k, "seconds_per_image", s, "took", time.Since(start).Round(time.Millisecond))
				m.entries[k] = Entry{SecondsPerImage: s, Measured: time.Now().UTC(), Machine: m.machine, Code: m.code}
				m.fresh[k] = true
				if err := m.save(); err != nil {
					log.Warn("cost model: cannot save the measured costs", "file", m.opt.CacheFile, "err", err)
				}
				return s, "probe", true
			}
			if m.failed == nil {
				m.failed = map[string]bool{}
			}
			m.failed[k] = true
			log.Warn("cost model: probe failed; using the reference table", "work", k, "err", err)
		}
	}
	if s, ok := reference(w); ok {
		return s, "reference", true
	}
	return 0, "", false
}

// load reads the cache file once; a missing or unreadable file is an empty
// cache (an unreadable one is overwritten by the next save).
func (m *Model) load() {
	if m.loaded {
		return
	}
	m.loaded = true
	m.entries = map[string]Entry{}
	if m.opt.CacheFile == "" {
		return
	}
	b, err := os.ReadFile(m.opt.CacheFile)
	if err != nil {
		return
	}
	var f cacheFile
	if json.Unmarshal(b, &f) != nil || f.Format != cacheFormat || f.Entries == nil {
		return
	}
	m.entries = f.Entries
}

// save writes the cache atomically (internal/atomicfile).
func (m *Model) save() error {
	if m.opt.CacheFile == "" {
		return nil
	}
	b, err := json.MarshalIndent(cacheFile{Format: cacheFormat, Entries: m.entries}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(m.opt.CacheFile), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(m.opt.CacheFile, append(b, '\n'))
}

// machineID names the processor and the threads Go may use.
func machineID() string {
	cpu := runtime.GOARCH
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s; %d CPUs; GOMAXPROCS %d", cpu, runtime.NumCPU(), runtime.GOMAXPROCS(0))
}

// codeID names the ccq build: its version and commit, and whether the
// tree was modified (a modified tree is one build for the cache: run with
// --recalibrate after changing a kernel). A build that carries no commit
// (go build with -buildvcs=false, or outside a repository) is named by
// the SHA-256 of its executable instead, so that every rebuild probes
// again.
func codeID() string {
	info := version.Get()
	if info.Commit == "" || info.Commit == "unknown" {
		if exe, err := os.Executable(); err == nil {
			if sum, err := digest.File(exe); err == nil {
				return info.Version + " executable " + sum
			}
		}
	}
	id := info.Version + " " + info.Commit
	if info.Modified {
		id += " modified"
	}
	return id
}
