//go:build !linux

package filecopy

import (
	"errors"
	"os"
)

// clone is not implemented here: Copy copies the bytes.
func clone(out, in *os.File) error { return errors.ErrUnsupported }
