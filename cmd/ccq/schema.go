package main

import (
	"fmt"

	"github.com/ccq-project/ccq/results"
	"github.com/spf13/cobra"
)

func init() {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Print the schemas of the result tables (runs, generations, stages)",
		Long: `Print the documented schemas of the Parquet tables every run leaves under
runs/<experiment>/: runs.parquet, generations/ and stages.parquet.
The same text is in results/README.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON {
				return printJSON(cmd.OutOrStdout(), results.Schemas())
			}
			_, err := fmt.Fprint(cmd.OutOrStdout(), results.SchemaMarkdown())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	rootCmd.AddCommand(cmd)
}
