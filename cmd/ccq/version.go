package main

import (
	"fmt"

	"github.com/ccq-project/ccq/internal/version"
	"github.com/spf13/cobra"
)

func init() {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the ccq version and the commit it was built from",
		Long: `Print the ccq version and the commit it was built from: the commit stamped
into the binary by go build, or, for a binary without one (go run), the commit
git reports for the ccq source tree at run time ("from git"). "modified" means
that tree had changes not committed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			info := version.Resolve(cmd.Context(), ".")
			if asJSON {
				return printJSON(cmd.OutOrStdout(), info)
			}
			mod := ""
			if info.Modified {
				mod = " (modified)"
			}
			if info.CommitFrom == version.FromGit {
				mod += " (from git)"
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "ccq %s commit %s%s %s\n", info.Version, info.Commit, mod, info.GoVersion)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	rootCmd.AddCommand(cmd)
}
