package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ccq-project/ccq/pipeline/slurm"
	"github.com/ccq-project/ccq/pipeline/workspace"
	"github.com/spf13/cobra"
)

func init() {
	var (
		loc    locFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "cancel DIR|FILE",
		Short: "Cancel the Slurm jobs of a run",
		Long: `Cancel reads <results>/<experiment>/jobs.json, written by ccq run --executor
slurm, and scancels every job of that submission that has not finished
(jobs of an earlier submission still queued too). When no ccq process is
attached to the run (a detached submission), the stages are recorded as
cancelled in jobs.json and state.json; an attached ccq run sees the
cancellations and reports them itself. Finished stages stay in the store:
running the experiment again resubmits only what did not finish. Give the
results folder, or the experiment file (its results folder is found with
--results).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if fi, err := os.Stat(dir); err == nil && !fi.IsDir() && strings.HasSuffix(dir, ".toml") {
				s, err := workspace.Load(dir, loc.resolve(), nil)
				if err != nil {
					return err
				}
				dir = s.ResultsDir()
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			rep, err := slurm.Cancel(cmd.Context(), abs, slurm.FollowOptions{})
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), rep)
			}
			w := cmd.OutOrStdout()
			if len(rep.Cancelled) == 0 {
				_, err := fmt.Fprintf(w, "%s: no job to cancel (%d stages of the last submission already finished)\n", abs, rep.Finished)
				return err
			}
			fmt.Fprintf(w, "%s: cancelled %d jobs\n", abs, len(rep.Cancelled))
			for i, id := range rep.Cancelled {
				fmt.Fprintf(w, "  %-12s %s\n", id, rep.Stages[i])
			}
			if rep.Attached {
				fmt.Fprintln(w, "a ccq process is attached to this run: it will report the cancellations")
			}
			return nil
		},
	}
	loc.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print what was cancelled as JSON")
	rootCmd.AddCommand(cmd)
}
