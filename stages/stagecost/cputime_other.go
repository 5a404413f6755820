//go:build !unix

package stagecost

import "time"

// processCPU is unknown here: probes fall back to wall time.
func processCPU() (time.Duration, bool) { return 0, false }
