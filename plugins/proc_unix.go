//go:build unix

package plugins

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup puts the plugin in a process group of its own: signals
// sent to the host's terminal group (Ctrl-C) do not reach it.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
