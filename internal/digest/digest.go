// Package digest computes the SHA-256 digests ccq records and checks for
// files (models, plugin executables, the ccq binary).
package digest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

// File returns the hex SHA-256 of the file at path.
func File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("digest: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("digest: reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
