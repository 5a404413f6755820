package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ccq-project/ccq/pipeline/store"
)

// LockInfo is what a lock file holds: who runs in a results folder.
type LockInfo struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Started time.Time `json:"started"`
	Command string    `json:"command,omitempty"`
}

// ErrLocked reports a results folder in use by a live run.
type ErrLocked struct {
	Path string
	Info *LockInfo
}

func (e *ErrLocked) Error() string {
	who := "another ccq run"
	if e.Info != nil && e.Info.PID > 0 {
		who = fmt.Sprintf("ccq (pid %d on %s, started %s)", e.Info.PID, e.Info.Host, e.Info.Started.Local().Format("2006-01-02 15:04:05"))
	}
	return fmt.Sprintf("results folder is in use by %s: lock %s; wait for that run to end or stop it (ccq status shows its progress)", who, e.Path)
}

// Lock is a held lock on a results folder. The lock is an flock(2) on the
// lock file, released by the kernel when the process dies, so a crashed run
// never leaves the folder locked; the file also records PID, host and start
// time for messages.
type Lock struct {
	f    *os.File
	path string
	// TakenOver describes the previous holder when it ended without
	// releasing the lock (a crash); nil otherwise.
	TakenOver *LockInfo
}

// AcquireLock takes the lock file at path or returns *ErrLocked.
func AcquireLock(path, command string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := flockExclusive(f); err != nil {
		info, _ := readLockInfo(f)
		f.Close()
		if errors.Is(err, errWouldBlock) {
			return nil, &ErrLocked{Path: path, Info: info}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	l := &Lock{f: f, path: path}
	if prev, err := readLockInfo(f); err == nil && prev != nil && prev.PID > 0 {
		l.TakenOver = prev
	}
	host, _ := os.Hostname()
	info := LockInfo{PID: os.Getpid(), Host: host, Started: time.Now().UTC(), Command: command}
	b, _ := json.Marshal(info)
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt(append(b, '\n'), 0)
		if err == nil {
			err = f.Sync()
		}
		if err != nil {
			l.Release()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
	}
	return l, nil
}

// Release empties the lock file and unlocks it. The file stays (removing it
// would let two runs lock different files of the same name).
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := funlock(l.f)
	cerr := l.f.Close()
	l.f = nil
	if err != nil {
		return fmt.Errorf("unlock %s: %w", l.path, err)
	}
	return cerr
}

func readLockInfo(f *os.File) (*LockInfo, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(string(b)) == "" {
		return nil, nil
	}
	var info LockInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// ReadLock returns the holder recorded in a lock file (nil when free or
// released) and whether that holder looks alive: a process with that PID
// runs on this host, or the holder is on another host (not checkable).
func ReadLock(path string) (*LockInfo, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, false, nil
		}
		return nil, false, err
	}
	defer f.Close()
	info, err := readLockInfo(f)
	if err != nil || info == nil {
		return nil, false, err
	}
	host, _ := os.Hostname()
	if info.Host != host {
		return info, true, nil
	}
	return info, store.ProcessAlive(info.PID), nil
}
