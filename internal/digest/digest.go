// Package digest computes the SHA-256 digests ccq records and checks for
// files (models, plugin executables, the ccq binary, store entries).
package digest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"
)

// buffers are reused read buffers: the store checks thousands of small
// files per plan, and a fresh 32 KiB buffer per file (io.Copy's) costs more
// than hashing them.
var buffers = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// File returns the hex SHA-256 of the file at path.
func File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("digest: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	buf := buffers.Get().(*[]byte)
	defer buffers.Put(buf)
	// The struct hides os.File's WriteTo, which would bring its own buffer.
	if _, err := io.CopyBuffer(h, struct{ io.Reader }{f}, *buf); err != nil {
		return "", fmt.Errorf("digest: reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Reader returns the hex SHA-256 of everything r yields, and its length.
func Reader(r io.Reader) (string, int64, error) {
	h := sha256.New()
	buf := buffers.Get().(*[]byte)
	defer buffers.Put(buf)
	n, err := io.CopyBuffer(h, struct{ io.Reader }{r}, *buf)
	if err != nil {
		return "", n, fmt.Errorf("digest: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Bytes returns the hex SHA-256 of b.
func Bytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Hasher is an io.Writer that accumulates the SHA-256 of what is written
// to it (for example beside a copy, through io.MultiWriter).
type Hasher struct{ h hash.Hash }

// NewHasher returns an empty Hasher.
func NewHasher() *Hasher { return &Hasher{h: sha256.New()} }

// Write adds p; it never fails.
func (h *Hasher) Write(p []byte) (int, error) { return h.h.Write(p) }

// Hex returns the hex SHA-256 of everything written so far.
func (h *Hasher) Hex() string { return hex.EncodeToString(h.h.Sum(nil)) }
