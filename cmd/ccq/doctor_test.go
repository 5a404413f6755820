package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/datasets"
	"github.com/ccq-project/ccq/nn/gemm"
)

// TestDoctor runs `ccq doctor` against an empty dataset cache, an empty
// plugin folder and a PATH holding only a fake sbatch.
func TestDoctor(t *testing.T) {
	cache := t.TempDir()
	plugins := t.TempDir()
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "sbatch"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	t.Setenv("CCQ_PLUGIN_PATH", plugins)

	out, err := runCCQ(t, "--log-level", "error", "--data-dir", cache, "doctor", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep doctorReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if rep.DataDir != cache || len(rep.Datasets) != len(datasets.Names()) {
		t.Errorf("data dir %q, %d datasets", rep.DataDir, len(rep.Datasets))
	}
	for _, d := range rep.Datasets {
		if d.Cached || !strings.Contains(d.Advice, "ccq data fetch "+d.Name) {
			t.Errorf("empty cache: %+v", d)
		}
	}
	if rep.CPU.Float32Kernel != gemm.Kernel() || rep.CPU.Int8Kernel == "" || rep.Threads.CPUs < 1 {
		t.Errorf("cpu %+v threads %+v", rep.CPU, rep.Threads)
	}
	if !slices.Contains(rep.Plugins.Builtin, "ccea") || len(rep.Plugins.External) != 0 || !slices.Equal(rep.Plugins.Path, []string{plugins}) {
		t.Errorf("plugins %+v", rep.Plugins)
	}
	var found []string
	for _, s := range rep.Slurm {
		if s.Path != "" {
			found = append(found, s.Name)
		}
	}
	if len(rep.Slurm) != 5 || !slices.Equal(found, []string{"sbatch"}) {
		t.Errorf("slurm %+v", rep.Slurm)
	}
	advice := strings.Join(rep.Advice, "\n")
	for _, want := range []string{"fashion-mnist:", "apt-get install dataset-fashion-mnist", "squeue, sacct, scontrol, scancel not on PATH"} {
		if !strings.Contains(advice, want) {
			t.Errorf("advice lacks %q:\n%s", want, advice)
		}
	}

	text, err := runCCQ(t, "--log-level", "error", "--data-dir", cache, "doctor", "--json=false")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kernels    float32 " + gemm.Kernel(), "datasets   cache " + cache, "mnist          not cached",
		"CCQ_PLUGIN_PATH: " + plugins, "slurm      on PATH: sbatch; missing: squeue", "to do:"} {
		if !strings.Contains(text, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, text)
		}
	}
}
