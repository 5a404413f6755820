package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Default timings of stage locks (see LockTimings).
const (
	DefaultLockPoll  = time.Second
	DefaultLockBeat  = 30 * time.Second
	DefaultLockStale = 5 * time.Minute
)

// LockTimings tune stage locks; zero fields take the defaults.
type LockTimings struct {
	// Poll is the longest pause between two looks at a lock held by
	// another process (the first pauses are shorter; waiters in the same
	// process are woken at once on release). Default DefaultLockPoll.
	Poll time.Duration
	// Beat is how often a holder rewrites its lock file (its heartbeat).
	// Default DefaultLockBeat.
	Beat time.Duration
	// Stale is how long a waiter must see the lock file of a holder on
	// another host unchanged before it takes the lock over. It should be
	// several Beats plus the file system's attribute cache time. Default
	// DefaultLockStale.
	Stale time.Duration
}

func (t LockTimings) withDefaults() LockTimings {
	if t.Poll <= 0 {
		t.Poll = DefaultLockPoll
	}
	if t.Beat <= 0 {
		t.Beat = DefaultLockBeat
	}
	if t.Stale <= 0 {
		t.Stale = DefaultLockStale
	}
	return t
}

// LockHolder is the content of a stage lock file: who builds the entry.
type LockHolder struct {
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Stage   string    `json:"stage,omitempty"`
	Started time.Time `json:"started"`
	// Nonce tells apart two locks of the same key (a new holder after a
	// release, or a reused PID).
	Nonce string `json:"nonce"`
	// Beat counts the holder's heartbeats.
	Beat int64 `json:"beat"`
}

func (h *LockHolder) String() string {
	if h == nil {
		return "another ccq process"
	}
	s := fmt.Sprintf("ccq pid %d on %s", h.PID, h.Host)
	if h.Stage != "" {
		s += " (stage " + h.Stage + ")"
	}
	return s
}

// LockOptions are the optional parts of LockStage.
type LockOptions struct {
	// Stage names the stage taking the lock (recorded for messages).
	Stage string
	// OnWait, if set, is called when the lock is found held, and again
	// whenever its holder changes, with the holder (nil if unreadable).
	OnWait func(holder *LockHolder)
	// OnTakeOver, if set, is called when a stale lock is removed, with its
	// holder, before the lock is taken.
	OnTakeOver func(holder *LockHolder)
}

// StageLock is a held lock on the entry key of a stage (see LockStage).
type StageLock struct {
	path  string
	f     *os.File
	nonce string
	beat  LockHolder // the content, rewritten with Beat+1 by the heartbeat

	mu       sync.Mutex // serialises heartbeats and Release
	timer    *time.Timer
	released bool
	once     sync.Once
}

// LockPath is the lock file of kind and key: <root>/<kind>/.lock/<key>.
func (s *Store) LockPath(kind, key string) string {
	return filepath.Join(s.root, kind, ".lock", key)
}

// LockStage takes the lock of the entry for kind and key, waiting while
// another run (in this process, another process or on another host) holds
// it, until ctx is done. A stage holds it from before it looks for its entry
// until after it commits, so that concurrent runs sharing a store build
// each entry once and never share a checkpoint folder.
//
// What it relies on, so that it also works with the store on a shared file
// system (NFS, Lustre, GPFS, BeeGFS) reached from several hosts:
//
//   - Taking the lock is link(2) of a complete, private file to the lock
//     path, which fails when the path exists: atomic on local file systems
//     and on NFS (since v2; a link reported as failed is double-checked by
//     the link count, for retransmitted requests). The lock file holds
//     host, PID, stage, start time, a random nonce and a heartbeat count.
//   - A holder on this host is judged alive by flock(2): it holds an
//     exclusive flock on its lock file from before the file is published
//     until after it is removed, and the kernel drops it when the process
//     dies, even by SIGKILL; so a crashed holder's lock is taken over at
//     once, and a reused PID is never mistaken for the holder. Where flock
//     is not supported, the recorded PID is probed instead, and the
//     heartbeat rule below applies too. A holder in this process is known
//     by its nonce.
//   - A holder on another host cannot be probed: it rewrites its lock file
//     every Beat (a counter, written and fsynced so other hosts see it),
//     and a waiter takes the lock over once it has seen the file unchanged
//     for Stale by its own clock (clocks of different hosts are never
//     compared; NFS close-to-open consistency makes every new open see the
//     latest content). A holder stopped (SIGSTOP) for longer than Stale
//     loses its lock to a waiter on another host.
//   - Taking over a stale lock is done under a second lock,
//     <key>.break, taken the same way; the stale file is removed only if it
//     still holds exactly what was judged stale.
//   - Hostnames are distinct across the hosts sharing the store.
func (s *Store) LockStage(ctx context.Context, kind, key string, opt LockOptions) (*StageLock, error) {
	if err := CheckSegment(kind); err != nil {
		return nil, err
	}
	if err := CheckSegment(key); err != nil {
		return nil, err
	}
	path := s.LockPath(kind, key)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	tim := s.Locks.withDefaults()
	l, err := s.createLock(path, opt.Stage)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			l.discard()
		}
	}()
	var seen, seenBreak observation
	var lastHolder string
	pause := 10 * time.Millisecond
	for {
		linked, err := l.publish()
		if err != nil {
			return nil, err
		}
		if linked {
			ok = true
			l.startBeat(tim.Beat)
			return l.StageLock, nil
		}
		wake := wakeChan(path)
		holder, stale, err := judge(path, &seen, tim.Stale)
		if err != nil {
			return nil, err
		}
		if stale {
			broke, err := breakStale(s, path, &seen, &seenBreak, opt.Stage, tim.Stale)
			if err != nil {
				return nil, err
			}
			if broke != breakWait {
				if broke == breakRemoved && opt.OnTakeOver != nil {
					opt.OnTakeOver(holder)
				}
				continue
			}
		}
		if holder == nil && seen.raw == "" {
			continue // released between the link and the look
		}
		if opt.OnWait != nil && seen.raw != "" && holderID(holder) != lastHolder {
			lastHolder = holderID(holder)
			opt.OnWait(holder)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("waiting for the store lock of %s/%s held by %s: %w", kind, key, holder, ctx.Err())
		case <-wake:
			t.Stop()
		case <-t.C:
		}
		pause = min(2*pause, tim.Poll)
	}
}

func holderID(h *LockHolder) string {
	if h == nil {
		return "?"
	}
	return h.Nonce
}

// Release removes the lock file (if it is still this lock's) and drops the
// lock. It is safe to call more than once.
func (l *StageLock) Release() error {
	var err error
	l.once.Do(func() {
		l.mu.Lock()
		l.released = true
		if l.timer != nil {
			l.timer.Stop()
		}
		l.mu.Unlock()
		// Remove the path only while it is still our file: a waiter on
		// another host may have judged us stale and taken it over.
		if fi, serr := os.Stat(l.path); serr == nil {
			if mine, ferr := l.f.Stat(); ferr == nil && os.SameFile(fi, mine) {
				if rerr := os.Remove(l.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
					err = fmt.Errorf("store: releasing lock %s: %w", l.path, rerr)
				}
			}
		}
		forgetNonce(l.nonce)
		_ = funlock(l.f)
		_ = l.f.Close()
		wakeWaiters(l.path)
	})
	return err
}

// Path is the lock file.
func (l *StageLock) Path() string { return l.path }

// pendingLock is a private, complete, flocked lock file not yet published.
type pendingLock struct {
	*StageLock
	tmp string
}

func newNonce() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// createLock writes the private file that publish links to path.
func (s *Store) createLock(path, stage string) (*pendingLock, error) {
	host, _ := os.Hostname()
	h := LockHolder{Host: host, PID: os.Getpid(), Stage: stage, Started: time.Now().UTC(), Nonce: newNonce()}
	b, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("store: lock: %w", err)
	}
	tmp := path + "." + uniqueSuffix()
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("store: lock: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("store: lock %s: %w", tmp, err)
	}
	// Held from before the file is published: a holder on this host is
	// alive exactly while its flock is held. An unsupported flock leaves
	// the PID probe.
	_ = flockTry(f, true)
	rememberNonce(h.Nonce)
	l := &StageLock{path: path, f: f, nonce: h.Nonce, beat: h}
	return &pendingLock{StageLock: l, tmp: tmp}, nil
}

// publish links the private file to the lock path; false means the path
// is taken.
func (l *pendingLock) publish() (bool, error) {
	err := os.Link(l.tmp, l.path)
	if err != nil && !linkedAnyway(l.tmp) {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("store: taking lock %s: %w", l.path, err)
	}
	_ = os.Remove(l.tmp)
	return true, nil
}

// discard drops a lock that was never published.
func (l *pendingLock) discard() {
	forgetNonce(l.nonce)
	_ = os.Remove(l.tmp)
	_ = funlock(l.f)
	_ = l.f.Close()
}

// startBeat rewrites the lock file every beat until Release (a timer,
// not a goroutine: most locks are held for less than a beat).
func (l *StageLock) startBeat(every time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.timer = time.AfterFunc(every, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.released {
			return
		}
		_ = l.heartbeat()
		l.timer.Reset(every)
	})
}

// heartbeat rewrites the lock file with the next beat count and syncs it
// (so that, on NFS, other hosts see it). The content only grows (the
// counter), so it is rewritten in place without truncation. Called with
// l.mu held (or before the lock is shared).
func (l *StageLock) heartbeat() error {
	l.beat.Beat++
	b, err := json.Marshal(l.beat)
	if err != nil {
		return err
	}
	if _, err := l.f.WriteAt(append(b, '\n'), 0); err != nil {
		return err
	}
	return l.f.Sync()
}

// observation is what a waiter saw of a lock file held on another host:
// its content and since when (by the waiter's monotonic clock).
type observation struct {
	raw   string
	since time.Time
}

// judge reads the lock file at path and says who holds it and whether the
// holder is gone. A missing file gives (nil, false) with seen.raw empty.
func judge(path string, seen *observation, staleAfter time.Duration) (*LockHolder, bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		seen.raw = ""
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: reading lock %s: %w", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, false, fmt.Errorf("store: reading lock %s: %w", path, err)
	}
	raw := string(b)
	now := time.Now()
	if raw != seen.raw || seen.since.IsZero() {
		seen.raw, seen.since = raw, now
	}
	var h *LockHolder
	if err := json.Unmarshal(b, &h); err != nil || h == nil || h.Nonce == "" {
		h = nil
	}
	host, _ := os.Hostname()
	if h == nil || h.Host != host {
		// Unreadable (being written?) or on another host: stale only once
		// unchanged for staleAfter.
		return h, now.Sub(seen.since) >= staleAfter, nil
	}
	if h.PID == os.Getpid() {
		return h, !nonceLive(h.Nonce), nil
	}
	switch err := flockTry(f, false); {
	case err == nil:
		// The holder's exclusive flock is gone: it ended without removing
		// its lock file (or released it just now, which breakStale sees).
		_ = funlock(f)
		return h, true, nil
	case errors.Is(err, errWouldBlock):
		return h, false, nil
	default:
		// No flock here: probe the PID, and as a backstop (a reused PID,
		// or no probe on this system) apply the heartbeat rule.
		return h, !ProcessAlive(h.PID) || now.Sub(seen.since) >= staleAfter, nil
	}
}

// Outcomes of breakStale.
const (
	breakWait    = iota // the lock changed hands, or another process breaks it: wait
	breakRemoved        // the stale lock file was removed: take the lock
	breakGone           // the lock file was already gone (released): take the lock
)

// breakStale removes the lock file at path if it still holds what seen
// recorded, under the lock <path>.break. When another process holds the
// break lock it returns breakWait; a break lock left by a dead process is
// removed the same way as a stale stage lock (seenBreak keeps what was seen
// of it).
func breakStale(s *Store, path string, seen, seenBreak *observation, stage string, staleAfter time.Duration) (int, error) {
	brkPath := path + ".break"
	brk, err := s.createLock(brkPath, stage)
	if err != nil {
		return breakWait, err
	}
	for try := 0; ; try++ {
		linked, err := brk.publish()
		if err != nil {
			brk.discard()
			return breakWait, err
		}
		if linked {
			break
		}
		_, stale, jerr := judge(brkPath, seenBreak, staleAfter)
		if jerr != nil || !stale || try > 0 {
			brk.discard()
			return breakWait, nil
		}
		if b, rerr := os.ReadFile(brkPath); rerr == nil && string(b) == seenBreak.raw {
			_ = os.Remove(brkPath)
		}
		*seenBreak = observation{}
	}
	defer brk.release()
	judged := seen.raw
	*seen = observation{}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return breakGone, nil
	case err != nil || string(b) != judged:
		return breakWait, nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return breakWait, fmt.Errorf("store: removing stale lock %s: %w", path, err)
	}
	return breakRemoved, nil
}

// release removes a published break lock.
func (l *pendingLock) release() {
	_ = os.Remove(l.path)
	l.discard()
}

// In-process state: the nonces of this process's locks (so a waiter in
// this process can tell a live holder from a dead process that had the same
// PID), and channels that wake waiters when a lock is released.
var (
	procMu     sync.Mutex
	liveNonces = map[string]bool{}
	wakers     = map[string]chan struct{}{}
)

func rememberNonce(n string) { procMu.Lock(); liveNonces[n] = true; procMu.Unlock() }
func forgetNonce(n string)   { procMu.Lock(); delete(liveNonces, n); procMu.Unlock() }
func nonceLive(n string) bool {
	procMu.Lock()
	defer procMu.Unlock()
	return liveNonces[n]
}

// wakeChan returns a channel closed at the next release of the lock at path
// by this process.
func wakeChan(path string) <-chan struct{} {
	procMu.Lock()
	defer procMu.Unlock()
	c, ok := wakers[path]
	if !ok {
		c = make(chan struct{})
		wakers[path] = c
	}
	return c
}

func wakeWaiters(path string) {
	procMu.Lock()
	defer procMu.Unlock()
	if c, ok := wakers[path]; ok {
		close(c)
		delete(wakers, path)
	}
}
