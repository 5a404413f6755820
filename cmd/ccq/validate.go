package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/ccq-project/ccq/pipeline/experiment"
	"github.com/ccq-project/ccq/pipeline/workspace"
	"github.com/spf13/cobra"
)

// validation is the result of checking one experiment file.
type validation struct {
	File   string         `json:"file"`
	OK     bool           `json:"ok"`
	Errors []string       `json:"errors,omitempty"`
	Stages map[string]int `json:"stages,omitempty"`
}

func validateFile(ctx context.Context, file string, sets, only []string) validation {
	v := validation{File: file}
	s, err := workspace.Load(file, workspace.Locations{}, nil, sets...)
	if err != nil {
		var es experiment.Errors
		if errors.As(err, &es) {
			for _, e := range es {
				v.Errors = append(v.Errors, e.Error())
			}
		} else {
			v.Errors = []string{err.Error()}
		}
		return v
	}
	selected, err := s.Select(only)
	if err != nil {
		v.Errors = []string{fmt.Sprintf("%s: %v", file, err)}
		return v
	}
	v.Stages = map[string]int{}
	for _, st := range s.Graph.Stages {
		if selected == nil || selected[st.Name] {
			v.Stages[st.Kind]++
		}
	}
	v.Errors = s.Check(ctx, selected).Errors
	v.OK = len(v.Errors) == 0
	return v
}

func init() {
	var (
		asJSON bool
		sets   []string
		only   []string
	)
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check experiment files without running anything",
		Long: `Validate reads each experiment, reports unknown keys, wrong types and
impossible combinations with the file, line and key, expands it into stages,
and checks everything ccq run would refuse, without running anything: every
stage kind is built in and accepts its parameters, every optimizer plugin is
found (a built-in name, a ccq-optimizer-NAME on CCQ_PLUGIN_PATH, or an
executable at the given path), every sha256 pin matches its file, and the
optimizer params are ones the plugin declares, with the right types (a
built-in checks its own, ranges included; an external plugin is started once
and asked for its list). ccq run makes the same checks with the same messages
and refuses to start when one fails. With --only, both check only the
stages the patterns select (see ccq run --help).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out []validation
			bad := 0
			for _, f := range args {
				v := validateFile(cmd.Context(), f, sets, only)
				if !v.OK {
					bad++
				}
				out = append(out, v)
			}
			if asJSON {
				if err := printJSON(cmd.OutOrStdout(), out); err != nil {
					return err
				}
			} else {
				w := cmd.OutOrStdout()
				for _, v := range out {
					if v.OK {
						n := 0
						for _, c := range v.Stages {
							n += c
						}
						if len(only) > 0 {
							fmt.Fprintf(w, "%s: ok (%d stages selected by --only)\n", v.File, n)
						} else {
							fmt.Fprintf(w, "%s: ok (%d stages)\n", v.File, n)
						}
					}
					for _, e := range v.Errors {
						fmt.Fprintln(w, e)
					}
				}
			}
			if bad > 0 {
				return &exitCodeError{code: 1, err: fmt.Errorf("%d of %d experiment files have errors", bad, len(args))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as JSON")
	cmd.Flags().StringArrayVar(&sets, "set", nil, setFlagUsage+" (applied to every FILE)")
	cmd.Flags().StringArrayVar(&only, "only", nil, "check only the stages ccq run --only would run: those matching this pattern, what they read from and the evaluate stages of the matched ones (applied to every FILE); repeatable")
	rootCmd.AddCommand(cmd)
}
