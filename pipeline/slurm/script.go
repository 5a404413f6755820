package slurm

import (
	"fmt"
	"path/filepath"
	"strings"
)

// shQuote quotes s for a POSIX shell.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// command is the job's command line before the task file: the binary, its
// extra arguments, "stage exec".
func (e *Executor) commandLine() string {
	parts := []string{shQuote(e.binary)}
	for _, a := range e.opt.BinaryArgs {
		parts = append(parts, shQuote(a))
	}
	parts = append(parts, "stage", "exec")
	return strings.Join(parts, " ")
}

// singleScript is the batch script of one stage: it runs the stage's task
// file (stdout and stderr go to the stage log through sbatch's --output).
func (e *Executor) singleScript(j *job) string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	fmt.Fprintf(&b, "# ccq stage %s (%s), written by ccq run --executor slurm\n", j.rec.Stage, j.rec.Kind)
	fmt.Fprintf(&b, "exec %s %s\n", e.commandLine(), shQuote(j.rec.TaskFile))
	return b.String()
}

// arrayScript is the batch script of a job array: element i runs the i-th
// stage, appending its output to that stage's log.
func (e *Executor) arrayScript(js []*job) string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	fmt.Fprintf(&b, "# ccq: %d %s stages as a job array, written by ccq run --executor slurm\n", len(js), js[0].rec.Kind)
	b.WriteString("case \"$SLURM_ARRAY_TASK_ID\" in\n")
	for i, j := range js {
		fmt.Fprintf(&b, "%d) task=%s; log=%s ;; # %s\n", i, shQuote(j.rec.TaskFile), shQuote(j.rec.Log), j.rec.Stage)
	}
	b.WriteString("*) echo \"ccq: job array element '$SLURM_ARRAY_TASK_ID' has no stage\" >&2; exit 2 ;;\n")
	b.WriteString("esac\n")
	b.WriteString("exec >>\"$log\" 2>&1\n")
	fmt.Fprintf(&b, "exec %s \"$task\"\n", e.commandLine())
	return b.String()
}

// sbatchArgs are the options of one submission. deps are job ids to wait
// for (afterok); array is the number of elements (0: not an array).
func (e *Executor) sbatchArgs(name string, cpus int, deps []string, array int, output string) []string {
	args := []string{"--parsable", "--job-name=" + name, "--ntasks=1", fmt.Sprintf("--cpus-per-task=%d", cpus),
		"--chdir=" + e.env.Results.Dir, "--output=" + output, "--error=" + output, "--open-mode=append"}
	if e.opt.Partition != "" {
		args = append(args, "--partition="+e.opt.Partition)
	}
	if e.opt.Account != "" {
		args = append(args, "--account="+e.opt.Account)
	}
	if e.opt.Time != "" {
		args = append(args, "--time="+e.opt.Time)
	}
	if len(deps) > 0 {
		args = append(args, "--dependency=afterok:"+strings.Join(deps, ":"), "--kill-on-invalid-dep=yes")
	}
	if array > 0 {
		args = append(args, fmt.Sprintf("--array=0-%d", array-1))
	}
	return append(args, e.opt.Args...)
}

// arrayOutput is where Slurm writes its own messages for array elements
// (the stage output itself goes to each stage's log).
func (e *Executor) arrayOutput(kind string) string {
	return filepath.Join(e.env.Results.Dir, "logs", "slurm", kind+"-%A_%a.out")
}
