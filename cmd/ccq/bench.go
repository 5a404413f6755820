package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// benchCmd is the parent of the benchmark commands; `ccq bench` alone
// measures model training and inference throughput, subcommands measure
// other parts (for example `ccq bench evaluator`).
var benchCmd = &cobra.Command{
	Use:   "bench",
	Short: "Measure training and inference throughput (subcommands measure other parts)",
	Args:  cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		return errors.New("ccq bench: model benchmarks are not built yet")
	},
}

func init() { rootCmd.AddCommand(benchCmd) }
