package sh

import (
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// parseSignal reads a signal as kill and trap accept it: a name with or
// without SIG (any case) or a number. 0 is valid (kill -0).
func parseSignal(s string) (syscall.Signal, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 || n > 64 {
			return 0, false
		}
		return syscall.Signal(n), true
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, true
	}
	return 0, false
}

// sigName is the name of sig without SIG, as bash's kill -l prints it.
func sigName(sig syscall.Signal) string {
	if sig == 0 {
		return "0"
	}
	if n := unix.SignalName(sig); n != "" {
		return strings.TrimPrefix(n, "SIG")
	}
	return strconv.Itoa(int(sig))
}

// trappable are the signals a script's trap reacts to in the in-process
// engine: those that reach a non-interactive script only from kill (and
// TERM from the deadline), which the engine delivers. Other signals can
// be trapped but would never be delivered except by "kill -SIG $$".
var trappable = map[syscall.Signal]bool{
	syscall.SIGHUP: true, syscall.SIGINT: true, syscall.SIGQUIT: true, syscall.SIGTERM: true,
	syscall.SIGUSR1: true, syscall.SIGUSR2: true, syscall.SIGALRM: true,
}

// ignoredByDefault are the signals whose default action is to do nothing.
var ignoredByDefault = map[syscall.Signal]bool{
	syscall.SIGCHLD: true, syscall.SIGCONT: true, syscall.SIGURG: true, syscall.SIGWINCH: true,
}

// stopping are the signals that would stop (suspend) a process.
var stopping = map[syscall.Signal]bool{
	syscall.SIGSTOP: true, syscall.SIGTSTP: true, syscall.SIGTTIN: true, syscall.SIGTTOU: true,
}

// signalled is the cause given to the main shell's context when the
// script signals itself (kill -SIG $$) with no trap for SIG.
type signalled struct{ sig syscall.Signal }

func (s *signalled) Error() string { return "killed by SIG" + sigName(s.sig) }
