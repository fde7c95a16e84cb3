package demo

import (
	"os/exec"
	"syscall"
)

// detach puts a child in its own process group, so that a terminal's
// Ctrl-C reaches only the demo, which then stops the children in order;
// and has the kernel send it SIGTERM should the demo die without Stop.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
