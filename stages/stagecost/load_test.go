package stagecost

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A probe taken while other processes use more than BusyShare of the
// machine is used for the plan at hand, warned about and not cached; a
// probe on a quiet machine is cached.
func TestBusyProbeIsNotCached(t *testing.T) {
	for _, tc := range []struct {
		name        string
		otherCPU    time.Duration // CPU time other processes use during the probe (1 s of wall, 2 CPUs)
		wantCached  bool
		wantWarning bool
	}{
		{"quiet", 200 * time.Millisecond, true, false},
		{"busy", 1500 * time.Millisecond, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "costs.json")
			var logs bytes.Buffer
			p := &countingProbe{}
			m := New(Options{Probe: true, CacheFile: file, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, p.probe)
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			var n int
			m.sample = func() loadSample {
				// Every probe: 1 s of wall; this process uses 1.6 s of CPU, the others otherCPU.
				s := loadSample{wall: t0.Add(time.Duration(n) * time.Second), ok: true, cpus: 2,
					self: time.Duration(n) * 1600 * time.Millisecond}
				s.machine = s.self + time.Duration(n)*tc.otherCPU
				n++
				return s
			}
			s1, src, ok := m.SecondsPerImage(context.Background(), lenetScore)
			if !ok || src != "probe" || s1 <= 0 {
				t.Fatalf("first call: %v %q %v", s1, src, ok)
			}
			// The same model does not probe again either way.
			if s2, _, _ := m.SecondsPerImage(context.Background(), lenetScore); s2 != s1 || p.calls[lenetScore.key()] != 1 {
				t.Errorf("second call: %v (want %v), %d probes", s2, s1, p.calls[lenetScore.key()])
			}
			if got := strings.Contains(logs.String(), "CPUs busy while probing"); got != tc.wantWarning {
				t.Errorf("warning logged: %v, want %v\n%s", got, tc.wantWarning, logs.String())
			}
			// A new model reads the cache file: it probes again unless the figure was cached.
			p2 := &countingProbe{}
			m2 := newQuiet(Options{Probe: true, CacheFile: file}, p2.probe)
			if _, src, _ := m2.SecondsPerImage(context.Background(), lenetScore); (src == "cache") != tc.wantCached {
				t.Errorf("next model's source %q, cached want %v", src, tc.wantCached)
			}
		})
	}
}

func TestOtherShare(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := loadSample{wall: t0, machine: 10 * time.Second, cpus: 2, self: 3 * time.Second, ok: true}
	b := loadSample{wall: t0.Add(2 * time.Second), machine: 13 * time.Second, cpus: 2, self: 5 * time.Second, ok: true}
	// 3 s of machine CPU in 2 s on 2 CPUs, 2 s of it ours: others used 1 s of 4.
	if s, ok := otherShare(a, b); !ok || s != 0.25 {
		t.Errorf("share %v %v, want 0.25", s, ok)
	}
	if _, ok := otherShare(a, loadSample{wall: b.wall}); ok {
		t.Error("an unknown sample gave a share")
	}
	other := b
	other.cpus = 3
	if _, ok := otherShare(a, other); ok {
		t.Error("samples over different CPUs gave a share")
	}
	if _, ok := otherShare(a, loadSample{wall: t0.Add(minLoadWindow / 2), machine: 20 * time.Second, cpus: 2, ok: true}); ok {
		t.Error("a window shorter than the counters can judge gave a share")
	}
	// Counters read at slightly different moments can make ours exceed the machine's: never negative.
	if s, ok := otherShare(a, loadSample{wall: b.wall, machine: 11 * time.Second, cpus: 2, self: 5 * time.Second, ok: true}); !ok || s != 0 {
		t.Errorf("share %v %v, want 0", s, ok)
	}
}

// newQuiet is New with a machine that is always quiet, so that tests of
// the cache do not depend on the load of the machine running them.
func newQuiet(opt Options, probe ProbeFunc) *Model {
	m := New(opt, probe)
	m.sample = func() loadSample { return loadSample{} }
	return m
}

// With Recalibrate, each piece of work is probed once per model, not once
// per question (a plan asks once per stage).
func TestRecalibrateProbesOnce(t *testing.T) {
	file := filepath.Join(t.TempDir(), "costs.json")
	newQuiet(Options{Probe: true, CacheFile: file}, (&countingProbe{}).probe).SecondsPerImage(context.Background(), lenetScore)
	p := &countingProbe{}
	m := newQuiet(Options{Probe: true, CacheFile: file, Recalibrate: true}, p.probe)
	for range 3 {
		if _, src, ok := m.SecondsPerImage(context.Background(), lenetScore); !ok || src == "reference" {
			t.Fatalf("source %q ok %v", src, ok)
		}
	}
	if n := p.calls[lenetScore.key()]; n != 1 {
		t.Errorf("%d probes of one work with Recalibrate, want 1", n)
	}
}
