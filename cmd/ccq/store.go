package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/ccq-project/ccq/internal/atomicfile"
	"github.com/ccq-project/ccq/pipeline/store"
	"github.com/ccq-project/ccq/pipeline/storepack"
	"github.com/ccq-project/ccq/pipeline/workspace"
	"github.com/spf13/cobra"
)

var storeCmd = &cobra.Command{
	Use:   "store",
	Short: "Carry finished store entries between machines: export and import",
	Long: `The store (--store, else $CCQ_STORE, else <results>/.store) holds the outputs
of every finished stage, by key. ccq store export writes the entries of an
experiment (or of the whole store) into a .tar.gz archive; ccq store import
reads such archives into another store, checking every entry, so that ccq run
of the same experiment there finds those stages cached and runs only what is
missing. Entries are identified by their keys, which include the ccq version:
export and import with the same ccq version as the runs that will use them.`,
	Args: cobra.NoArgs,
}

func init() {
	rootCmd.AddCommand(storeCmd)
	storeCmd.AddCommand(storeExportCmd(), storeImportCmd())
}

func storeExportCmd() *cobra.Command {
	var (
		loc  locFlags
		out  string
		only []string
		all  bool
		sets []string
	)
	cmd := &cobra.Command{
		Use:   "export FILE -o OUT.tar.gz | --all -o OUT.tar.gz",
		Short: "Write the store entries of an experiment into a .tar.gz archive",
		Long: `Export writes, for every stage of the experiment FILE (or only those --only
selects, as ccq run --only does) whose entry the store holds, the entry's
folder (manifest.json and every output file) into a gzip-compressed tar
archive, under <kind>/<key>/. Each entry is checked fully first (every file's
SHA-256 against its manifest, no unlisted file): a damaged entry is reported
and left out (the archive holds the others; the exit status is 1). Stages not in the store are counted (listed with --log-level
debug). With --all, every entry of the store is exported and no FILE is given.

The archive is deterministic: the same entries give the same bytes (sorted,
times set to 1970-01-01, owner 0, modes 0644 and 0755). It is written to a
temporary name and renamed to OUT when complete.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("-o OUT.tar.gz: expected the archive to write")
			}
			var (
				st    *store.Store
				refs  []store.Ref
				names = map[store.Ref][]string{}
				noKey []string
			)
			if all {
				if len(args) != 0 || len(only) != 0 || len(sets) != 0 {
					return errors.New("--all exports the whole store: give no FILE, --only or --set")
				}
				var err error
				if st, err = store.Open(loc.resolve().Store); err != nil {
					return err
				}
				if refs, err = st.List(); err != nil {
					return err
				}
			} else {
				if len(args) != 1 {
					return errors.New("expected one experiment FILE (or --all)")
				}
				s, err := workspace.Load(args[0], loc.resolve(), nil, sets...)
				if err != nil {
					return err
				}
				selected, err := s.Select(only)
				if err != nil {
					return err
				}
				if st, err = s.OpenStore(); err != nil {
					return err
				}
				plan, err := s.Plan(st, workspace.PlanFlags{})
				if err != nil {
					return err
				}
				for _, sp := range plan.Stages {
					if selected != nil && !selected[sp.Name] {
						continue
					}
					if sp.Key == "" { // blocked: no key, so no entry
						noKey = append(noKey, sp.Name)
						continue
					}
					r := store.Ref{Kind: sp.Kind, Key: sp.Key}
					if names[r] == nil {
						refs = append(refs, r)
					}
					names[r] = append(names[r], sp.Name)
				}
			}
			g, err := storepack.Gather(cmd.Context(), st, refs)
			if err != nil {
				return err
			}
			for _, d := range g.Damaged {
				slog.Warn("damaged store entry left out", "entry", d.Ref.String(), "stages", strings.Join(names[d.Ref], " "), "err", d.Err)
			}
			missing := noKey
			for _, r := range g.Missing {
				missing = append(missing, names[r]...)
			}
			if len(missing) > 0 {
				slog.Info("stages not in the store (not exported)", "stages", len(missing))
				slog.Debug("not in the store", "stages", strings.Join(missing, " "))
			}
			if len(g.Entries) == 0 {
				return fmt.Errorf("nothing to export: no entry of the store %s passed its check", st.Root())
			}
			f, err := atomicfile.Create(out, atomicfile.Options{})
			if err != nil {
				return err
			}
			cw := &countingWriter{w: f}
			if err := storepack.Export(cmd.Context(), g.Entries, cw); err != nil {
				f.Abort()
				return fmt.Errorf("writing %s: %w", out, err)
			}
			if err := f.Commit(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d entries, %d bytes, to %s\n", len(g.Entries), cw.n, out)
			if len(g.Damaged) > 0 {
				return &exitCodeError{code: 1, err: fmt.Errorf("%d damaged entries were left out (see above)", len(g.Damaged))}
			}
			return nil
		},
	}
	loc.add(cmd)
	cmd.Flags().StringVarP(&out, "output", "o", "", "archive to write (.tar.gz)")
	cmd.Flags().StringArrayVar(&only, "only", nil, "export only the stages matching this pattern (a name, a glob such as 'quantize/*', or a kind), what they read from and the evaluate stages of the matched ones, as ccq run --only; repeatable")
	cmd.Flags().BoolVar(&all, "all", false, "export every entry of the store (no FILE)")
	cmd.Flags().StringArrayVar(&sets, "set", nil, setFlagUsage)
	return cmd
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func storeImportCmd() *cobra.Command {
	var loc locFlags
	cmd := &cobra.Command{
		Use:   "import ARCHIVE...",
		Short: "Read store entries from archives made by ccq store export",
		Long: `Import reads each archive (written by ccq store export) into the store,
trusting nothing in it: only regular files and folders under <kind>/<key>/
with valid names are read, and each entry is put into the store only if its
manifest names that kind and key with status ok in the current format, and
every file it lists is there with its size and SHA-256 and no other file is.
An entry the store already holds is kept as it is. A refused entry is
reported with the archive, the entry and the reason; the others are still
imported. A truncated or corrupt archive is an error; the entries read
completely before the damage are kept.

Import prints how many entries were imported, already present and refused,
and exits with status 1 when any was refused or an archive could not be read
to its end.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := store.Open(loc.resolve().Store)
			if err != nil {
				return err
			}
			errw := cmd.ErrOrStderr()
			var imported, present, refused, failed int
			for _, name := range args {
				sum, err := importArchive(cmd, st, name)
				if sum != nil {
					for _, r := range sum.Imported {
						slog.Debug("imported", "archive", name, "entry", r.String())
					}
					for _, r := range sum.Refused {
						fmt.Fprintln(errw, r)
					}
					imported, present, refused = imported+len(sum.Imported), present+len(sum.Present), refused+len(sum.Refused)
				}
				if err != nil {
					if cerr := cmd.Context().Err(); cerr != nil {
						return cerr
					}
					fmt.Fprintln(errw, err)
					failed++
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported %d, already present %d, refused %d\n", imported, present, refused)
			if refused > 0 || failed > 0 {
				return &exitCodeError{code: 1, err: fmt.Errorf("%d refused, %d of %d archives not read to their end (see above)", refused, failed, len(args))}
			}
			return nil
		},
	}
	loc.add(cmd)
	return cmd
}

// importArchive imports the archive file name into st.
func importArchive(cmd *cobra.Command, st *store.Store, name string) (*storepack.Summary, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("archive %s: %w", name, err)
	}
	defer f.Close()
	return storepack.Import(cmd.Context(), st, f, name)
}
