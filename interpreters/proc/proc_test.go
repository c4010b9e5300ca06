package proc

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// modes are the containments to test: process groups always, a cgroup
// too when this host can make one (root with cgroup v2).
func modes() map[string]string {
	m := map[string]string{"pgroup": ""}
	if p := DefaultParent(); p != "" {
		m["cgroup"] = p
	}
	return m
}

func token() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// sleeper returns a symlink to sleep whose name is a unique marker, and
// kills whatever runs it when the test ends.
func sleeper(t *testing.T) (path, mark string) {
	mark = "ark-proc-test-" + token()
	path = filepath.Join(t.TempDir(), mark)
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(sleep, path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, p := range marked(mark) {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	})
	return path, mark
}

// marked lists the live processes whose argv[0] contains mark.
func marked(mark string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		argv0, _, _ := strings.Cut(string(b), "\x00")
		if err != nil || !strings.Contains(argv0, mark) {
			continue
		}
		if st, ok := readStat(pid); ok && st.state != 'Z' {
			out = append(out, pid)
		}
	}
	slices.Sort(out)
	return out
}

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

// newGroup makes a group in mode (cgroup parent or ""), removed at the
// end of the test.
func newGroup(t *testing.T, parent string, keep string) *Group {
	t.Helper()
	opts := Options{}
	if parent != "" {
		opts = Options{CgroupParent: parent, Name: "proc-test-" + token(), Keep: keep}
	}
	g, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if parent != "" && g.Cgroup() == "" {
		t.Fatalf("no cgroup made under %s", parent)
	}
	t.Cleanup(func() {
		if g.cgroup != "" {
			for range 100 {
				if err := os.Remove(g.cgroup); err == nil || os.IsNotExist(err) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
	return g
}

func start(t *testing.T, g *Group, argv ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	if err := g.Start(cmd); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait() }() // reap
	return cmd
}

// TestTerminate starts a process that ignores SIGTERM, a grandchild and
// (with a cgroup) a process that escaped with setsid: Terminate must end
// them all, with SIGKILL where TERM was not enough.
func TestTerminate(t *testing.T) {
	for mode, parent := range modes() {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			path, mark := sleeper(t)
			g := newGroup(t, parent, "")
			start(t, g, "/bin/sh", "-c", `trap "" TERM; exec "$0" 1000`, path)
			start(t, g, "/bin/sh", "-c", `"$0" 1001 & wait`, path)
			want := 3
			if parent != "" {
				// setsid forks (its process leads a group), the child
				// makes a new session and the parent exits: only the
				// cgroup still holds it.
				start(t, g, "setsid", path, "1002")
			} else {
				want = 2
			}
			eventually(t, "the processes to start", func() bool { return len(marked(mark)) == want })
			if parent != "" && !strings.Contains(g.Contained(), "cgroup") {
				t.Errorf("Contained() = %q", g.Contained())
			}
			killed, survivors := g.Terminate(300 * time.Millisecond)
			if len(killed) == 0 {
				t.Errorf("nothing needed SIGKILL, but one process ignores SIGTERM")
			}
			if len(survivors) > 0 {
				t.Errorf("survivors %v", survivors)
			}
			eventually(t, "every process to be gone", func() bool { return len(marked(mark)) == 0 })
			if pids := g.Pids(); len(pids) > 0 {
				t.Errorf("Pids() = %v after Terminate", pids)
			}
			g.Close()
			if g.cgroup != "" {
				if _, err := os.Stat(g.cgroup); !os.IsNotExist(err) {
					t.Errorf("cgroup %s still there after Close: %v", g.cgroup, err)
				}
			}
		})
	}
}

// TestTerminateParentFirst checks that a shell waiting for a foreground
// child is signalled before the child: it dies with it instead of
// reporting "Terminated" for the child on its stderr, a line that would
// reach the action's log as if the script had printed it.
func TestTerminateParentFirst(t *testing.T) {
	for mode, parent := range modes() {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			path, mark := sleeper(t)
			g := newGroup(t, parent, "")
			var stderr strings.Builder
			cmd := exec.Command("/bin/bash", "-c", `"$0" 1000; echo after`, path)
			cmd.Stderr = &stderr
			if err := g.Start(cmd); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the child to start", func() bool { return len(marked(mark)) == 1 })
			if pids := oldestFirst([]int{marked(mark)[0], cmd.Process.Pid}); pids[0] != cmd.Process.Pid {
				t.Errorf("oldestFirst = %v, want the shell %d first", pids, cmd.Process.Pid)
			}
			g.Terminate(time.Second)
			_ = cmd.Wait()
			if stderr.Len() > 0 {
				t.Errorf("the shell printed %q", stderr.String())
			}
		})
	}
}

// TestRelease checks that Release leaves running processes running,
// moved into Options.Keep when there is a cgroup, and closes the group.
func TestRelease(t *testing.T) {
	for mode, parent := range modes() {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			keep := ""
			if parent != "" {
				keep = filepath.Join(parent, "proc-test-keep-"+token())
				t.Cleanup(func() {
					for range 100 {
						if err := os.Remove(keep); err == nil || os.IsNotExist(err) {
							return
						}
						time.Sleep(20 * time.Millisecond)
					}
				})
			}
			path, mark := sleeper(t) // (its cleanup runs first: keep can go)
			g := newGroup(t, parent, keep)
			svc := start(t, g, path, "1000")
			start(t, g, "/bin/true")
			eventually(t, "the service to start", func() bool { return len(marked(mark)) == 1 })
			eventually(t, "true to end", func() bool { return len(g.Pids()) == 1 })

			left, err := g.Release()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(left, []int{svc.Process.Pid}) {
				t.Errorf("Release() = %v, want [%d]", left, svc.Process.Pid)
			}
			time.Sleep(50 * time.Millisecond)
			if got := marked(mark); !slices.Equal(got, []int{svc.Process.Pid}) {
				t.Errorf("running %v after Release, want the service %d", got, svc.Process.Pid)
			}
			if err := g.Start(exec.Command("/bin/true")); err == nil {
				t.Errorf("Start after Release succeeded")
			}
			if parent == "" {
				return
			}
			b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(svc.Process.Pid), "cgroup"))
			if err != nil {
				t.Fatal(err)
			}
			if rel := strings.TrimPrefix(keep, CgroupRoot()); !strings.Contains(string(b), "0::"+rel+"\n") {
				t.Errorf("the service's cgroup is %q, want %s", b, rel)
			}
			if _, err := os.Stat(g.cgroup); !os.IsNotExist(err) {
				t.Errorf("the action cgroup %s is still there: %v", g.cgroup, err)
			}
		})
	}
}

// TestOwns checks which pids a group may signal: its own processes and
// their descendants, never the host itself, pid 1 or a stranger.
func TestOwns(t *testing.T) {
	for mode, parent := range modes() {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			path, mark := sleeper(t)
			g := newGroup(t, parent, "")
			defer g.Terminate(time.Second)
			child := start(t, g, "/bin/sh", "-c", `"$0" 1000 & wait`, path)
			stranger := exec.Command(path, "1001")
			if err := stranger.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = stranger.Process.Kill(); _ = stranger.Wait() }()
			eventually(t, "the processes to start", func() bool { return len(marked(mark)) == 2 })
			var grandchild int
			for _, p := range marked(mark) {
				if p != stranger.Process.Pid {
					grandchild = p
				}
			}

			for _, c := range []struct {
				name string
				pid  int
				want bool
			}{
				{"child", child.Process.Pid, true},
				{"grandchild", grandchild, true},
				{"host", os.Getpid(), false},
				{"init", 1, false},
				{"stranger", stranger.Process.Pid, false},
				{"no pid", 0, false},
				{"negative", -child.Process.Pid, false},
			} {
				if got := g.Owns(c.pid); got != c.want {
					t.Errorf("Owns(%s %d) = %v, want %v", c.name, c.pid, got, c.want)
				}
			}
			if err := g.Signal(os.Getpid(), syscall.SIGTERM); err == nil {
				t.Errorf("Signal of the host's own pid was not refused")
			}
			if err := g.Signal(stranger.Process.Pid, syscall.SIGTERM); err == nil {
				t.Errorf("Signal of a stranger was not refused")
			}
			if err := g.Signal(grandchild, 0); err != nil {
				t.Errorf("Signal(grandchild, 0): %v", err)
			}
			time.Sleep(20 * time.Millisecond)
			if !slices.Contains(marked(mark), stranger.Process.Pid) {
				t.Errorf("the stranger was signalled")
			}
		})
	}
}

// TestReusedPid: a started process that has exited leaves its pid in the
// group's records; an unrelated process that later gets the same pid must
// not be taken for the group's (and so never be signalled by it).
func TestReusedPid(t *testing.T) {
	path, mark := sleeper(t)
	g := newGroup(t, "", "")
	stranger := exec.Command(path, "1000")
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stranger.Process.Kill(); _ = stranger.Wait() }()
	eventually(t, "the stranger to start", func() bool { return len(marked(mark)) == 1 })
	pid := stranger.Process.Pid
	st, ok := readStat(pid)
	if !ok {
		t.Fatal("no stat for the stranger")
	}

	// As if the group had started a process with this pid before, at
	// another time, which has exited since.
	g.mu.Lock()
	g.started[pid] = st.start - 1
	g.mu.Unlock()
	if g.Owns(pid) || slices.Contains(g.Pids(), pid) {
		t.Errorf("a reused pid is taken for the group's")
	}
	if n := g.SignalAll(syscall.SIGTERM); n != 0 {
		t.Errorf("SignalAll signalled %d processes", n)
	}
	time.Sleep(20 * time.Millisecond)
	if got := marked(mark); !slices.Equal(got, []int{pid}) {
		t.Errorf("the stranger was signalled: running %v", got)
	}

	// The same pid at the recorded start time is the group's.
	g.mu.Lock()
	g.started[pid] = st.start
	g.mu.Unlock()
	if !g.Owns(pid) {
		t.Errorf("the started process itself is not owned")
	}
}
