package main

import (
	"github.com/ccq-project/ccq/results/report"
	"github.com/spf13/cobra"
)

func init() {
	var (
		asJSON bool
		opts   report.TableOptions
	)
	cmd := &cobra.Command{
		Use:   "compare RESULTS_A RESULTS_B",
		Short: "Compare the main tables of two experiments cell by cell",
		Long: `Compare two results folders (or two runs.parquet files): every main-table
cell (dataset, model, method, bit width) of A and B side by side, with the
difference of means in percentage points and a rank-sum p-value.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := report.CompareDirs(args[0], args[1], opts)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), c)
			}
			return c.Text(cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&opts.Reference, "reference", "ccea", "method the significance marks compare against")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	rootCmd.AddCommand(cmd)
}
