package stagecost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ccq-project/ccq/internal/digest"
	"github.com/ccq-project/ccq/internal/version"
)

// countingProbe answers 1e-6 * (1 + len(key)) seconds per image and counts calls.
type countingProbe struct {
	calls map[string]int
	fail  bool
}

func (c *countingProbe) probe(_ context.Context, w Work) (float64, error) {
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[w.key()]++
	if c.fail {
		return 0, errors.New("no probe here")
	}
	return 1e-6 * float64(1+len(w.key())), nil
}

var lenetScore = Work{Op: OpScore, Arch: "lenet5", Bits: 4, ActBits: 32, Batch: 1024, Threads: 2}

func TestProbeOnceThenCacheFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sub", "costs.json")
	p := &countingProbe{}
	m := newQuiet(Options{Probe: true, CacheFile: file}, p.probe)
	s1, src1, ok := m.SecondsPerImage(context.Background(), lenetScore)
	if !ok || src1 != "probe" || s1 <= 0 {
		t.Fatalf("first call: %v %q %v", s1, src1, ok)
	}
	s2, src2, _ := m.SecondsPerImage(context.Background(), lenetScore)
	if s2 != s1 || src2 != "cache" || p.calls[lenetScore.key()] != 1 {
		t.Fatalf("second call: %v %q, probes %v", s2, src2, p.calls)
	}
	// A new model (a later ccq run) reads the file instead of probing.
	p2 := &countingProbe{}
	m2 := newQuiet(Options{Probe: true, CacheFile: file}, p2.probe)
	s3, src3, _ := m2.SecondsPerImage(context.Background(), lenetScore)
	if s3 != s1 || src3 != "cache" || len(p2.calls) != 0 {
		t.Fatalf("from the file: %v %q, probes %v", s3, src3, p2.calls)
	}
	// Recalibrate measures again; another thread count is another entry.
	m3 := newQuiet(Options{Probe: true, CacheFile: file, Recalibrate: true}, p2.probe)
	if _, src, _ := m3.SecondsPerImage(context.Background(), lenetScore); src != "probe" {
		t.Errorf("recalibrate: source %q", src)
	}
	one := lenetScore
	one.Threads = 1
	if _, src, _ := m2.SecondsPerImage(context.Background(), one); src != "probe" {
		t.Errorf("1 thread: source %q, want a new probe", src)
	}
}

func TestCacheOfAnotherMachineOrBuildIsNotUsed(t *testing.T) {
	file := filepath.Join(t.TempDir(), "costs.json")
	for _, tc := range []struct{ name, machine, code string }{
		{"other machine", "some other cpu", ""},
		{"other build", "", "0.0.1 deadbeef"},
	} {
		m := newQuiet(Options{Probe: true, CacheFile: file}, (&countingProbe{}).probe)
		e := Entry{SecondsPerImage: 1, Measured: time.Now(), Machine: m.machine, Code: m.code}
		if tc.machine != "" {
			e.Machine = tc.machine
		}
		if tc.code != "" {
			e.Code = tc.code
		}
		b, _ := json.Marshal(cacheFile{Format: cacheFormat, Entries: map[string]Entry{lenetScore.key(): e}})
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if s, src, _ := m.SecondsPerImage(context.Background(), lenetScore); src != "probe" || s == 1 {
			t.Errorf("%s: got %v from %q, want a new probe", tc.name, s, src)
		}
	}
}

func TestDamagedCacheFileIsReplaced(t *testing.T) {
	file := filepath.Join(t.TempDir(), "costs.json")
	if err := os.WriteFile(file, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := newQuiet(Options{Probe: true, CacheFile: file}, (&countingProbe{}).probe)
	if _, src, ok := m.SecondsPerImage(context.Background(), lenetScore); !ok || src != "probe" {
		t.Fatalf("got %q %v", src, ok)
	}
	var f cacheFile
	b, _ := os.ReadFile(file)
	if err := json.Unmarshal(b, &f); err != nil || len(f.Entries) != 1 {
		t.Fatalf("rewritten cache: %v, %d entries", err, len(f.Entries))
	}
}

func TestFailedProbeFallsBackOnce(t *testing.T) {
	p := &countingProbe{fail: true}
	m := newQuiet(Options{Probe: true}, p.probe)
	for range 3 {
		s, src, ok := m.SecondsPerImage(context.Background(), lenetScore)
		ref, refOK := reference(lenetScore)
		if ok != refOK || s != ref || (ok && src != "reference") {
			t.Fatalf("got %v %q %v, reference %v %v", s, src, ok, ref, refOK)
		}
	}
	if p.calls[lenetScore.key()] != 1 {
		t.Errorf("a failed probe was retried: %v", p.calls)
	}
}

func TestReferenceWithoutProbing(t *testing.T) {
	p := &countingProbe{}
	m := newQuiet(Options{}, p.probe)
	for _, arch := range []string{"mlp", "lenet5", "resnet20"} {
		for _, w := range []Work{
			{Op: OpTrain, Arch: arch, Batch: 128, Threads: 2},
			{Op: OpInfer, Arch: arch, Threads: 2},
			{Op: OpScore, Arch: arch, Bits: 4, ActBits: 32, Batch: 1024, Threads: 2},
			{Op: OpScore, Arch: arch, Bits: 4, ActBits: 8, Batch: 1024, Threads: 2},
			{Op: OpInteger, Arch: arch, Bits: 4, ActBits: 4, Threads: 2},
		} {
			s, src, ok := m.SecondsPerImage(context.Background(), w)
			if !ok || src != "reference" || s <= 0 {
				t.Errorf("%s: %v %q %v", w.key(), s, src, ok)
			}
			one := w
			one.Threads = 1
			if s1, _, _ := m.SecondsPerImage(context.Background(), one); s1 != 2*s {
				t.Errorf("%s on 1 thread: %v, want twice %v", w.key(), s1, s)
			}
		}
	}
	if len(p.calls) != 0 {
		t.Errorf("probed without Probe: %v", p.calls)
	}
	if _, _, ok := m.SecondsPerImage(context.Background(), Work{Op: OpInfer, Arch: "vgg16"}); ok {
		t.Error("an unknown architecture has a reference cost")
	}
}

func TestSettingOfFollowsTheInputs(t *testing.T) {
	ds := ChainStage{Kind: "dataset", Params: map[string]any{"name": "fashion-mnist", "val_size": 2000}}
	pre := ChainStage{Kind: "pretrain", Params: map[string]any{"model": "lenet5", "epochs": 3}, Up: Chain{"dataset": ds}}
	q := ChainStage{Kind: "quantize", Params: map[string]any{"method": "mse", "bits": 3, "act_bits": 4}, Up: Chain{"model": pre, "dataset": ds}}
	evolveUp := Chain{"start": q, "dataset": ds}
	s := SettingOf(evolveUp)
	want := Setting{Arch: "lenet5", Train: 58000, Val: 2000, Test: 10000, Bits: 3, ActBits: 4}
	if s != want {
		t.Errorf("evolve: %+v, want %+v", s, want)
	}
	// An evaluate of the float model has no bits; no validation split.
	ds0 := ChainStage{Kind: "dataset", Params: map[string]any{"name": "mnist", "val_size": 0}}
	pre0 := ChainStage{Kind: "pretrain", Params: map[string]any{"model": "resnet20"}, Up: Chain{"dataset": ds0}}
	s = SettingOf(Chain{"model": pre0, "dataset": ds0})
	want = Setting{Arch: "resnet20", Train: 60000, Test: 10000}
	if s != want {
		t.Errorf("evaluate float: %+v, want %+v", s, want)
	}
	if s := SettingOf(Chain{}); s != (Setting{}) {
		t.Errorf("no inputs: %+v", s)
	}
}

func TestDuration(t *testing.T) {
	m := newQuiet(Options{Probe: true}, func(context.Context, Work) (float64, error) { return 0.001, nil })
	d, ok := m.Duration(lenetScore, 5000, time.Second)
	if !ok || d != 6*time.Second {
		t.Errorf("got %v %v, want 6s", d, ok)
	}
	if d, ok := m.Duration(lenetScore, 0, time.Second); !ok || d != time.Second {
		t.Errorf("no images: %v %v", d, ok)
	}
}

// TestPrintReference prints the probes of this machine as the reference
// table's Go literal when CCQ_PRINT_REFERENCE=1 (a maintainer's tool: run
// it on a quiet machine with GOMAXPROCS=2 and paste the output into
// reference.go).
func TestPrintReference(t *testing.T) {
	if os.Getenv("CCQ_PRINT_REFERENCE") != "1" {
		t.Skip("set CCQ_PRINT_REFERENCE=1 to measure the reference table")
	}
	var lines []string
	for _, arch := range []string{"mlp", "lenet5", "resnet20"} {
		for _, w := range []struct {
			key string
			w   Work
		}{
			{string(OpTrain) + "/" + arch, Work{Op: OpTrain, Arch: arch, Batch: 128, Threads: 2}},
			{string(OpInfer) + "/" + arch, Work{Op: OpInfer, Arch: arch, Threads: 2}},
			{string(OpScore) + "/" + arch + "/float", Work{Op: OpScore, Arch: arch, Bits: 4, ActBits: 32, Batch: 1024, Threads: 2}},
			{string(OpScore) + "/" + arch + "/int", Work{Op: OpScore, Arch: arch, Bits: 4, ActBits: 8, Batch: 1024, Threads: 2}},
			{string(OpInteger) + "/" + arch, Work{Op: OpInteger, Arch: arch, Bits: 4, ActBits: 4, Threads: 2}},
		} {
			s, err := Probe(context.Background(), w.w)
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, fmt.Sprintf("\t%q: %.4g,", w.key, s))
		}
	}
	sort.Strings(lines)
	t.Log("\n" + strings.Join(lines, "\n"))
}

// TestProbeInteger probes the integer-only check for real on the mlp and
// refuses float activations, which integer-only inference cannot run.
func TestProbeInteger(t *testing.T) {
	s, err := Probe(context.Background(), Work{Op: OpInteger, Arch: "mlp", Bits: 4, ActBits: 4, Threads: 1})
	if err != nil || s <= 0 || s > 0.01 {
		t.Fatalf("integer-only check of the mlp: %v s per image, %v", s, err)
	}
	if _, err := Probe(context.Background(), Work{Op: OpInteger, Arch: "mlp", Bits: 4, ActBits: 32, Threads: 1}); err == nil || !strings.Contains(err.Error(), "not representable") {
		t.Fatalf("float activations: %v, want a not-representable error", err)
	}
}

// TestCodeIDWithoutCommit checks that a build without a commit (a test
// binary is one) is named by its executable's SHA-256, so that a rebuild
// does not reuse the costs probed on the build before it.
func TestCodeIDWithoutCommit(t *testing.T) {
	if c := version.Get().Commit; c != "" && c != "unknown" {
		t.Skipf("this build carries commit %s", c)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	sum, err := digest.File(exe)
	if err != nil {
		t.Fatal(err)
	}
	if id := codeID(); !strings.HasSuffix(id, " executable "+sum) {
		t.Errorf("codeID() = %q, want it to end with the executable's SHA-256 %s", id, sum)
	}
}
