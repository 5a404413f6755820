//go:build !linux

package pipeline

import "os/exec"

// Without a parent-death signal, children are only stopped through ctx.
func setParentDeathSignal(cmd *exec.Cmd) {}
