package pipeline

import (
	"context"
	"os/exec"
	"syscall"
	"time"
)

// Command returns a command for a child process of a stage that does not
// outlive ccq: when ctx is done the child gets SIGTERM and, WaitDelay (10s)
// later, SIGKILL; on Linux it also gets SIGKILL if ccq itself dies, even by
// SIGKILL (a parent-death signal). Stages that start processes should use
// it (or set the same attributes on their own commands).
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	setParentDeathSignal(cmd)
	return cmd
}
