package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunSlurmFlags checks the Slurm executor's flags on `ccq run` without
// a cluster: they are refused with the local executor, and bad values stop
// the run before anything is planned or submitted.
func TestRunSlurmFlags(t *testing.T) {
	dir := t.TempDir()
	exp := filepath.Join(dir, "tiny.toml")
	src := "name = \"tiny\"\n[dataset]\nname = \"mnist\"\n[pretrain]\nmodel = \"mlp\"\nepochs = 1\nseed = 1\n"
	if err := os.WriteFile(exp, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	res := filepath.Join(dir, "results")
	// Flags keep their values between in-process runs: put them back.
	t.Cleanup(func() {
		for _, name := range []string{"results", "partition", "executor", "time"} {
			if f := runCmd.Flags().Lookup(name); f != nil {
				_ = f.Value.Set(f.DefValue)
				f.Changed = false
			}
		}
	})
	_, err := runCCQ(t, "run", exp, "--results", res, "--partition", "cpu")
	if err == nil || !strings.Contains(err.Error(), "--partition is an option of the Slurm executor") {
		t.Errorf("--partition with the local executor: %v", err)
	}
	_, err = runCCQ(t, "run", exp, "--results", res, "--executor", "slurm", "--partition", "cpu", "--time", "1h")
	if err == nil || !strings.Contains(err.Error(), `time limit "1h"`) {
		t.Errorf("--time 1h: %v", err)
	}
	if _, err := os.Stat(filepath.Join(res, "tiny", "jobs.json")); err == nil {
		t.Error("a jobs file was written")
	}
}
