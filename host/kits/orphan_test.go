//go:build linux

package kits_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ark-ha/ark/host/kits"
)

// TestOrphanOfKilledDaemon runs a daemon in a child process, SIGKILLs it
// and checks that its plugin, left behind, is killed by the next daemon's
// New.
//
// A go-plugin plugin exits by itself when its connection to the host
// breaks, unless it cannot run: frozen, stuck, or not built on go-plugin's
// Go server. The test freezes it (SIGSTOP). For the frozen plugin to
// survive its daemon as it would under a service manager, the test process
// becomes a child subreaper: the orphan is reparented to it, within the
// same session, so its process group is not orphaned and the kernel does
// not SIGHUP it.
func TestOrphanOfKilledDaemon(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Skipf("cannot become a child subreaper: %v", err)
	}
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	state := t.TempDir()
	k := pin(t, "fake", binFake)
	kj, _ := json.Marshal(k)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envArkdState+"="+state, envArkdKit+"="+string(kj))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("daemon's output: %q, %v", line, err)
	}
	var pid int
	if _, err := fmt.Sscanf(line, "pid %d", &pid); err != nil {
		t.Fatalf("daemon said %q", line)
	}
	reaped := false
	t.Cleanup(func() {
		if !reaped {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			_, _ = syscall.Wait4(pid, nil, 0, nil)
		}
	})

	// The plugin freezes; arkd dies without a chance to stop it.
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the plugin to be stopped", func() bool { return procState(pid) == "T" })
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	eventually(t, "the plugin to be orphaned", func() bool { return parentOf(pid) == os.Getpid() })
	if !alive(pid) {
		t.Fatalf("the frozen plugin %d is gone with its daemon", pid)
	}

	// The next daemon starts.
	f := newFixture(t, kits.Config{StateDir: state})
	if alive(pid) {
		t.Fatalf("orphaned plugin %d still running after New", pid)
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		t.Fatalf("reap the orphan: %v", err)
	}
	reaped = true
	if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("orphan ended with %v, want SIGTERM", ws)
	}
	ev := f.events.wait(t, "fake", kits.KitOrphanKilled, 1)
	if ev.Pid != pid {
		t.Errorf("orphan event %+v, want pid %d", ev, pid)
	}
	line, ok := f.log.find("WARN", "killed plugin process left running by a previous daemon", fmt.Sprint(pid))
	if !ok {
		t.Error("the orphan's killing was not logged")
	}
	t.Logf("logged: %s", line)
	if _, err := os.Stat(filepath.Join(state, "plugins", "fake.pid")); !os.IsNotExist(err) {
		t.Errorf("the orphan's record is still there: %v", err)
	}
	// And the kit runs again under the new daemon.
	f.enable(t, k)
	if s := f.status(t, "fake"); !s.Running || s.Pid == pid {
		t.Errorf("status after re-enabling: %+v", s)
	}
}

// parentOf returns the parent pid of process pid (0 if gone).
func parentOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	var ppid int
	if len(f) > 1 {
		fmt.Sscan(f[1], &ppid)
	}
	return ppid
}
