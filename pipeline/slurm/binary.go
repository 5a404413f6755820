package slurm

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ccq-project/ccq/internal/atomicfile"
	"github.com/ccq-project/ccq/internal/digest"
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
	sum, err := digest.File(src)
	if err != nil {
		return "", fmt.Errorf("reading the ccq executable: %w", err)
	}
	dst := filepath.Join(dir, "ccq-"+sum[:12])
	if fi, err := os.Stat(dst); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return dst, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("copying the ccq executable: %w", err)
	}
	err = atomicfile.WriteWith(dst, atomicfile.Options{Perm: 0o755}, func(w io.Writer) error {
		_, err := io.Copy(w, f)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("copying the ccq executable: %w", err)
	}
	return dst, nil
}
