//go:build !amd64

package cpupeak

// Available lists the peak loops this CPU can run: none outside amd64.
func Available() []Loop { return nil }
