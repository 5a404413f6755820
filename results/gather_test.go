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

func TestCopyParts(t *testing.T) {
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
	if err := CopyParts(src, dst); err != nil {
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
	if err := CopyParts(src, dst); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadGenerations(dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 || rows[4].Generation != 4 {
		t.Fatalf("dst rows: %d", len(rows))
	}
	// The parts are copies: editing one in place leaves the source (a
	// store entry) intact, and a part hard-linked by an earlier version is
	// replaced by a copy.
	srcPart, dstPart := filepath.Join(src, PartName(0)), filepath.Join(dst, PartName(0))
	want, _ := os.ReadFile(srcPart)
	for _, n := range []int{0, 1, 2} {
		a, _ := os.Stat(filepath.Join(src, PartName(n)))
		b, _ := os.Stat(filepath.Join(dst, PartName(n)))
		if a == nil || b == nil || os.SameFile(a, b) {
			t.Fatalf("part %d is not a separate copy", n)
		}
	}
	f, err := os.OpenFile(dstPart, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("edited"), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got, _ := os.ReadFile(srcPart); string(got) != string(want) {
		t.Fatal("editing a copied part changed the source part")
	}
	if err := os.Remove(dstPart); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(srcPart, dstPart); err != nil {
		t.Fatal(err)
	}
	if err := CopyParts(src, dst); err != nil {
		t.Fatal(err)
	}
	a, _ := os.Stat(srcPart)
	b, _ := os.Stat(dstPart)
	if os.SameFile(a, b) {
		t.Fatal("a hard-linked part was kept")
	}
	if rows, err := ReadGenerations(dst); err != nil || len(rows) != 5 {
		t.Fatalf("dst rows after the relink: %d %v", len(rows), err)
	}
}
