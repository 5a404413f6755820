package quanttest

import (
	"os"
	"strconv"
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

// BenchChunk reads a benchmark's chunk size from CCQ_BENCH_CHUNK (0: the
// default).
func BenchChunk() int {
	c, _ := strconv.Atoi(os.Getenv("CCQ_BENCH_CHUNK"))
	return c
}
