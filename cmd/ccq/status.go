package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/progress"
	"github.com/ccq-project/ccq/pipeline/slurm"
	"github.com/ccq-project/ccq/pipeline/workspace"
	"github.com/spf13/cobra"
)

func init() {
	var (
		loc    locFlags
		all    bool
		asJSON bool
		follow bool
	)
	cmd := &cobra.Command{
		Use:   "status DIR|FILE",
		Short: "Show the state of a run, live or finished",
		Long: `Status reads <results>/<experiment>/state.json, which a run keeps up to date,
and says whether that run is still going. Give the results folder, or the
experiment file (its results folder is found with --results).`,
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
			st, err := pipeline.ReadState(abs)
			if err != nil {
				return err
			}
			if st.Executor == "slurm" {
				if follow && !(&pipeline.Results{Dir: abs}).Live(st) {
					rep := progress.New(progress.Auto, os.Stderr)
					fst, ferr := slurm.Follow(cmd.Context(), abs, slurm.FollowOptions{Observer: rep})
					rep.Close()
					if ferr != nil {
						return ferr
					}
					st = fst
					again := "ccq run FILE"
					for _, p := range fst.Only {
						again += " --only '" + p + "'"
					}
					slog.Info("the jobs have ended; run the experiment again (" + again + ") to publish runs.parquet and the report into the results folder: every finished stage is reused")
				} else if rst, _, rerr := slurm.Refresh(cmd.Context(), abs, slurm.FollowOptions{}); rerr == nil {
					st = rst
				} else {
					slog.Warn("could not ask Slurm about the run's jobs; showing the last recorded state", "err", rerr)
				}
			}
			live := (&pipeline.Results{Dir: abs}).Live(st)
			if asJSON {
				return printJSON(cmd.OutOrStdout(), workspace.StatusReport{Dir: abs, Live: live, State: st})
			}
			return workspace.WriteState(cmd.OutOrStdout(), abs, st, live, all, time.Now())
		},
	}
	loc.add(cmd)
	cmd.Flags().BoolVar(&all, "all", false, "list cached and unselected stages too")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the state as JSON")
	cmd.Flags().BoolVar(&follow, "follow", false, "follow a detached Slurm run until its jobs end")
	rootCmd.AddCommand(cmd)
}
