//go:build !race

package slurm_test

const raceEnabled = false
