//go:build unix

package store

import (
	"errors"
	"os"
	"syscall"
)

// ProcessAlive reports whether a process with this id runs on this host.
func ProcessAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		return true
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
