//go:build unix

package quanttest

import (
	"syscall"
	"time"
)

// CPUTime is the process's user+system CPU time (less sensitive than wall
// time to other processes on a shared machine), for benchmarks.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
