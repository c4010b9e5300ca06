package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ark-ha/ark/host/api"
	"github.com/ark-ha/ark/host/events"
	"github.com/ark-ha/ark/plugins"
)

// The end-to-end test runs the real thing: arkd, arkctl, the GenericARK
// plugin and the example echo service, as separate processes, with the
// example scripts of examples/bash (the application) and examples/lua
// (the service it depends on).

var bin string // directory of the binaries built by TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ark-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = dir
	for name, pkg := range map[string]string{
		"arkd":        "github.com/ark-ha/ark/host/cmd/arkd",
		"arkctl":      "github.com/ark-ha/ark/host/cmd/arkctl",
		"ark-generic": "github.com/ark-ha/ark/builtin-arks/generic",
		"ark-ip":      "github.com/ark-ha/ark/builtin-arks/ip",
		"ark-fs":      "github.com/ark-ha/ark/builtin-arks/fs",
		"ark-diskres": "github.com/ark-ha/ark/builtin-arks/diskres",
		"ark-echo":    "github.com/ark-ha/ark/examples/echo-service",
	} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", name, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// node is one arkd under test with its files.
type node struct {
	t      testing.TB
	dir    string
	conf   string
	socket string
	cmd    *exec.Cmd
	log    *syncBuffer
	exited chan struct{}
	netns  string // run arkd in this network namespace
	// mountns, when set, is the file of a mount namespace arkd runs in
	// (see newMountNS): the node's mounts are its own and outlive a
	// daemon restart, as on a real machine.
	mountns string
}

// syncBuffer is arkd's output, written by the process's copier and read
// by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newNode(t testing.TB) *node {
	t.Helper()
	dir := t.TempDir()
	sum, err := plugins.FileSHA256(filepath.Join(bin, "ark-generic"))
	if err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, dir: dir, conf: filepath.Join(dir, "node.yaml"), socket: filepath.Join(dir, "arkd.sock")}
	writeFile(t, n.conf, fmt.Sprintf(`node: node1
cluster: e2e
state_dir: %s/state
plugin_dir: %s
socket: %s
log_level: debug
kits:
  generic:
    sha256: %s
`, dir, bin, n.socket, sum))
	return n
}

// start runs arkd in a session of its own (like systemd does), so that
// killing the test's process group never reaches it by accident.
func (n *node) start() {
	n.t.Helper()
	// One log across restarts: a failure after a restart is often
	// explained by what the previous daemon did.
	if n.log == nil {
		n.log = &syncBuffer{}
		// Registered first, so it runs after the kill below.
		n.t.Cleanup(func() {
			if n.t.Failed() {
				full := saveLog(n.t.Name(), n.conf, n.log.String())
				n.t.Logf("arkd log of %s (last %d lines, raft and plugin debug left out; whole log in %s):\n%s", n.conf, logTail, full, tailLog(n.log.String(), logTail))
			}
		})
	} else {
		fmt.Fprintf(n.log, "---- arkd restarted at %s ----\n", time.Now().Format("15:04:05.000"))
	}
	cmd := exec.Command(filepath.Join(bin, "arkd"), "--config", n.conf)
	if n.netns != "" {
		// nsenter, not ip netns exec: that one remounts /sys, and the
		// node would lose the cgroup tree its self-fence kills.
		cmd = exec.Command("nsenter", "--net=/run/netns/"+n.netns, filepath.Join(bin, "arkd"), "--config", n.conf)
	}
	if n.mountns != "" {
		// nsenter execs what follows: the pid is arkd's.
		cmd = exec.Command("nsenter", append([]string{"--mount=" + n.mountns}, cmd.Args...)...)
	}
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	cmd.Stdout, cmd.Stderr = n.log, n.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.cmd = cmd
	n.exited = make(chan struct{})
	go func() { _ = cmd.Wait(); close(n.exited) }()
	n.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-n.exited
		}
	})
	waitFor(n.t, "arkd to answer", func() bool {
		_, _, code := n.arkctl("status")
		return code == 0
	})
}

// restart starts arkd again and waits until its boot (probes, adoption,
// restores) is over: the states of before answer until then.
func (n *node) restart() {
	n.t.Helper()
	at := time.Now()
	n.start()
	waitFor(n.t, "boot to finish", func() bool {
		return hasEvent(n.events(), func(e events.Event) bool {
			return strings.Contains(e.Message, "arkd started:") && e.Time.After(at)
		})
	})
}

// kill9 kills arkd with SIGKILL, as a crash would.
func (n *node) kill9() {
	n.t.Helper()
	_ = n.cmd.Process.Kill()
	<-n.exited
}

func (n *node) arkctl(args ...string) (stdout, stderr string, code int) {
	cmd := exec.Command(filepath.Join(bin, "arkctl"), args...)
	cmd.Env = append(os.Environ(), "ARK_SOCKET="+n.socket)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		n.t.Fatalf("arkctl %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// must runs arkctl and fails the test unless it exits 0.
func (n *node) must(args ...string) string {
	n.t.Helper()
	out, errOut, code := n.arkctl(args...)
	if code != 0 {
		n.t.Fatalf("arkctl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func (n *node) status(tag string) api.Resource {
	n.t.Helper()
	var rs []api.Resource
	if err := json.Unmarshal([]byte(n.must("status", "--json", tag)), &rs); err != nil || len(rs) != 1 {
		n.t.Fatalf("status %s: %v %v", tag, rs, err)
	}
	return rs[0]
}

func (n *node) events() []events.Event {
	n.t.Helper()
	var out []events.Event
	sc := bufio.NewScanner(strings.NewReader(n.must("events", "--json")))
	for sc.Scan() {
		var e events.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			n.t.Fatalf("event %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

func writeFile(t testing.TB, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		// Below the kernel's ephemeral range (32768 and up by default):
		// a port from there can be taken by any outgoing connection
		// (the cluster makes many) before the service that was given it
		// binds it, and a port handed out once is never handed out again.
		p := 20000 + rand.IntN(12000)
		if portsUsed[p] {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		u, err := net.ListenPacket("udp", addr)
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		portsUsed[p] = true
		return addr
	}
	t.Fatal("no free port between 20000 and 32000")
	return ""
}

var (
	portsMu   sync.Mutex
	portsUsed = map[int]bool{}
)

// echoes reports whether the echo service answers on addr.
func echoes(addr string) bool {
	return exec.Command(filepath.Join(bin, "ark-echo"), "probe", "-addr", addr, "-timeout", "1s").Run() == nil
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// servers lists the pids of ark-echo servers listening on addr.
func servers(addr string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) > 2 && strings.HasSuffix(args[0], "ark-echo") && args[1] == "serve" && slices.Contains(args, addr) {
			out = append(out, pid)
		}
	}
	return out
}

func TestEndToEnd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("end-to-end test: needs root (the control socket is root only, actions get cgroups); CI runs it as root")
	}
	repo, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	n := newNode(t)
	appAddr, svcAddr := freePort(t), freePort(t)
	appPid, svcPid := filepath.Join(n.dir, "app.pid"), filepath.Join(n.dir, "svc.pid")
	// web-app names its scripts one by one, so that an update can swap
	// its recover for one that fails.
	defsFor := func(recover string) string {
		return fmt.Sprintf(`resources:
  - tag: web-app
    type: generic
    depends_on: [web-svc]
    interval: 2s
    timeouts: {quickCheck: 1s}
    restart_attempts: 3
    pidfile: %[1]s
    params:
      restore: %[2]s/examples/bash/restore
      remove: %[2]s/examples/bash/remove
      quickCheck: %[2]s/examples/bash/quickCheck
      recover: %[3]s
      addr: "%[4]s"
      pidfile: %[1]s
  - tag: web-svc
    type: generic
    interval: 2s
    timeouts: {quickCheck: 1s}
    pidfile: %[5]s
    params: {dir: %[2]s/examples/lua, addr: "%[6]s", pidfile: %[5]s}
`, appPid, repo, recover, appAddr, svcPid, svcAddr)
	}
	defs, failing := filepath.Join(n.dir, "web.yaml"), filepath.Join(n.dir, "web-failing.yaml")
	writeFile(t, defs, defsFor(filepath.Join(repo, "examples/bash/recover")))
	failRecover := filepath.Join(n.dir, "recover-fails")
	writeFile(t, failRecover, "#!/bin/bash\nlog LK_ERROR 499 \"$TAG: this recover always fails\"\nexit 1\n")
	writeFile(t, failing, defsFor(failRecover))
	t.Cleanup(func() {
		for _, addr := range []string{appAddr, svcAddr} {
			for _, p := range servers(addr) {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
		}
	})

	n.start()
	n.must("define", "-f", defs)
	if out := n.must("define", "-f", defs); !strings.Contains(out, "unchanged") {
		t.Errorf("defining the same file again: %q, want it unchanged", out)
	}

	// define -> start -> ISP, children first.
	n.must("start", "web-app")
	for _, tag := range []string{"web-app", "web-svc"} {
		if st := n.status(tag); st.State != "ISP" || st.Target != "ONLINE" {
			t.Fatalf("%s: %s/%s after start, want ONLINE/ISP", tag, st.Target, st.State)
		}
	}
	if !echoes(appAddr) || !echoes(svcAddr) {
		t.Fatal("the services do not answer after start")
	}
	if _, _, code := n.arkctl("status", "web-app", "--check"); code != 0 {
		t.Errorf("status --check exit %d, want 0", code)
	}
	order := restores(n.events())
	if strings.Join(order, ",") != "web-svc,web-app" {
		t.Errorf("restore order %v, want the child web-svc first", order)
	}

	// Kill the service: the pid watch sees it, recover brings it back.
	pid := readPid(t, appPid)
	if st := n.status("web-app"); st.Pid != pid {
		t.Errorf("watched pid %d, want %d", st.Pid, pid)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, "web-app recovered", func() bool {
		st := n.status("web-app")
		return st.State == "ISP" && st.Restarts == 1 && st.Pid != pid && st.Pid != 0
	})
	if !echoes(appAddr) {
		t.Error("web-app does not answer after recover")
	}
	if !hasEvent(n.events(), func(e events.Event) bool {
		return e.Tag == "web-app" && strings.Contains(e.Message, fmt.Sprintf("process %d", pid)) && strings.Contains(e.Message, "died")
	}) {
		t.Error("no event says the pid watch saw the process die")
	}

	// Make recover fail: the group is removed, top-down, and web-app
	// is OSF.
	if out := n.must("update", "-f", failing); !strings.Contains(out, "web-app: updated") {
		t.Errorf("update: %q, want web-app updated", out)
	}
	pid = readPid(t, appPid)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, "web-app OSF", func() bool { return n.status("web-app").State == "OSF" })
	if st := n.status("web-svc"); st.State != "OSU" {
		t.Errorf("web-svc is %s after its group was given up, want OSU", st.State)
	}
	if echoes(svcAddr) {
		t.Error("web-svc still answers after its group was removed")
	}
	evs := n.events()
	for _, want := range []string{"recover web-app: status 1", "giving up on web-app", "remove web-svc"} {
		if !hasEvent(evs, func(e events.Event) bool { return strings.Contains(e.Message, want) }) {
			t.Errorf("no event containing %q", want)
		}
	}
	if _, _, code := n.arkctl("status", "web-app", "--check"); code != 1 {
		t.Errorf("status --check of an OSF resource: exit %d, want 1", code)
	}
	n.must("update", "-f", defs)

	// kill -9 of arkd, restart: the services are untouched and adopted.
	n.must("start", "web-app")
	appP, svcP := readPid(t, appPid), readPid(t, svcPid)
	n.kill9()
	if !echoes(appAddr) || !echoes(svcAddr) {
		t.Fatal("killing arkd took the services down")
	}
	n.restart()
	checkAdopted(t, n, appAddr, appP, "web-app")
	checkAdopted(t, n, svcAddr, svcP, "web-svc")

	// shutdown --leave-services, then start: the same.
	n.must("shutdown", "--leave-services")
	select {
	case <-n.exited:
	case <-time.After(60 * time.Second):
		t.Fatal("arkd did not exit after shutdown")
	}
	if !echoes(appAddr) || !echoes(svcAddr) {
		t.Fatal("shutdown --leave-services took the services down")
	}
	n.restart()
	checkAdopted(t, n, appAddr, appP, "web-app")
	checkAdopted(t, n, svcAddr, svcP, "web-svc")

	// A second arkd on the same state dir refuses, naming the holder.
	out, err := exec.Command(filepath.Join(bin, "arkd"), "--config", n.conf).CombinedOutput()
	if err == nil || !strings.Contains(string(out), strconv.Itoa(n.cmd.Process.Pid)) {
		t.Errorf("a second arkd: err %v, output %q; want a refusal naming pid %d", err, out, n.cmd.Process.Pid)
	}

	// stop takes the group down, parents first.
	n.must("stop", "web-svc")
	if echoes(appAddr) || echoes(svcAddr) {
		t.Error("services still answer after stop")
	}
	for _, tag := range []string{"web-app", "web-svc"} {
		if st := n.status(tag); st.State != "OSU" || st.Target != "OFFLINE" {
			t.Errorf("%s: %s/%s after stop, want OFFLINE/OSU", tag, st.Target, st.State)
		}
	}
}

// checkAdopted asserts that tag is ISP with the very process it had.
func checkAdopted(t *testing.T, n *node, addr string, pid int, tag string) {
	t.Helper()
	if st := n.status(tag); st.State != "ISP" {
		t.Errorf("%s is %s after the daemon's restart, want ISP", tag, st.State)
	}
	if got := servers(addr); len(got) != 1 || got[0] != pid {
		t.Errorf("%s: servers %v on %s, want exactly the original %d", tag, got, addr, pid)
	}
}

func restores(evs []events.Event) []string {
	var out []string
	for _, e := range evs {
		if e.Kind == "action" && e.Action == "restore" {
			out = append(out, e.Tag)
		}
	}
	return out
}

func hasEvent(evs []events.Event, f func(events.Event) bool) bool {
	for _, e := range evs {
		if f(e) {
			return true
		}
	}
	return false
}

// logTail is how many lines of each arkd's log a failed test prints: the
// end of the story, short enough for the failure message to stay in view.
const logTail = 25

// saveLog keeps a failed test's whole arkd log where t.TempDir's cleanup
// does not reach, and returns its path.
func saveLog(test, conf, log string) string {
	dir := filepath.Join(os.TempDir(), "ark-test-logs", strings.ReplaceAll(test, "/", "_"))
	name := filepath.Base(filepath.Dir(conf)) + ".log"
	if os.MkdirAll(dir, 0o755) != nil || os.WriteFile(filepath.Join(dir, name), []byte(log), 0o644) != nil {
		return "(not saved)"
	}
	return filepath.Join(dir, name)
}

// tailLog returns the last n lines of an arkd log, without the debug
// chatter of raft and of go-plugin.
func tailLog(log string, n int) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimRight(log, "\n"), "\n") {
		if strings.Contains(l, "level=DEBUG") && (strings.Contains(l, "subsystem=raft") || strings.Contains(l, " plugin=")) {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep[max(0, len(keep)-n):], "\n")
}
