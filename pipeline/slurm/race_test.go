//go:build race

package slurm_test

const raceEnabled = true
