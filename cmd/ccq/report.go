package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/ccq-project/ccq/results/report"
	"github.com/spf13/cobra"
)

func init() {
	var (
		asJSON bool
		opts   report.Options
		pairs  []string
	)
	cmd := &cobra.Command{
		Use:   "report RESULTS_DIR",
		Short: "Build the report of an experiment's results (report.md, report.html, tables, plots)",
		Long: `Read runs/<experiment>/ (runs.parquet, generations/, stages.parquet,
provenance.json, experiment.toml) and write report.md, a self-contained
report.html, tables/*.csv and plots/*.svg|png into it. Works on a running
experiment too; the report then says it is partial. Prints the main table.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, p := range pairs {
				a, b, ok := strings.Cut(p, ",")
				a, b = strings.TrimSpace(a), strings.TrimSpace(b)
				if !ok || a == "" || b == "" || a == b || strings.Contains(b, ",") {
					return fmt.Errorf("--pair %q: expected two different row names separated by a comma, such as ccea,ccea-random", p)
				}
				opts.Pairs = append(opts.Pairs, report.Pair{Method: a, Against: b})
			}
			sum, err := report.Build(cmd.Context(), args[0], opts)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), sum)
			}
			out := cmd.OutOrStdout()
			if err := report.MainTableText(out, sum.MainTables); err != nil {
				return err
			}
			if sum.Partial {
				fmt.Fprintln(out, "\nPARTIAL report:")
				for _, r := range sum.PartialReasons {
					fmt.Fprintln(out, "  -", r)
				}
			}
			_, err = fmt.Fprintf(out, "\nreport: %s\n        %s\n", filepath.Join(args[0], "report.html"), filepath.Join(args[0], "report.md"))
			return err
		},
	}
	cmd.Flags().StringVar(&opts.Reference, "reference", "ccea", "method the significance marks compare against")
	cmd.Flags().StringArrayVar(&pairs, "pair", nil, "test the rows of A against those of B (same settings) instead of the reference: A,B; repeatable (an experiment's [report] pairs)")
	cmd.Flags().Float64Var(&opts.Alpha, "alpha", 0.05, "significance level after Holm correction")
	cmd.Flags().BoolVar(&opts.Partial, "partial", false, "mark the report as partial (experiment still running)")
	cmd.Flags().BoolVar(&opts.NoPNG, "no-png", false, "write plots as SVG only")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON")
	rootCmd.AddCommand(cmd)
}
