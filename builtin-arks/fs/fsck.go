package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ark-ha/ark/sdk/ark"
)

// toolDirs are searched after PATH: the daemon may start the plugin with a
// PATH that lacks the sbin directories, where the fsck programs live.
var toolDirs = []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"}

// lookTool finds a program in PATH or the usual system directories.
func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range toolDirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH or %s", name, strings.Join(toolDirs, ":"))
}

// fsckKillGrace is how long fsck gets between SIGTERM and SIGKILL when
// the action's context ends or fsck_timeout passes. e2fsck stops cleanly
// on SIGTERM.
const fsckKillGrace = 5 * time.Second

// fsckOutcome is what a run of fsck says.
type fsckOutcome struct {
	cmd      string // the command line, for messages
	status   int    // exit status; -1 when killed
	timedOut bool   // stopped at fsck_timeout
	output   string
}

// ok reports whether the filesystem may be mounted: fsck(8) exit 0 (no
// errors) or 1 (errors corrected).
func (o fsckOutcome) ok() bool { return o.status == 0 || o.status == 1 }

// meaning spells out fsck(8)'s exit status bits.
func (o fsckOutcome) meaning() string {
	if o.status < 0 {
		return "killed"
	}
	if o.status == 0 {
		return "no errors"
	}
	var m []string
	for _, b := range []struct {
		bit  int
		text string
	}{
		{1, "errors corrected"}, {2, "reboot suggested"}, {4, "errors left uncorrected"},
		{8, "operational error"}, {16, "usage or syntax error"}, {32, "cancelled"},
		{128, "shared library error"},
	} {
		if o.status&b.bit != 0 {
			m = append(m, b.text)
		}
	}
	return strings.Join(m, ", ")
}

// lastLines returns the last n non-empty lines of the output, joined with
// " | " to fit a one-line message.
func (o fsckOutcome) lastLines(n int) string {
	var lines []string
	for _, l := range strings.Split(o.output, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// runFsck runs `fsck.<fstype> -a <device>` (for ext2/3/4 this is e2fsck
// -p: repair what is safe to repair without a human). It stops fsck and
// everything it started (its process group) when ctx ends or timeout (if
// > 0) passes. Each output line is logged. The error is for fsck that
// could not run at all.
func runFsck(ctx context.Context, req *ark.Request, fstype, device string, timeout time.Duration) (fsckOutcome, error) {
	name := "fsck." + fstype
	bin, err := lookTool(name)
	if err != nil {
		return fsckOutcome{}, ark.NotInstalled(fmt.Errorf("fsck of %s: %w (install the %s tools on this node, or set fsck=false)", device, err, fstype))
	}
	out := fsckOutcome{cmd: name + " -a " + device}
	var buf bytes.Buffer
	cmd := exec.Command(bin, "-a", device)
	cmd.Stdout, cmd.Stderr = &buf, &buf
	cmd.Env = append(os.Environ(), "LANG=C", "LC_ALL=C")
	// Its own process group, so that a stop reaches the checkers the fsck
	// wrappers start, not only the wrapper.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = time.Second // don't wait for a stuck grandchild's pipe
	if err := cmd.Start(); err != nil {
		return out, fmt.Errorf("start %s: %w", out.cmd, err)
	}
	logf(req, slog.LevelInfo, "fsck", "running %s", out.cmd)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var expire <-chan time.Time
	if timeout > 0 {
		tm := time.NewTimer(timeout)
		defer tm.Stop()
		expire = tm.C
	}
	var werr error
	select {
	case werr = <-done:
	case <-ctx.Done():
		werr = stopGroup(cmd, done)
	case <-expire:
		out.timedOut = true
		werr = stopGroup(cmd, done)
	}
	out.output = buf.String()
	for _, l := range strings.Split(strings.TrimRight(out.output, "\n"), "\n") {
		if strings.TrimSpace(l) != "" {
			logf(req, slog.LevelInfo, "fsck", "%s: %s", name, l)
		}
	}
	var ee *exec.ExitError
	switch {
	case werr == nil:
		out.status = 0
	case errors.As(werr, &ee) && ee.Exited():
		out.status = ee.ExitCode()
	case errors.As(werr, &ee):
		out.status = -1
	default:
		return out, fmt.Errorf("%s: %w", out.cmd, werr)
	}
	if err := ctx.Err(); err != nil && !out.timedOut {
		return out, fmt.Errorf("%s stopped: %w", out.cmd, err)
	}
	return out, nil
}

// stopGroup sends SIGTERM to the command's process group, SIGKILL after
// fsckKillGrace, and returns the command's Wait result.
func stopGroup(cmd *exec.Cmd, done <-chan error) error {
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case err := <-done:
		_ = syscall.Kill(-pgid, syscall.SIGKILL) // stragglers of the group
		return err
	case <-time.After(fsckKillGrace):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return <-done
}
