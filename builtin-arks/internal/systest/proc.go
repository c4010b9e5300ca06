package systest

import (
	"context"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ark-ha/ark/sdk/ark"
)

// Proc is a process a test started with Start.
type Proc struct {
	Cmd  *exec.Cmd
	Pid  int
	done chan struct{}
}

// Start starts a command with working directory dir ("" = the test's)
// in a process group of its own, and reaps it when it exits (so that a
// killed process does not linger as a zombie). The whole group is killed
// with SIGKILL at cleanup.
func Start(t testing.TB, dir string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v in %s: %v", args, dir, err)
	}
	p := &Proc{Cmd: cmd, Pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Logf("process %d %v did not die of SIGKILL within 10s", p.Pid, args)
		}
	})
	return p
}

// Exited reports whether the process has exited (and was reaped).
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// WaitExit waits up to d for the process to exit and reports whether it
// did.
func (p *Proc) WaitExit(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// Signal reports how the process ended: the signal that killed it, or 0
// when it exited by itself or still runs.
func (p *Proc) Signal() syscall.Signal {
	if !p.Exited() || p.Cmd.ProcessState == nil {
		return 0
	}
	if ws, ok := p.Cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal()
	}
	return 0
}

// DoLog is Do that also returns the log lines the action sent.
func DoLog(t testing.TB, rt ark.ResourceType, a ark.Action, tag string, params map[string]string, env map[string]string) (ark.Result, []ark.LogLine) {
	t.Helper()
	var mu sync.Mutex
	var lines []ark.LogLine
	res, err := doWith(t, rt, a, tag, params, env, func(l ark.LogLine) {
		t.Logf("%s %s [%s] %s %s", tag, a, l.Level, l.Code, l.Message)
		mu.Lock()
		lines = append(lines, l)
		mu.Unlock()
	})
	if err != nil {
		t.Fatalf("%s %s: %v", a, tag, err)
	}
	mu.Lock()
	defer mu.Unlock()
	return res, append([]ark.LogLine(nil), lines...)
}

func doWith(t testing.TB, rt ark.ResourceType, a ark.Action, tag string, params, env map[string]string, log func(ark.LogLine)) (ark.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	info, err := rt.Info(ctx)
	if err != nil {
		return ark.Result{}, err
	}
	e := map[string]string{"TAG": tag, "ID": tag, "ACTION": string(a), "NODE": "test", "CLUSTER": "test"}
	for k, v := range env {
		e[k] = v
	}
	req := &ark.Request{Tag: tag, ID: tag, Params: info.WithDefaults(params), Env: e, Log: log}
	return ark.Run(ctx, rt, a, req)
}

// Mount mounts dev at dir with mount(8), -o options unless options is "";
// it is unmounted at cleanup if still mounted (lazily, should a failed
// test have left it busy).
func Mount(t testing.TB, dev, dir, options string) {
	t.Helper()
	args := []string{"mount"}
	if options != "" {
		args = append(args, "-o", options)
	}
	Run(t, "", append(args, dev, dir)...)
	t.Cleanup(func() {
		if out, _ := Try("", "findmnt", "-rn", "-o", "SOURCE", "--mountpoint", dir); out != "" {
			_, _ = Try("", "umount", "-l", dir)
		}
	})
}
