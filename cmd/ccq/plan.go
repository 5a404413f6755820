package main

import (
	"runtime"

	"github.com/ccq-project/ccq/pipeline/workspace"
	"github.com/spf13/cobra"
)

func init() {
	var (
		loc    locFlags
		rerun  []string
		only   []string
		force  bool
		verify bool
		all    bool
		jobs   int
		asJSON bool
		sets   []string
		est    estimateFlags
	)
	cmd := &cobra.Command{
		Use:   "plan FILE",
		Short: "Show what ccq run would do: each stage cached, to run or blocked, and why",
		Long: `Plan expands the experiment and looks every stage up in the store without
running anything. Stages to run say why (which parameter or input changed
since the last run in this results folder, or that they are new); blocked
stages say what is missing (a stage kind not built in, a bad parameter, a
missing file). The work estimate comes from the stage kinds, each stage
estimated at the threads the executor of [executor] will give it (the
local executor: the kind's threads, at most --jobs).

--only PATTERN plans the part of the file ccq run --only would run (see ccq
run --help): stages outside the selection are cached when the store has
them and otherwise "unselected", with what they would be without --only;
--all lists them.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := est.install(); err != nil {
				return err
			}
			s, err := workspace.Load(args[0], loc.resolve(), nil, sets...)
			if err != nil {
				return err
			}
			st, err := s.OpenStore()
			if err != nil {
				return err
			}
			if jobs, err = resolveJobs(cmd, s, jobs); err != nil {
				return err
			}
			// The executor a run would use sizes each stage's threads, so
			// that the estimates are for the threads stages will get.
			_, factory, err := lookupExecutor(s, "")
			if err != nil {
				return err
			}
			exec, err := factory(cmd, s, jobs)
			if err != nil {
				return err
			}
			p, err := s.Plan(st, workspace.PlanFlags{Rerun: rerun, Force: force, Verify: verify, Only: only, Threads: stageThreads(exec)})
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), s.Report(p))
			}
			return workspace.WritePlan(cmd.OutOrStdout(), s.Exp.Name, p, jobs, all)
		},
	}
	loc.add(cmd)
	est.add(cmd)
	cmd.Flags().StringArrayVar(&rerun, "rerun", nil, "plan a rerun of stages matching this pattern and their dependents")
	cmd.Flags().StringArrayVar(&only, "only", nil, "plan only the stages matching this pattern, what they read from and the evaluate stages of the matched ones, as ccq run --only; repeatable")
	cmd.Flags().BoolVar(&force, "force", false, "plan a rerun of every stage")
	cmd.Flags().BoolVar(&verify, "verify", false, "re-hash every file of the cached entries (always checked: every file exists with its size; files under 1 MiB also by digest)")
	cmd.Flags().BoolVar(&all, "all", false, "list cached and unselected stages too")
	cmd.Flags().IntVarP(&jobs, "jobs", "j", runtime.NumCPU(), "CPU slots assumed by the wall time estimate")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	cmd.Flags().StringArrayVar(&sets, "set", nil, setFlagUsage)
	rootCmd.AddCommand(cmd)
}
