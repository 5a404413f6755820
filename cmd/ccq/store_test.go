package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ccq-project/ccq/pipeline"
	"github.com/ccq-project/ccq/pipeline/workspace"
)

// TestStoreExportImport runs a tiny experiment, exports its store entries,
// imports them into an empty store, and plans the experiment there: every
// stage is cached. Importing again finds them all present; a truncated
// archive is an error naming it.
func TestStoreExportImport(t *testing.T) {
	dir, file := tinyExperiment(t, "carry", "train_limit = 256\nseed = 1\n")
	here, there := filepath.Join(dir, "here"), filepath.Join(dir, "there")
	loc := func(root string) []string {
		return []string{"--results", filepath.Join(root, "results"), "--store", filepath.Join(root, "store")}
	}
	plan := func(root string) *workspace.PlanReport {
		t.Helper()
		out, err := runCCQ(t, append([]string{"plan", file, "--json", "--estimates", "reference"}, loc(root)...)...)
		if err != nil {
			t.Fatalf("plan: %v\n%s", err, out)
		}
		var rep workspace.PlanReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return &rep
	}
	if out, err := runCCQ(t, append([]string{"--log-level", "warn", "run", file, "--progress", "none", "--estimates", "reference"}, loc(here)...)...); err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	// dataset, pretrain, evaluate/float, report
	const stages = 4
	if rep := plan(here); rep.Counts[pipeline.StatusCached] != stages {
		t.Fatalf("after the run: %v", rep.Counts)
	}

	archive := filepath.Join(dir, "carry.tar.gz")
	out, err := runCCQ(t, append([]string{"store", "export", file, "-o", archive}, loc(here)...)...)
	if err != nil || !strings.HasPrefix(out, "wrote 4 entries, ") || !strings.HasSuffix(out, "bytes, to "+archive+"\n") {
		t.Fatalf("export: %v\n%s", err, out)
	}
	first, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	// --all exports the same entries (the store holds only this
	// experiment's), so the same bytes.
	all := filepath.Join(dir, "all.tar.gz")
	if out, err := runCCQ(t, "store", "export", "--all", "-o", all, "--store", filepath.Join(here, "store")); err != nil {
		t.Fatalf("export --all: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(all); err != nil || !bytes.Equal(b, first) {
		t.Errorf("export --all differs from the experiment's export (%v)", err)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(tmp) != 0 {
		t.Errorf("temporary files left: %q", tmp)
	}

	if rep := plan(there); rep.Counts[pipeline.StatusToRun] != stages {
		t.Fatalf("empty store: %v", rep.Counts)
	}
	out, err = runCCQ(t, append([]string{"store", "import", archive}, loc(there)...)...)
	if err != nil || out != "imported 4, already present 0, refused 0\n" {
		t.Fatalf("import: %v\n%s", err, out)
	}
	if rep := plan(there); rep.Counts[pipeline.StatusCached] != stages {
		t.Fatalf("after the import: %v", rep.Counts)
	}
	out, err = runCCQ(t, append([]string{"store", "import", archive}, loc(there)...)...)
	if err != nil || out != "imported 0, already present 4, refused 0\n" {
		t.Fatalf("second import: %v\n%s", err, out)
	}

	// --only: the pretrain stage, what it reads (the dataset) and its
	// evaluate stage; not the report.
	only := filepath.Join(dir, "only.tar.gz")
	out, err = runCCQ(t, append([]string{"store", "export", file, "--only", "pretrain/*", "-o", only}, loc(here)...)...)
	if err != nil || !strings.HasPrefix(out, "wrote 3 entries, ") {
		t.Fatalf("export --only: %v\n%s", err, out)
	}

	// A truncated archive: an error naming it, exit status 1.
	cut := filepath.Join(dir, "cut.tar.gz")
	if err := os.WriteFile(cut, first[:len(first)-100], 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runCCQ(t, append([]string{"store", "import", cut}, loc(filepath.Join(dir, "third"))...)...)
	var ec *exitCodeError
	if !errors.As(err, &ec) || ec.code != 1 || !strings.Contains(out, "archive "+cut+": truncated or corrupt in entry ") {
		t.Fatalf("truncated: %v\n%s", err, out)
	}
	if !strings.HasSuffix(out, "imported 3, already present 0, refused 0\n") {
		t.Errorf("truncated: the entries before the damage are not kept:\n%s", out)
	}
}

func TestStoreExportRefusesBadArguments(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"store", "export", "x.toml"}, "-o OUT.tar.gz: expected the archive to write"},
		{[]string{"store", "export", "-o", "a.tar.gz"}, "expected one experiment FILE (or --all)"},
		{[]string{"store", "export", "x.toml", "--all", "-o", "a.tar.gz"}, "--all exports the whole store: give no FILE"},
		{[]string{"store", "export", "--all", "-o", filepath.Join(dir, "a.tar.gz"), "--store", filepath.Join(dir, "empty")}, "nothing to export"},
		{[]string{"store", "import"}, "requires at least 1 arg"},
	} {
		if out, err := runCCQ(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q\n%s", c.args, err, c.want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "a.tar.gz")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an archive was written (%v)", err)
	}
}
