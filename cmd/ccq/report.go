package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/ccq-project/ccq/results/report"
	stagereport "github.com/ccq-project/ccq/stages/report"
	"github.com/ccq-project/ccq/stages/stageparams"
	"github.com/spf13/cobra"
)

// experimentReportOptions reads the [report] table of the experiment copy
// in a results folder (experiment.toml), so that a report rebuilt by hand
// tests what the run's report tested. ok is false when the folder has no
// copy or the copy has no [report].
func experimentReportOptions(dir string) (p stageparams.Report, ok bool, err error) {
	file := filepath.Join(dir, "experiment.toml")
	src, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return p, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("report options: %w", err)
	}
	var doc struct {
		Report map[string]any `toml:"report"`
	}
	if _, err := toml.Decode(string(src), &doc); err != nil {
		return p, false, fmt.Errorf("%s: %w", file, err)
	}
	if doc.Report == nil {
		return p, false, nil
	}
	if err := stageparams.Decode(doc.Report, &p); err != nil {
		return p, false, fmt.Errorf("%s: report.%w", file, err)
	}
	return p, true, nil
}

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
experiment too; the report then says it is partial. Prints the main table.
The marks follow the experiment's [report] (reference, pairs, alpha) as
read from the folder's experiment.toml; --reference, --pair and --alpha
override it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The experiment's own [report] first; flags given override it.
			flags := cmd.Flags()
			fromFile, ok, err := experimentReportOptions(args[0])
			if err != nil {
				return err
			}
			if ok {
				if !flags.Changed("reference") && fromFile.Reference != "" {
					opts.Reference = fromFile.Reference
				}
				if !flags.Changed("alpha") && fromFile.Alpha != 0 {
					opts.Alpha = fromFile.Alpha
				}
				if !flags.Changed("pair") && !flags.Changed("reference") {
					opts.Pairs = stagereport.TablePairs(fromFile)
				}
				if !flags.Changed("no-png") {
					opts.NoPNG = opts.NoPNG || fromFile.NoPNG
				}
			}
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
