//go:build !race

package engine

// raceEnabled reports a -race build (which allocates in instrumented code).
const raceEnabled = false
