package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCPUProfileFlag checks that --cpuprofile leaves a complete gzipped
// pprof profile after the command, and that a folder that does not exist
// is an error naming the flag.
func TestCPUProfileFlag(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	if _, err := runCCQ(t, "--cpuprofile", path, "version"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("the profile is in place before it is complete")
	}
	if err := stopCPUProfile(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		t.Errorf("the profile is not gzipped pprof data: % x", b[:min(len(b), 8)])
	}
	_, err = runCCQ(t, "--cpuprofile", filepath.Join(t.TempDir(), "missing", "cpu.pprof"), "version")
	if err == nil || !strings.Contains(err.Error(), "--cpuprofile") {
		t.Errorf("profile in a missing folder: %v, want an error naming --cpuprofile", err)
	}
	if err := stopCPUProfile(); err != nil {
		t.Fatal(err)
	}
}
