//go:build unix

package fakeslurm

import (
	"os"
	"syscall"
)

// stopSignals end a fake stage like SIGTERM from Slurm's scancel.
var stopSignals = []os.Signal{syscall.SIGTERM, os.Interrupt}

// lockFile takes an exclusive lock on f (released when the process ends).
func lockFile(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }
