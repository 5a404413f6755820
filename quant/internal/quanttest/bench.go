package quanttest

import (
	"os"
	"strconv"
)

// BenchChunk reads a benchmark's chunk size from CCQ_BENCH_CHUNK (0: the
// default).
func BenchChunk() int {
	c, _ := strconv.Atoi(os.Getenv("CCQ_BENCH_CHUNK"))
	return c
}
