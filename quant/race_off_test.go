//go:build !race

package quant

// raceEnabled reports a -race build (which allocates in instrumented code).
const raceEnabled = false
