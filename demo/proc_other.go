//go:build !linux

package demo

import "os/exec"

// detach does nothing here: Ctrl-C reaches the children directly.
func detach(*exec.Cmd) {}
