package main

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/workspace"
	"github.com/spf13/cobra"
)

func init() {
	var (
		loc    locFlags
		all    bool
		asJSON bool
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
			live := (&pipeline.Results{Dir: abs}).Live(st)
			if asJSON {
				return printJSON(cmd.OutOrStdout(), workspace.StatusReport{Dir: abs, Live: live, State: st})
			}
			return workspace.WriteState(cmd.OutOrStdout(), abs, st, live, all, time.Now())
		},
	}
	loc.add(cmd)
	cmd.Flags().BoolVar(&all, "all", false, "list cached stages too")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the state as JSON")
	rootCmd.AddCommand(cmd)
}
