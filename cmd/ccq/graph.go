package main

import (
	"fmt"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/workspace"
	"github.com/spf13/cobra"
)

func init() {
	var (
		loc    locFlags
		format string
		status bool
	)
	cmd := &cobra.Command{
		Use:   "graph FILE",
		Short: "Print an experiment's stage graph as Mermaid or DOT",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "mermaid" && format != "dot" {
				return fmt.Errorf("--format %q: expected mermaid or dot", format)
			}
			s, err := workspace.Load(args[0], loc.resolve(), nil)
			if err != nil {
				return err
			}
			var st map[string]pipeline.Status
			if status {
				store, err := s.OpenStore()
				if err != nil {
					return err
				}
				p, err := s.Plan(store, workspace.PlanFlags{})
				if err != nil {
					return err
				}
				st = map[string]pipeline.Status{}
				for _, sp := range p.Stages {
					st[sp.Name] = sp.Status
				}
			}
			if format == "dot" {
				workspace.DOT(cmd.OutOrStdout(), s.Graph, st)
			} else {
				workspace.Mermaid(cmd.OutOrStdout(), s.Graph, st)
			}
			return nil
		},
	}
	loc.add(cmd)
	cmd.Flags().StringVar(&format, "format", "mermaid", "output format: mermaid or dot")
	cmd.Flags().BoolVar(&status, "status", false, "colour stages by plan status (cached, to run, blocked)")
	rootCmd.AddCommand(cmd)
}
