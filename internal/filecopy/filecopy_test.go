package filecopy

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestCopyIsIndependent(t *testing.T) {
	dir := t.TempDir()
	from, to := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := os.WriteFile(from, []byte("original"), 0o444); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(from, old, old); err != nil {
		t.Fatal(err)
	}
	if Same(from, to) {
		t.Fatal("Same before the copy")
	}
	if err := Copy(from, to); err != nil {
		t.Fatal(err)
	}
	if !Same(from, to) {
		t.Fatal("not Same after the copy")
	}
	// Changing the copy in place leaves the original alone.
	f, err := os.OpenFile(to, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("X"), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if b, _ := os.ReadFile(from); string(b) != "original" {
		t.Fatalf("original became %q", b)
	}
	if Same(from, to) {
		t.Fatal("Same after the copy changed")
	}
	// A hard link is never Same: it is not a copy.
	link := filepath.Join(dir, "link")
	if err := os.Link(from, link); err != nil {
		t.Fatal(err)
	}
	if Same(from, link) {
		t.Fatal("a hard link counts as a copy")
	}
	if err := Copy(filepath.Join(dir, "missing"), to); err == nil {
		t.Fatal("copy of a missing file")
	}
}
