package sh

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ark-ha/ark/interpreters"
	"github.com/ark-ha/ark/interpreters/proc"
	"github.com/ark-ha/ark/sdk/ark"
)

// engines are the two bash engines, by name.
var engines = map[string]interpreters.Engine{"mvdan": New(), "system": NewSystem()}

// modes are the containments tests run under: process groups always, a
// cgroup too when this host can make one (root with cgroup v2).
func modes() map[string]string {
	m := map[string]string{"pgroup": ""}
	if p := proc.DefaultParent(); p != "" {
		m["cgroup"] = p
	}
	return m
}

// forEach runs f as a subtest for every engine and containment mode.
func forEach(t *testing.T, f func(t *testing.T, eng interpreters.Engine, cgParent string)) {
	for name, eng := range engines {
		for mode, parent := range modes() {
			t.Run(name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				f(t, eng, parent)
			})
		}
	}
}

// fakeHost answers state(tag) through a function field.
type fakeHost struct {
	state func(ctx context.Context, tag string) (string, error)
}

func (h fakeHost) State(ctx context.Context, tag string) (string, error) { return h.state(ctx, tag) }

var testHost = fakeHost{state: func(_ context.Context, tag string) (string, error) {
	switch tag {
	case "web":
		return "ISP", nil
	case "db":
		return "OSU", nil
	}
	return "", fmt.Errorf("no resource %q", tag)
}}

// run describes one Execute of a test script.
type runOpts struct {
	args     []string
	env      map[string]string
	timeout  time.Duration
	grace    time.Duration
	cgParent string
	dir      string
}

// logs collects log lines.
type logs struct {
	mu    sync.Mutex
	lines []ark.LogLine
}

func (l *logs) add(line ark.LogLine) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
}

// script returns the lines that are not Execute's own (code "ark"), as
// "LEVEL CODE message".
func (l *logs) script() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		if line.Code != "ark" {
			out = append(out, fmt.Sprintf("%s %s %s", line.Level, line.Code, line.Message))
		}
	}
	return out
}

// has reports whether a line with code and message was logged.
func (l *logs) has(code, msg string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if line.Code == code && line.Message == msg {
			return true
		}
	}
	return false
}

// message returns the message of the first line with code.
func (l *logs) message(code string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if line.Code == code {
			return line.Message, true
		}
	}
	return "", false
}

// execute writes src to a script file in t's temp dir and runs it with eng
// through interpreters.Execute.
func execute(t *testing.T, eng interpreters.Engine, src string, o runOpts) (interpreters.Result, *logs) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "action.sh")
	if err := os.WriteFile(path, []byte(src), 0o755); err != nil {
		t.Fatal(err)
	}
	s := &interpreters.Script{Path: path, Source: []byte(src), Lang: eng.Lang()}
	env := map[string]string{
		"TAG": "web", "ID": "web-id", "ACTION": "restore", "RESOURCE_TYPE": "generic",
		"PATH": interpreters.DefaultPath, "TMP": t.TempDir(),
	}
	for k, v := range o.env {
		env[k] = v
	}
	args := o.args
	if args == nil {
		args = []string{"-t", "web", "-i", "web-id"}
	}
	l := &logs{}
	inv := &interpreters.Invocation{Args: args, Env: env, Log: l.add, Host: testHost, Dir: o.dir}
	opts := interpreters.Options{Timeout: o.timeout, Grace: o.grace}
	if opts.Timeout == 0 {
		opts.Timeout = time.Minute
	}
	if opts.Grace == 0 {
		opts.Grace = 2 * time.Second
	}
	if o.cgParent != "" {
		name := "sh-test-" + token()
		opts.Containment = proc.Options{CgroupParent: o.cgParent, Name: name}
		t.Cleanup(func() { removeCgroup(filepath.Join(o.cgParent, name)) })
	}
	res := interpreters.Execute(context.Background(), eng, s, inv, opts)
	if o.cgParent != "" && !strings.HasPrefix(res.Containment, "cgroup ") {
		t.Errorf("containment = %q, want a cgroup", res.Containment)
	}
	return res, l
}

// token returns a random string for markers and names.
func token() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// removeCgroup removes a test's cgroup, killing what the test left in it
// (the services a script started).
func removeCgroup(dir string) {
	_ = os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0)
	for range 100 {
		if err := os.Remove(dir); err == nil || os.IsNotExist(err) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// marker returns a unique token for argv[0] of the processes of a test,
// and kills whatever carries it when the test ends.
func marker(t *testing.T) string {
	m := "ark-marker-" + token()
	t.Cleanup(func() {
		for _, p := range markedPids(m) {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	})
	return m
}

// markedPids lists the live (non-zombie) processes whose command line
// contains m.
func markedPids(m string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), m) {
			continue
		}
		if zombie(pid) {
			continue
		}
		out = append(out, pid)
	}
	return out
}

func zombie(pid int) bool {
	st, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(st), ')')
	return i > 0 && i+2 < len(st) && (st[i+2] == 'Z' || st[i+2] == 'X')
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cmdline returns the command line of pid with spaces between arguments.
func cmdline(pid int) string {
	b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}
