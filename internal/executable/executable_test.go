package executable

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "prog")
	data := filepath.Join(dir, "data")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(data, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Check(prog); err != nil {
		t.Errorf("executable file: %v", err)
	}
	for path, want := range map[string]string{
		data:                          "is not executable",
		dir:                           "is a directory",
		filepath.Join(dir, "no-such"): "no such file",
	} {
		if err := Check(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check(%s) = %v, want an error containing %q", path, err, want)
		}
	}
}
