package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A report rebuilt by hand reads the marks' settings from the experiment
// copy in the results folder.
func TestExperimentReportOptions(t *testing.T) {
	dir := t.TempDir()
	if _, ok, err := experimentReportOptions(dir); ok || err != nil {
		t.Fatalf("no experiment.toml: ok %v err %v", ok, err)
	}
	write := func(s string) {
		if err := os.WriteFile(filepath.Join(dir, "experiment.toml"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("name = \"x\"\n[report]\nalpha = 0.01\npairs = [[\"ccea\", \"ccea-random\"]]\n")
	p, ok, err := experimentReportOptions(dir)
	if err != nil || !ok || p.Alpha != 0.01 || len(p.Pairs) != 1 || p.Pairs[0][1] != "ccea-random" {
		t.Fatalf("options %+v ok %v err %v", p, ok, err)
	}
	write("name = \"x\"\n[report]\nalpah = 0.01\n")
	if _, _, err := experimentReportOptions(dir); err == nil || !strings.Contains(err.Error(), "experiment.toml") || !strings.Contains(err.Error(), "alpah") {
		t.Fatalf("unknown key: %v", err)
	}
	write("name = \"x\"\n")
	if _, ok, err := experimentReportOptions(dir); ok || err != nil {
		t.Fatalf("no [report]: ok %v err %v", ok, err)
	}
}
