//go:build !unix

package store

import (
	"errors"
	"os"
)

var errWouldBlock = errors.New("flock held elsewhere")

// flockTry is unsupported here: stage locks on this host fall back to
// probing the holder's PID.
func flockTry(f *os.File, exclusive bool) error { return errors.ErrUnsupported }

func funlock(f *os.File) error { return nil }

func linkedAnyway(path string) bool { return false }
