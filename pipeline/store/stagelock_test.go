package store

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestStageLockExcludes: goroutines locking one key through two Store
// values (two runs in one process) never hold it at the same time, and
// every one of them gets it.
func TestStageLockExcludes(t *testing.T) {
	s1 := newStore(t)
	s2, err := Open(s1.Root())
	if err != nil {
		t.Fatal(err)
	}
	var inside, most, total atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(s *Store) {
			defer wg.Done()
			l, err := s.LockStage(context.Background(), "k", "key", LockOptions{Stage: "s"})
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			if n > most.Load() {
				most.Store(n)
			}
			total.Add(1)
			inside.Add(-1)
			if err := l.Release(); err != nil {
				t.Error(err)
			}
		}([]*Store{s1, s2}[i%2])
	}
	wg.Wait()
	if most.Load() != 1 || total.Load() != 16 {
		t.Fatalf("at most %d holders at once, %d acquisitions", most.Load(), total.Load())
	}
	ents, _ := os.ReadDir(filepath.Dir(s1.LockPath("k", "key")))
	if len(ents) != 0 {
		t.Fatalf("files left in the lock folder: %v", ents)
	}
}

// TestStageLockWaitsForRelease: a second taker reports the holder, waits,
// and gets the lock when the holder releases it; a cancelled wait returns
// an error naming the holder.
func TestStageLockWaitsForRelease(t *testing.T) {
	s := newStore(t)
	first, err := s.LockStage(context.Background(), "k", "key", LockOptions{Stage: "first"})
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan *LockHolder, 1)
	got := make(chan error, 1)
	go func() {
		l, err := s.LockStage(context.Background(), "k", "key", LockOptions{Stage: "second", OnWait: func(h *LockHolder) { waiting <- h }})
		if err == nil {
			err = l.Release()
		}
		got <- err
	}()
	h := <-waiting
	if h == nil || h.PID != os.Getpid() || h.Stage != "first" {
		t.Fatalf("holder %+v", h)
	}
	select {
	case err := <-got:
		t.Fatalf("second taker did not wait: %v", err)
	default:
	}
	// A cancelled wait.
	ctx, cancel := context.WithCancel(context.Background())
	_, err = s.LockStage(ctx, "k", "key", LockOptions{OnWait: func(*LockHolder) { cancel() }})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "stage first") {
		t.Fatalf("cancelled wait: %v", err)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

// writeLock puts a lock file for k/key with the given holder, as a holder
// that died without releasing it would leave it.
func writeLock(t *testing.T, s *Store, name string, h LockHolder) string {
	t.Helper()
	p := s.LockPath("k", "key") + name
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(h)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// TestStaleLockOnThisHost: locks left by dead processes of this host are
// taken over at once (no flock held), also when the PID was reused by this
// process and when a taker died while breaking the lock.
func TestStaleLockOnThisHost(t *testing.T) {
	host, _ := os.Hostname()
	for name, h := range map[string]LockHolder{
		"dead process": {Host: host, PID: deadPID(t), Nonce: "n1", Stage: "old"},
		"reused pid":   {Host: host, PID: os.Getpid(), Nonce: "n2", Stage: "old"},
		"live pid":     {Host: host, PID: 1, Nonce: "n3", Stage: "old"}, // alive, but holds no flock on the file
	} {
		for _, withBreak := range []bool{false, true} {
			s := newStore(t)
			writeLock(t, s, "", h)
			if withBreak {
				writeLock(t, s, ".break", LockHolder{Host: host, PID: deadPID(t), Nonce: "b"})
			}
			var took *LockHolder
			l, err := s.LockStage(context.Background(), "k", "key", LockOptions{
				OnWait:     func(h *LockHolder) { t.Errorf("%s: waited for %v", name, h) },
				OnTakeOver: func(h *LockHolder) { took = h },
			})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if took == nil || took.Nonce != h.Nonce {
				t.Errorf("%s (break %v): takeover of %+v", name, withBreak, took)
			}
			if err := l.Release(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestStaleLockOnAnotherHost: a lock of another host is taken over only
// after its content was seen unchanged for Stale.
func TestStaleLockOnAnotherHost(t *testing.T) {
	s := newStore(t)
	s.Locks = LockTimings{Poll: time.Millisecond, Stale: 20 * time.Millisecond}
	writeLock(t, s, "", LockHolder{Host: "elsewhere.invalid", PID: 1, Nonce: "far"})
	var events []string
	start := time.Now()
	l, err := s.LockStage(context.Background(), "k", "key", LockOptions{
		OnWait:     func(h *LockHolder) { events = append(events, "wait "+h.Host) },
		OnTakeOver: func(h *LockHolder) { events = append(events, "take "+h.Host) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if strings.Join(events, ", ") != "wait elsewhere.invalid, take elsewhere.invalid" || time.Since(start) < s.Locks.Stale {
		t.Fatalf("events %v after %v", events, time.Since(start))
	}
}

// TestJudgeAnotherHost: a holder on another host is stale once its lock
// file was seen unchanged for the stale time; any change (a heartbeat)
// starts the count again.
func TestJudgeAnotherHost(t *testing.T) {
	s := newStore(t)
	path := writeLock(t, s, "", LockHolder{Host: "elsewhere.invalid", PID: 1, Nonce: "far"})
	const staleAfter = time.Hour
	var seen observation
	if h, stale, err := judge(path, &seen, staleAfter); err != nil || stale || h.Host != "elsewhere.invalid" {
		t.Fatalf("first look: %+v %v %v", h, stale, err)
	}
	seen.since = seen.since.Add(-2 * staleAfter) // as if seen two hours ago
	writeLock(t, s, "", LockHolder{Host: "elsewhere.invalid", PID: 1, Nonce: "far", Beat: 1})
	if _, stale, _ := judge(path, &seen, staleAfter); stale {
		t.Fatal("a lock that beat was judged stale")
	}
	seen.since = seen.since.Add(-2 * staleAfter)
	if _, stale, _ := judge(path, &seen, staleAfter); !stale {
		t.Fatal("a lock unchanged for twice the stale time was not judged stale")
	}
}

// TestHeartbeatChangesTheLockFile: the holder's heartbeat is a change
// that other hosts see.
func TestHeartbeatChangesTheLockFile(t *testing.T) {
	s := newStore(t)
	l, err := s.LockStage(context.Background(), "k", "key", LockOptions{Stage: "s"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	before, _ := os.ReadFile(l.Path())
	l.mu.Lock()
	err = l.heartbeat()
	l.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(l.Path())
	var h LockHolder
	if err := json.Unmarshal(after, &h); err != nil || h.Beat != 1 || h.Stage != "s" || string(before) == string(after) {
		t.Fatalf("after a beat: %s (%v)", after, err)
	}
}

// TestReleaseKeepsATakenOverLock: a holder judged stale by another host
// does not remove the new holder's lock when it finally releases.
func TestReleaseKeepsATakenOverLock(t *testing.T) {
	s := newStore(t)
	l, err := s.LockStage(context.Background(), "k", "key", LockOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(l.Path()); err != nil {
		t.Fatal(err)
	}
	writeLock(t, s, "", LockHolder{Host: "elsewhere.invalid", PID: 1, Nonce: "new"})
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(l.Path()); err != nil || !strings.Contains(string(b), `"new"`) {
		t.Fatalf("the new holder's lock: %s %v", b, err)
	}
}

// BenchmarkStageLock is the cost of an uncontended stage lock: take and
// release (what every stage that runs pays once).
func BenchmarkStageLock(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		l, err := s.LockStage(ctx, "k", "key", LockOptions{Stage: "s"})
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Release(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookup is the cost of finding a cached entry of one small file
// (the per-stage cost of a cached plan): manifest, size and digest check.
func BenchmarkLookup(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	p, err := s.Begin("k", "key")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.Dir(), "out.txt"), []byte(strings.Repeat("x", 200)), 0o644); err != nil {
		b.Fatal(err)
	}
	if _, err := p.Commit(&Manifest{}, false); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Lookup("k", "key"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBreakStale: a judged-stale lock file is removed only if it still
// holds what was judged; a lock released meanwhile is free to take, one
// that changed hands is waited for.
func TestBreakStale(t *testing.T) {
	s := newStore(t)
	path := s.LockPath("k", "key")
	var seenBreak observation
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, content, judged string
		want                  int
		kept                  bool
	}{
		{"released", "", "old", breakGone, false},
		{"changed hands", "new", "old", breakWait, true},
		{"still stale", "old", "old", breakRemoved, false},
	} {
		_ = os.Remove(path)
		if c.content != "" {
			if err := os.WriteFile(path, []byte(c.content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		seen := observation{raw: c.judged, since: time.Now()}
		got, err := breakStale(s, path, &seen, &seenBreak, "s", time.Hour)
		if err != nil || got != c.want {
			t.Errorf("%s: %d %v, want %d", c.name, got, err, c.want)
		}
		if _, err := os.Stat(path); (err == nil) != c.kept {
			t.Errorf("%s: lock file kept = %v", c.name, err == nil)
		}
		if _, err := os.Stat(path + ".break"); err == nil {
			t.Errorf("%s: break lock left", c.name)
		}
	}
}
