package sh

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"mvdan.cc/sh/v3/interp"
)

// kill is the kill builtin: kill [-s SIG | -n N | -SIG] TARGET... where a
// target is a pid, -PGID, %N (a background job) or $$ (the script). It
// refuses init, the daemon (the plugin's parent) and process groups the
// action did not start; $$ means the script itself, never the plugin.
func (st *run) kill(hc interp.HandlerContext, args []string) error {
	sig := syscall.SIGTERM
	usage := func() error {
		st.msg(hc, "kill: usage: kill [-s sigspec | -n signum | -sigspec] pid | jobspec ... or kill -l [sigspec]")
		return exitStatus(2)
	}
	bad := func(s string) error {
		st.msg(hc, "kill: %s: invalid signal specification", s)
		return exitStatus(1)
	}
opts:
	for len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' {
		a := args[0]
		switch a {
		case "--":
			args = args[1:]
			break opts
		case "-l", "-L":
			return st.killList(hc, args[1:])
		case "-s", "-n":
			if len(args) < 2 {
				return usage()
			}
			s, ok := parseSignal(args[1])
			if !ok {
				return bad(args[1])
			}
			sig, args = s, args[2:]
			continue
		}
		s, ok := parseSignal(a[1:])
		if !ok {
			return bad(a[1:])
		}
		sig, args = s, args[1:]
		break opts // the rest are targets, even if they start with -
	}
	if len(args) == 0 {
		return usage()
	}
	status := 0
	for _, t := range args {
		if err := st.killTarget(hc, t, sig); err != nil {
			st.msg(hc, "kill: %v", err)
			status = 1
		}
	}
	return exitStatus(status)
}

func (st *run) killTarget(hc interp.HandlerContext, t string, sig syscall.Signal) error {
	if id, ok := strings.CutPrefix(t, "%"); ok {
		n, _ := strconv.Atoi(id)
		j := st.job(n)
		if j == nil {
			return fmt.Errorf("%s: no such job", t)
		}
		signalled := 0
		for _, pid := range st.jobPids(j) {
			if st.owns(pid) && syscall.Kill(pid, sig) == nil {
				signalled++
			}
		}
		if signalled == 0 {
			return fmt.Errorf("%s: no such job (it has no running process)", t)
		}
		return nil
	}
	pid, err := strconv.Atoi(t)
	if err != nil {
		return fmt.Errorf("%s: arguments must be process or job IDs", t)
	}
	switch {
	case pid == st.self:
		return st.signalSelf(sig)
	case pid < -1 && st.owns(-pid):
		if err := syscall.Kill(pid, sig); err != nil {
			return fmt.Errorf("(%d) - %v", pid, err)
		}
		return nil
	case pid <= 0:
		return fmt.Errorf("(%d) - refused: only single processes this action started can be signalled (and $$, the script); use shell=system for bash's own kill", pid)
	case pid == 1 || pid == os.Getppid():
		// init, and the daemon that runs this plugin: a script that
		// signals them takes the whole node's protection down.
		return fmt.Errorf("(%d) - refused: that is init or the ark daemon", pid)
	}
	// Any other process: a remove script stops the service a restore
	// started in an earlier action (kill $(cat pidfile)), as bash would.
	if err := syscall.Kill(pid, sig); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("(%d) - No such process", pid)
		}
		return fmt.Errorf("(%d) - %v", pid, err)
	}
	return nil
}

func (st *run) owns(pid int) bool {
	return st.inv.Procs != nil && st.inv.Procs.Owns(pid)
}

// signalSelf is "kill -SIG $$": the script's trap for SIG runs before its
// next command; without one the script ends with 128+SIG.
func (st *run) signalSelf(sig syscall.Signal) error {
	switch {
	case sig == 0, sig == syscall.SIGCONT:
		return nil
	case sig == syscall.SIGKILL:
		st.stopMain(&signalled{sig})
		return nil
	case stopping[sig]:
		return fmt.Errorf("(%d) - the script cannot be stopped with SIG%s", st.self, sigName(sig))
	}
	code, ok := st.trap(sig)
	switch {
	case ok && code == "": // ignored
	case ok:
		st.raise(sig)
	case ignoredByDefault[sig]:
	default:
		st.stopMain(&signalled{sig})
	}
	return nil
}

// killList is kill -l [N|NAME...].
func (st *run) killList(hc interp.HandlerContext, args []string) error {
	if len(args) == 0 {
		for s := syscall.Signal(1); s < 32; s++ {
			fmt.Fprintf(hc.Stdout, "%2d) SIG%s\n", int(s), sigName(s))
		}
		return nil
	}
	status := 0
	for _, a := range args {
		n, err := strconv.Atoi(a)
		if err == nil {
			if n > 128 {
				n -= 128 // an exit status
			}
			fmt.Fprintln(hc.Stdout, sigName(syscall.Signal(n)))
			continue
		}
		if s, ok := parseSignal(a); ok {
			fmt.Fprintln(hc.Stdout, int(s))
			continue
		}
		st.msg(hc, "kill: %s: invalid signal specification", a)
		status = 1
	}
	return exitStatus(status)
}

// wait is the wait builtin: wait [-n] [-f] [PID|%N...]. It waits for the
// background jobs of this shell (all of them, or those named); in the
// main shell a signal with a trap interrupts it with status 128+N.
func (st *run) wait(ctx context.Context, hc interp.HandlerContext, args []string) error {
	anyOne := false
opts:
	for len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' {
		switch args[0] {
		case "--":
			args = args[1:]
			break opts
		case "-n":
			anyOne = true
		case "-f":
		default:
			st.msg(hc, "wait: %s: unsupported option (use shell=system)", args[0])
			return exitStatus(2)
		}
		args = args[1:]
	}
	// targets are the jobs to wait for; nil stands for an unknown pid.
	var targets []*job
	if len(args) == 0 {
		targets = st.children(jobOf(hc))
	}
	for _, a := range args {
		var j *job
		if id, ok := strings.CutPrefix(a, "%"); ok {
			n, _ := strconv.Atoi(id)
			j = st.job(n)
		} else if pid, err := strconv.Atoi(a); err == nil {
			j = st.jobByPid(pid)
		}
		if j == nil {
			st.msg(hc, "wait: pid %s is not a child of this shell", a)
		}
		targets = append(targets, j)
	}
	var sigc <-chan struct{}
	if isMain(hc) {
		sigc = st.sigc
	}
	interrupted := func() (int, bool) {
		st.mu.Lock()
		defer st.mu.Unlock()
		if len(st.pending) > 0 {
			return 128 + int(st.pending[0]), true
		}
		return 0, false
	}
	if sigc != nil {
		if n, ok := interrupted(); ok {
			return exitStatus(n)
		}
	}
	if anyOne {
		var live []*job
		for _, j := range targets {
			if j != nil {
				live = append(live, j)
			}
		}
		if len(live) == 0 {
			return exitStatus(127)
		}
		done := make(chan *job, len(live))
		stop := make(chan struct{})
		defer close(stop)
		for _, j := range live {
			go func() {
				select {
				case <-j.done:
					done <- j
				case <-stop:
				}
			}()
		}
		for {
			select {
			case j := <-done:
				return exitStatus(j.status)
			case <-ctx.Done():
				return ctx.Err()
			case <-sigc:
				if n, ok := interrupted(); ok {
					return exitStatus(n)
				}
			}
		}
	}
	status := 0
	for _, j := range targets {
		if j == nil {
			status = 127
			continue
		}
	one:
		for {
			select {
			case <-j.done:
				status = j.status
				break one
			case <-ctx.Done():
				return ctx.Err()
			case <-sigc:
				if n, ok := interrupted(); ok {
					return exitStatus(n)
				}
			}
		}
	}
	if len(args) == 0 {
		status = 0 // wait without arguments always succeeds
	}
	return exitStatus(status)
}

// msg prints a builtin's message to the script's standard error, as bash
// does: "script: line N: message".
func (st *run) msg(hc interp.HandlerContext, format string, args ...any) {
	fmt.Fprintf(hc.Stderr, "%s: line %d: %s\n", st.path, hc.Pos.Line(), fmt.Sprintf(format, args...))
}
