//go:build unix

package store

import (
	"errors"
	"os"
	"syscall"
)

// errWouldBlock reports a flock held by another open file.
var errWouldBlock = errors.New("flock held elsewhere")

// flockTry takes a shared or exclusive flock(2) on f without waiting. It
// returns errWouldBlock when another open file holds a conflicting one,
// and another error when the file system does not support flock.
func flockTry(f *os.File, exclusive bool) error {
	how := syscall.LOCK_SH | syscall.LOCK_NB
	if exclusive {
		how = syscall.LOCK_EX | syscall.LOCK_NB
	}
	for {
		err := syscall.Flock(int(f.Fd()), how)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return errWouldBlock
		}
		return err
	}
}

func funlock(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

// linkedAnyway reports whether a link(2) of path that returned an error
// happened nonetheless (path has two links): over NFS, a retransmitted
// LINK request can fail with EEXIST after the first one succeeded.
func linkedAnyway(path string) bool {
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink == 2
}
