//go:build race

package gemm

// raceEnabled: the race detector makes sync.Pool drop items at random, so
// the no-allocation tests are skipped.
const raceEnabled = true
