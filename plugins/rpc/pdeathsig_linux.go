package rpc

import (
	"os/exec"
	"syscall"
)

// setPdeathsig makes the kernel SIGKILL the plugin when the host dies, even
// by SIGKILL, so no plugin outlives ccq. (The signal fires when the thread
// that started the process exits; Go keeps its threads for the life of the
// process unless a goroutine locked to one exits, which ccq never does.)
func setPdeathsig(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
