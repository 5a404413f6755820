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
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			info := version.Get()
			if asJSON {
				return printJSON(cmd.OutOrStdout(), info)
			}
			mod := ""
			if info.Modified {
				mod = " (modified)"
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "ccq %s commit %s%s %s\n", info.Version, info.Commit, mod, info.GoVersion)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	rootCmd.AddCommand(cmd)
}
