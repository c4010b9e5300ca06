//go:build linux

package monitor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// waitLimit bounds every wait in these tests; it is a hang detector, not a
// speed requirement.
const waitLimit = 10 * time.Second

// watchModes runs a test against the pidfd watch and the polling fallback.
// The pidfd watch gets ticks that never come, so a test passes only if the
// pidfd is waited on in the runtime poller, not polled.
var watchModes = []struct {
	name string
	opts watchOptions
}{
	{name: "pidfd", opts: watchOptions{ticks: make(chan time.Time)}},
	{name: "poll", opts: watchOptions{pidfdOpen: noPidfd}},
}

// noPidfd is pidfd_open on a kernel that lacks it.
func noPidfd(int, int) (int, error) { return -1, unix.ENOSYS }

// pollFast is the fallback with a quick tick, so that tests need not wait
// 100 ms per look.
func pollFast(opts watchOptions) watchOptions {
	if opts.pidfdOpen != nil && opts.ticks == nil {
		t := time.NewTicker(5 * time.Millisecond)
		opts.ticks = t.C // the ticker is left to the garbage collector
	}
	return opts
}

// startSleep starts a long sleep as a child; it is killed and reaped when
// the test ends.
func startSleep(t testing.TB) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// waitClosed fails the test unless ch is closed within waitLimit.
func waitClosed(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitLimit):
		t.Fatalf("%s: not closed after %v", what, waitLimit)
	}
}

// isOpen reports whether ch is still open right now.
func isOpen(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return false
	default:
		return true
	}
}

// waitFor polls cond until it holds, failing the test after waitLimit.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v", what, waitLimit)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitGoroutines waits until at most n goroutines are left, failing the
// test with a dump of the others after waitLimit.
func waitGoroutines(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), n, buf)
		}
		time.Sleep(time.Millisecond)
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func procState(pid int) byte {
	st, err := readProcStat(pid)
	if err != nil {
		return 0
	}
	return st.state
}

func TestWatchChildKilled(t *testing.T) {
	for _, m := range watchModes {
		t.Run(m.name, func(t *testing.T) {
			cmd := startSleep(t)
			w, err := watch(t.Context(), cmd.Process.Pid, pollFast(m.opts))
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			if w.Pid() != cmd.Process.Pid {
				t.Errorf("Pid() = %d, want %d", w.Pid(), cmd.Process.Pid)
			}
			if !isOpen(w.Done()) {
				t.Fatal("Done closed while the process runs")
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			// Not reaped yet: the death is seen on the zombie.
			waitClosed(t, w.Done(), "Done after kill")
		})
	}
}

// TestWatchNotOurChild watches a process whose parent (a shell) has exited,
// so it was adopted by init or a subreaper: we cannot wait for it.
func TestWatchNotOurChild(t *testing.T) {
	for _, m := range watchModes {
		t.Run(m.name, func(t *testing.T) {
			out, err := exec.Command("sh", "-c", "sleep 1000 </dev/null >/dev/null 2>&1 & echo $!").Output()
			if err != nil {
				t.Fatal(err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
			if err != nil {
				t.Fatalf("shell printed %q: %v", out, err)
			}
			t.Cleanup(func() { unix.Kill(pid, unix.SIGKILL) })
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
				f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
				if f[1] == strconv.Itoa(os.Getpid()) {
					t.Fatalf("pid %d is our child; the test needs a stranger", pid)
				}
			}
			w, err := watch(t.Context(), pid, pollFast(m.opts))
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			if !isOpen(w.Done()) {
				t.Fatal("Done closed while the process runs")
			}
			if err := unix.Kill(pid, unix.SIGKILL); err != nil {
				t.Fatal(err)
			}
			waitClosed(t, w.Done(), "Done after kill")
		})
	}
}

func TestWatchZombieIsDead(t *testing.T) {
	for _, m := range watchModes {
		t.Run(m.name, func(t *testing.T) {
			cmd := startSleep(t)
			pid := cmd.Process.Pid
			cmd.Process.Kill()
			waitFor(t, "child is a zombie", func() bool { return procState(pid) == 'Z' })
			w, err := watch(t.Context(), pid, pollFast(m.opts))
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			waitClosed(t, w.Done(), "Done for a zombie")
		})
	}
}

func TestWatchNoProcess(t *testing.T) {
	for _, m := range watchModes {
		t.Run(m.name, func(t *testing.T) {
			// Pids are below PID_MAX_LIMIT, so this one never exists.
			_, err := watch(t.Context(), maxPid, m.opts)
			if !errors.Is(err, ErrNoProcess) {
				t.Fatalf("err = %v, want ErrNoProcess", err)
			}
			if !strings.Contains(err.Error(), strconv.Itoa(maxPid)) {
				t.Errorf("error %q does not name the pid", err)
			}
		})
	}
	for _, pid := range []int{0, -1} {
		if _, err := Watch(t.Context(), pid); err == nil || errors.Is(err, ErrNoProcess) {
			t.Errorf("Watch(%d): err = %v, want an invalid-pid error", pid, err)
		}
	}
}

// TestWatchStopReleases stops watches of live processes, by Stop and by
// cancelling the context, and checks that no goroutine or descriptor is
// left behind.
func TestWatchStopReleases(t *testing.T) {
	for _, m := range watchModes {
		t.Run(m.name, func(t *testing.T) {
			cmd := startSleep(t)
			// Warm up whatever the runtime starts once (the poller).
			w0, err := watch(t.Context(), cmd.Process.Pid, m.opts)
			if err != nil {
				t.Fatal(err)
			}
			w0.Stop()
			baseG, baseFD := runtime.NumGoroutine(), openFDs(t)

			ctx, cancel := context.WithCancel(t.Context())
			var ws []*ProcessWatch
			for i := range 20 {
				wctx := t.Context()
				if i%2 == 1 {
					wctx = ctx
				}
				w, err := watch(wctx, cmd.Process.Pid, m.opts)
				if err != nil {
					t.Fatal(err)
				}
				ws = append(ws, w)
			}
			cancel() // stops the odd ones
			var wg sync.WaitGroup
			for i, w := range ws {
				if i%2 == 0 {
					wg.Go(w.Stop)
					wg.Go(w.Stop) // concurrently, and idempotent
				}
			}
			wg.Wait()
			for _, w := range ws {
				w.Stop() // again, including those the context stopped
				if !isOpen(w.Done()) {
					t.Fatal("Done closed by Stop")
				}
			}
			waitGoroutines(t, baseG)
			if n := openFDs(t); n > baseFD {
				t.Errorf("%d descriptors open after Stop, %d before", n, baseFD)
			}
		})
	}
}

// TestWatchReleasesOnDeath checks that a watch whose process died has
// released its goroutine and descriptor even before Stop.
func TestWatchReleasesOnDeath(t *testing.T) {
	cmd := startSleep(t)
	w0, err := Watch(t.Context(), cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	w0.Stop()
	baseG, baseFD := runtime.NumGoroutine(), openFDs(t)
	w, err := Watch(t.Context(), cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Process.Kill()
	waitClosed(t, w.Done(), "Done after kill")
	waitGoroutines(t, baseG)
	if n := openFDs(t); n > baseFD {
		t.Errorf("%d descriptors open after death, %d before", n, baseFD)
	}
	w.Stop()
}

func TestWatchCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Watch(ctx, os.Getpid()); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// TestPollIdentity drives the fallback's death test with a fake
// /proc/pid/stat.
func TestPollIdentity(t *testing.T) {
	errNoProc := errors.New("no /proc")
	first := procStat{state: 'S', start: 1000}
	tests := []struct {
		name  string
		later procStat
		err   error
		gone  bool
	}{
		{name: "same process", later: first, gone: false},
		{name: "running", later: procStat{state: 'R', start: 1000}, gone: false},
		{name: "pid reused", later: procStat{state: 'S', start: 1001}, gone: true},
		{name: "zombie", later: procStat{state: 'Z', start: 1000}, gone: true},
		{name: "dead", later: procStat{state: 'X', start: 1000}, gone: true},
		{name: "gone from /proc", err: errProcGone, gone: true},
		{name: "unreadable", err: errNoProc, gone: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			read := func(int) (procStat, error) {
				calls++
				if calls == 1 {
					return first, nil
				}
				return tt.later, tt.err
			}
			// Our own pid: kill(pid, 0) succeeds, so /proc decides.
			gone, err := pollIdentity(os.Getpid(), read)
			if err != nil {
				t.Fatal(err)
			}
			if got := gone(); got != tt.gone {
				t.Errorf("gone() = %v, want %v", got, tt.gone)
			}
		})
	}
	t.Run("no /proc at start", func(t *testing.T) {
		gone, err := pollIdentity(os.Getpid(), func(int) (procStat, error) { return procStat{}, errNoProc })
		if err != nil || gone() {
			t.Fatalf("gone() = %v, err %v; want false, nil (kill(pid, 0) alone)", gone(), err)
		}
	})
	t.Run("gone at start", func(t *testing.T) {
		_, err := pollIdentity(os.Getpid(), func(int) (procStat, error) { return procStat{}, errProcGone })
		if !errors.Is(err, ErrNoProcess) {
			t.Fatalf("err = %v, want ErrNoProcess", err)
		}
	})
}

func TestParseProcStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100 0 0\n"
	got, err := parseProcStat(line)
	if err != nil || got != (procStat{state: 'S', start: 987654}) {
		t.Fatalf("parseProcStat = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "4242 (x", "4242 (x) S 1 2 3", "4242 (x) S 1 4242 4242 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 soon 1"} {
		if _, err := parseProcStat(bad); err == nil {
			t.Errorf("parseProcStat(%q) succeeded", bad)
		}
	}
}

// TestWatchPidReuse makes the kernel hand a watched pid to a new process and
// checks that the watch still reports the death of the original. Reusing a
// pid quickly needs a small pid space, so the test runs itself again as pid 1
// of new user, pid and mount namespaces with pid_max lowered (per-namespace
// pid_max needs Linux 6.14); it is skipped where that is not allowed.
func TestWatchPidReuse(t *testing.T) {
	if os.Getenv("ARK_MONITOR_PIDNS") == "1" {
		pidReuseInNamespace(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestWatchPidReuse$", "-test.v", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), "ARK_MONITOR_PIDNS=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		Pdeathsig:   syscall.SIGKILL,
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err != nil && !errors.As(err, &exit):
		t.Skipf("cannot start a process in new namespaces: %v", err)
	case err != nil:
		t.Fatalf("in the namespace: %v\n%s", err, out)
	case strings.Contains(string(out), "--- SKIP"):
		t.Skipf("skipped in the namespace:\n%s", out)
	case !strings.Contains(string(out), "--- PASS: TestWatchPidReuse"):
		t.Fatalf("the namespace run did not pass:\n%s", out)
	}
	t.Logf("in the namespace:\n%s", out)
}

func pidReuseInNamespace(t *testing.T) {
	if os.Getpid() != 1 {
		t.Fatalf("pid %d: not the first process of a new pid namespace", os.Getpid())
	}
	// A /proc of our own pid namespace, in a private mount namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		t.Skipf("make mounts private: %v", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		t.Skipf("mount /proc: %v", err)
	}
	// After pid_max the allocator wraps back to 300 (RESERVED_PIDS), so with
	// pid_max 400 a pid at or above 300 comes back within 100 forks.
	const pidMax = 400
	if err := os.WriteFile("/proc/sys/kernel/pid_max", []byte(strconv.Itoa(pidMax)), 0); err != nil {
		t.Skipf("set pid_max in the namespace (per-namespace since Linux 6.14): %v", err)
	}
	spawn := func(args ...string) *exec.Cmd {
		t.Helper()
		c := exec.Command(args[0], args[1:]...)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		return c
	}
	for i := 0; ; i++ {
		c := spawn("true")
		c.Wait()
		if c.Process.Pid >= 300 {
			break
		}
		if i > 2*pidMax {
			t.Fatalf("pids do not reach 300 (last %d)", c.Process.Pid)
		}
	}

	a := spawn("sleep", "1000")
	pid := a.Process.Pid
	aStat, err := readProcStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	rawFD, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rawFD)
	wPidfd, err := Watch(t.Context(), pid)
	if err != nil {
		t.Fatal(err)
	}
	defer wPidfd.Stop()
	ticks := make(chan time.Time)
	wPoll, err := watch(t.Context(), pid, watchOptions{pidfdOpen: noPidfd, ticks: ticks})
	if err != nil {
		t.Fatal(err)
	}
	defer wPoll.Stop()

	a.Process.Kill()
	a.Wait()
	var b *exec.Cmd
	var tried []int
	for range 2 * pidMax {
		c := spawn("sleep", "1000")
		if c.Process.Pid == pid {
			b = c
			break
		}
		tried = append(tried, c.Process.Pid)
		c.Process.Kill()
		c.Wait()
	}
	if b == nil {
		slices.Sort(tried)
		t.Fatalf("pid %d was not reused; got %v", pid, slices.Compact(tried))
	}
	defer func() { b.Process.Kill(); b.Wait() }()
	if err := unix.Kill(pid, 0); err != nil {
		t.Fatalf("kill(%d, 0) = %v: the reused pid should name a live process", pid, err)
	}
	t.Logf("pid %d reused: the original is dead, kill(%d, 0) succeeds", pid, pid)

	// The pidfd refers to the original: it reads as exited, and a signal
	// sent through it does not reach the new process.
	if !pidfdExited(rawFD) {
		t.Error("the pidfd of the dead original is not readable")
	}
	if err := unix.PidfdSendSignal(rawFD, 0, nil, 0); !errors.Is(err, unix.ESRCH) {
		t.Errorf("pidfd_send_signal on the original = %v, want ESRCH", err)
	}
	waitClosed(t, wPidfd.Done(), "pidfd watch Done after reuse")

	// The fallback looks only now, when the pid is alive again: the start
	// time (in clock ticks) tells the processes apart.
	bStat, err := readProcStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	if bStat.start == aStat.start {
		t.Skipf("both processes started in the same clock tick (%d); the fallback cannot tell them apart", aStat.start)
	}
	ticks <- time.Now()
	waitClosed(t, wPoll.Done(), "polling watch Done after reuse")

	// A new watch of the pid watches the new process.
	wb, err := Watch(t.Context(), pid)
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Stop()
	if !isOpen(wb.Done()) {
		t.Fatal("the new process is reported dead")
	}
	b.Process.Kill()
	waitClosed(t, wb.Done(), "new watch Done after kill")
}

// BenchmarkDeathDetection measures how long after kill(2) returns a watch
// reports the death: per iteration it starts a sleep, watches it, kills it
// and waits for Done. ns/op includes starting the process; p50-µs and
// p99-µs are the detection latencies alone. Use -benchtime=500x or so for a
// meaningful p99.
func BenchmarkDeathDetection(b *testing.B) {
	var lat []time.Duration
	for b.Loop() {
		cmd := exec.Command("sleep", "1000")
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		w, err := Watch(context.Background(), cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Process.Kill(); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		<-w.Done()
		lat = append(lat, time.Since(t0))
		w.Stop()
		cmd.Wait()
	}
	reportPercentiles(b, lat)
}

func reportPercentiles(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	pct := func(p float64) float64 {
		return float64(d[int(p*float64(len(d)-1))]) / float64(time.Microsecond)
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}
