//go:build !unix

package fakeslurm

import "os"

var stopSignals = []os.Signal{os.Interrupt}

// lockFile does nothing where flock(2) does not exist (the tests that use
// the fake are unix-only).
func lockFile(*os.File) error { return nil }
