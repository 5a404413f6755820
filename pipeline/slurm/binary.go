package slurm

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// stageBinary returns the executable the jobs run. By default it is a copy
// of the running ccq (os.Executable) in <results>/bin/ccq-<digest>: a
// binary built by `go run` lives in a temporary folder that vanishes when
// `go run` ends, and a ccq rebuilt while jobs wait in the queue must not
// change what they run. The copy is made once per distinct binary.
func stageBinary(resultsDir string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding the ccq executable: %w", err)
	}
	if p, err := filepath.EvalSymlinks(self); err == nil {
		self = p
	}
	return copyBinary(self, filepath.Join(resultsDir, "bin"))
}

// copyBinary copies the executable src into dir as ccq-<first 12 hex
// digits of its SHA-256>, unless that file exists, and returns its path.
func copyBinary(src, dir string) (string, error) {
	f, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("reading the ccq executable: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading the ccq executable %s: %w", src, err)
	}
	dst := filepath.Join(dir, "ccq-"+hex.EncodeToString(h.Sum(nil))[:12])
	if fi, err := os.Stat(dst); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return dst, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("copying the ccq executable: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("copying the ccq executable: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".ccq-*.tmp")
	if err != nil {
		return "", fmt.Errorf("copying the ccq executable: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, f); err != nil {
		return "", fmt.Errorf("copying the ccq executable to %s: %w", dir, err)
	}
	if err := tmp.Sync(); err != nil {
		return "", fmt.Errorf("copying the ccq executable to %s: %w", dir, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("copying the ccq executable to %s: %w", dir, err)
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return "", fmt.Errorf("copying the ccq executable: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", fmt.Errorf("copying the ccq executable: %w", err)
	}
	ok = true
	return dst, nil
}
