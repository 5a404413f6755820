//go:build !unix

package pipeline

import (
	"errors"
	"os"
)

var errWouldBlock = errors.New("lock held by another process")

// Without flock, the lock only records its holder; it is not enforced.
func flockExclusive(f *os.File) error { return nil }

func funlock(f *os.File) error { return nil }
