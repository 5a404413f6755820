package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ccq-project/ccq/plugins/catalog"
	"github.com/ccq-project/ccq/plugins/rpc"
)

var pluginsFlags struct {
	json bool
}

var pluginsCmd = &cobra.Command{
	Use:   "plugins",
	Short: "List the optimizer plugins: built-in and on CCQ_PLUGIN_PATH, with their parameters",
	Long: `List every optimizer plugin ccq can run: the built-in ones and each
executable named ccq-optimizer-NAME in a directory of $CCQ_PLUGIN_PATH
(started briefly to ask for its description), with its version, where it
came from and its parameters (name, type, default, meaning).`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		entries := catalog.DefaultResolver().List(cmd.Context(), rpc.Options{})
		w := cmd.OutOrStdout()
		if pluginsFlags.json {
			return printJSON(w, entries)
		}
		for k, e := range entries {
			if k > 0 {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "%s %s (%s: %s)\n", e.Name, e.Version, e.Source, e.Path)
			if e.Error != "" {
				fmt.Fprintf(w, "  error: %s\n", strings.ReplaceAll(e.Error, "\n", "\n  "))
				continue
			}
			if e.Description != "" {
				fmt.Fprintf(w, "  %s\n", e.Description)
			}
			tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
			for _, p := range e.Params {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", p.Name, p.Type, p.Default, p.Meaning)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		return nil
	},
}

func init() {
	pluginsCmd.Flags().BoolVar(&pluginsFlags.json, "json", false, "print JSON")
	rootCmd.AddCommand(pluginsCmd)
}
