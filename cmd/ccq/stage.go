package main

import (
	"fmt"
	"os"
	"time"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/progress"
	"github.com/spf13/cobra"
)

func init() {
	stageCmd := &cobra.Command{
		Use:    "stage",
		Short:  "Run single stages (used by executors)",
		Hidden: true,
	}
	var asJSON bool
	exec := &cobra.Command{
		Use:   "exec TASKFILE",
		Short: "Run one stage from a task file written by ccq run",
		Long: `Exec runs one stage described by a task file (JSON, see pipeline.Task): it
checks its inputs in the store, runs it, and commits its entry. An entry that
already exists is kept (a resubmitted job does nothing). Executors that run
stages in other processes or on other machines (Slurm) call this.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := pipeline.ReadTaskFile(args[0])
			if err != nil {
				return err
			}
			plain := progress.NewPlain(os.Stderr, 10*time.Second)
			plain.Observe(pipeline.Event{Type: pipeline.EventStarted, Stage: t.Name, Threads: t.Threads})
			e, err := pipeline.Exec(cmd.Context(), t, pipeline.ExecOptions{Progress: func(f float64, msg string) {
				plain.Observe(pipeline.Event{Type: pipeline.EventProgress, Stage: t.Name, Fraction: f, Message: msg})
			}})
			if err != nil {
				return fmt.Errorf("%w (log: %s)", err, t.LogPath)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), e)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), e.Dir)
			return err
		},
	}
	exec.Flags().BoolVar(&asJSON, "json", false, "print the entry as JSON")
	stageCmd.AddCommand(exec)
	rootCmd.AddCommand(stageCmd)
}
