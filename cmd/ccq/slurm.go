package main

import (
	"fmt"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/slurm"
	"github.com/ccq-project/ccq/pipeline/workspace"
	"github.com/spf13/cobra"
)

// runnerDetaches says whether pipeline.Run leaves the stages of a detached
// executor pending (an Executor implementing Detached() bool) instead of
// counting them as cancelled. Until it does, --detach is refused here.
const runnerDetaches = true

// The Slurm executor: `ccq run FILE --executor slurm` (or [executor] kind =
// "slurm"), with the [executor.slurm] table overridden by these flags.
func init() {
	var (
		partition, account, timeLimit string
		cpus                          int
		detach, noArrays              bool
	)
	f := runCmd.Flags()
	f.StringVar(&partition, "partition", "", "Slurm partition (executor slurm; default [executor.slurm] partition, else the cluster's)")
	f.StringVar(&account, "account", "", "Slurm account (executor slurm; default [executor.slurm] account)")
	f.StringVar(&timeLimit, "time", "", "Slurm time limit per stage, such as 2:00:00 or 1-00:00:00 (executor slurm; default [executor.slurm] time)")
	f.IntVar(&cpus, "cpus-per-stage", 0, "CPUs of every Slurm job (executor slurm; default [executor.slurm] cpus_per_stage, else each stage's threads)")
	f.BoolVar(&detach, "detach", false, "submit the Slurm jobs and return at once (ccq status --follow re-attaches, ccq cancel cancels)")
	f.BoolVar(&noArrays, "no-arrays", false, "submit one Slurm job per stage instead of job arrays")
	slurmOnly := []string{"partition", "account", "time", "cpus-per-stage", "detach", "no-arrays"}

	executorFactories["slurm"] = func(cmd *cobra.Command, s *workspace.Session, _ int) (pipeline.Executor, error) {
		o := slurm.FromConfig(s.Exp.Executor.Slurm)
		fl := cmd.Flags()
		if fl.Changed("partition") {
			o.Partition = partition
		}
		if fl.Changed("account") {
			o.Account = account
		}
		if fl.Changed("time") {
			o.Time = timeLimit
		}
		if fl.Changed("cpus-per-stage") {
			o.CPUsPerStage = cpus
		}
		if detach && !runnerDetaches {
			return nil, fmt.Errorf("--detach is not wired into ccq run yet (the run would count the queued stages as cancelled); run without it, or start ccq run in the background")
		}
		o.Detach, o.NoArrays = detach, noArrays
		return slurm.New(o)
	}
	// The local executor refuses the Slurm flags rather than ignore them.
	if local := executorFactories["local"]; local != nil {
		executorFactories["local"] = func(cmd *cobra.Command, s *workspace.Session, jobs int) (pipeline.Executor, error) {
			for _, name := range slurmOnly {
				if cmd.Flags().Changed(name) {
					return nil, fmt.Errorf("--%s is an option of the Slurm executor (add --executor slurm, or kind = \"slurm\" in [executor])", name)
				}
			}
			return local(cmd, s, jobs)
		}
	}
}
