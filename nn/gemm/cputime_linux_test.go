package gemm

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// threadCPUTime returns the CPU time consumed by the calling OS thread, in
// seconds, or 0 when it is not available.
func threadCPUTime() float64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return float64(ts.Sec) + float64(ts.Nsec)*1e-9
}

// lockThread pins the benchmark goroutine to its OS thread so that
// threadCPUTime measures it; the returned function undoes it.
func lockThread() func() {
	runtime.LockOSThread()
	return runtime.UnlockOSThread
}
