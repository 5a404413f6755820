//go:build !linux

package rpc

import "os/exec"

// setPdeathsig does nothing where the parent-death signal does not exist;
// plugins are then cleaned up by CleanupClients on a normal exit only.
func setPdeathsig(*exec.Cmd) {}
