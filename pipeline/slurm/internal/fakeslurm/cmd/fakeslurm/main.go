// Command fakeslurm is the fake Slurm of pipeline/slurm's tests as a
// binary of its own: run as sbatch, squeue, scontrol, sacct or scancel (by
// the name it is linked under) it acts as that command; run as
// `fakeslurm stage exec FILE` it runs a task over the pipeline's test
// kinds. The tests build it without the race detector, whose start-up
// cost would make each fake command take a second.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/ccq-project/ccq/pipeline/slurm/internal/fakeslurm"
)

func main() {
	if slices.Contains(fakeslurm.Commands, filepath.Base(os.Args[0])) {
		os.Exit(fakeslurm.Main())
	}
	if len(os.Args) == 4 && os.Args[1] == "stage" && os.Args[2] == "exec" {
		os.Exit(fakeslurm.StageExec(os.Args[3]))
	}
	fmt.Fprintln(os.Stderr, "usage: link as sbatch, squeue, scontrol, sacct or scancel, or: fakeslurm stage exec FILE")
	os.Exit(2)
}
