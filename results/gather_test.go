package results

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGatherRuns(t *testing.T) {
	dir := t.TempDir()
	rows := runRows()
	var paths []string
	for i := len(rows) - 1; i >= 0; i-- { // one file per row, in reverse
		p := filepath.Join(dir, rows[i].RunID+".parquet")
		if err := WriteRuns(p, rows[i:i+1]); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out := filepath.Join(dir, RunsFile)
	got, err := GatherRuns(out, paths)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ReadRuns(out)
	if err != nil {
		t.Fatal(err)
	}
	// Sorted by kind: baseline, float, optimizer.
	if len(back) != 3 || back[0].RunID != "r2" || back[1].RunID != "f" || back[2].RunID != "c2" || len(got) != 3 {
		t.Fatalf("gathered %+v", back)
	}
	if _, err := GatherRuns(out, []string{paths[0], paths[0]}); err == nil || !strings.Contains(err.Error(), "in both") {
		t.Fatalf("duplicate run id: err = %v", err)
	}
}

func TestLinkParts(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "gen", "r")
	w, err := NewGenerationWriter(src, GenerationWriterOptions{RowsPerPart: 2, PartInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	for g := int64(0); g < 5; g++ {
		if err := w.Write(genRow("r", "ccea", 1, g)); err != nil {
			t.Fatal(err)
		}
	}
	// Parts 0 and 1 complete, part 2 open (hidden): only 0 and 1 appear.
	if err := LinkParts(src, dst); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(t, dst), " "); got != "part-00000.parquet part-00001.parquet" {
		t.Fatalf("dst after first link: %s", got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// A stale part in dst that src no longer has is removed.
	if err := os.WriteFile(filepath.Join(dst, PartName(7)), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := LinkParts(src, dst); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadGenerations(dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 || rows[4].Generation != 4 {
		t.Fatalf("dst rows: %d", len(rows))
	}
}
