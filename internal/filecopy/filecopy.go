// Package filecopy copies files out of the store into results folders: a
// reflink (a copy-on-write clone that shares the blocks until either side
// changes) where the file system supports it (Btrfs, XFS, bcachefs...), a
// byte copy otherwise. Never a hard link: changing the copy must never
// change the original.
package filecopy

import (
	"fmt"
	"io"
	"os"
)

// Copy copies the file from to the file to, which is created (mode 0644)
// or truncated, synced and closed. It preserves from's modification time,
// so a later copy can tell an unchanged original by size and time (see
// Same). Write to a temporary name and rename it for an atomic result.
func Copy(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("copying %s: %w", from, err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return fmt.Errorf("copying %s: %w", from, err)
	}
	out, err := os.OpenFile(to, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("copying %s: %w", from, err)
	}
	if clone(out, in) != nil {
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return fmt.Errorf("copying %s to %s: %w", from, to, err)
		}
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("copying %s to %s: %w", from, to, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copying %s to %s: %w", from, to, err)
	}
	if err := os.Chtimes(to, fi.ModTime(), fi.ModTime()); err != nil {
		return fmt.Errorf("copying %s to %s: %w", from, to, err)
	}
	return nil
}

// Same reports whether the file to is an up-to-date copy made by Copy of
// the file from: a different file (not a hard link of it) with the same
// size and modification time.
func Same(from, to string) bool {
	a, err := os.Stat(from)
	if err != nil {
		return false
	}
	b, err := os.Stat(to)
	if err != nil {
		return false
	}
	return !os.SameFile(a, b) && a.Mode().IsRegular() && b.Mode().IsRegular() &&
		a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
