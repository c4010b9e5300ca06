//go:build linux

package kits_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ark-ha/ark/host/kits"
	"github.com/ark-ha/ark/plugins"
	"github.com/ark-ha/ark/sdk/ark"
)

// request returns a request for tag with params whose log lines go
// nowhere.
func request(tag string, params map[string]string) *ark.Request {
	return &ark.Request{Tag: tag, Params: params, Log: func(ark.LogLine) {}}
}

// waitRunning returns a Log function and a channel closed at the first
// line the action logs: proof that the action runs in the plugin.
func waitRunning() (func(ark.LogLine), <-chan struct{}) {
	ch := make(chan struct{})
	var once sync.Once
	return func(ark.LogLine) { once.Do(func() { close(ch) }) }, ch
}

func kill(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", pid, err)
	}
}

func TestEnableAndCall(t *testing.T) {
	f := newFixture(t, kits.Config{})
	ctx := context.Background()

	// A vendor plugin.
	flag := pin(t, "flagfile", binFlagfile)
	info, err := f.m.Enable(ctx, flag)
	if err != nil {
		t.Fatalf("enable flagfile: %v", err)
	}
	if info.Type != "flagfile" || info.Version == "" {
		t.Errorf("enable returned info %+v", info)
	}
	if s, ok := f.m.Schema("flagfile"); !ok || s.Type != "flagfile" {
		t.Errorf("Schema(flagfile) = %+v, %v", s, ok)
	}
	rt, ok := f.m.Type("flagfile")
	if !ok {
		t.Fatal("Type(flagfile) not found")
	}
	marker := filepath.Join(t.TempDir(), "flag")
	params := map[string]string{"path": marker}
	if err := rt.Validate(ctx, params); err != nil {
		t.Errorf("validate: %v", err)
	}
	if err := rt.Validate(ctx, map[string]string{"pth": marker}); !errors.Is(err, ark.ErrMisconfigured) {
		t.Errorf("validate with a typo: %v, want a misconfigured error from the plugin", err)
	}
	if res, err := rt.Restore(ctx, request("flag", params)); err != nil || !res.OK() {
		t.Fatalf("restore: %+v, %v", res, err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("restore did not create the flag: %v", err)
	}
	if res, err := rt.QuickCheck(ctx, request("flag", params)); err != nil || !res.OK() {
		t.Errorf("quickCheck after restore: %+v, %v", res, err)
	}
	if res, err := rt.Remove(ctx, request("flag", params)); err != nil || !res.OK() {
		t.Errorf("remove: %+v, %v", res, err)
	}
	if res, err := rt.QuickCheck(ctx, request("flag", params)); err != nil || res.OK() {
		t.Errorf("quickCheck after remove: %+v, %v; want a failed check", res, err)
	}

	// The GenericARK with bash scripts.
	f.enable(t, pin(t, "generic", binGeneric))
	dir := t.TempDir()
	scripts := map[string]string{
		"restore.sh":    `: > "$PARAM_MARKER"` + "\n",
		"remove.sh":     `rm -f "$PARAM_MARKER"` + "\n",
		"quickCheck.sh": `test -f "$PARAM_MARKER"` + "\n",
	}
	for name, src := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	gmarker := filepath.Join(t.TempDir(), "app.running")
	gparams := map[string]string{"dir": dir, "marker": gmarker}
	grt, ok := f.m.Type("generic")
	if !ok {
		t.Fatal("Type(generic) not found")
	}
	if err := grt.Validate(ctx, gparams); err != nil {
		t.Fatalf("validate generic: %v", err)
	}
	if res, err := grt.QuickCheck(ctx, request("app", gparams)); err != nil || res.OK() {
		t.Errorf("generic quickCheck before restore: %+v, %v; want a failed check", res, err)
	}
	if res, err := grt.Restore(ctx, request("app", gparams)); err != nil || !res.OK() {
		t.Fatalf("generic restore: %+v, %v", res, err)
	}
	if res, err := grt.QuickCheck(ctx, request("app", gparams)); err != nil || !res.OK() {
		t.Errorf("generic quickCheck after restore: %+v, %v", res, err)
	}

	list := f.m.List()
	if len(list) != 2 || list[0].Kit.Name != "flagfile" || list[1].Kit.Name != "generic" {
		t.Fatalf("List() = %+v, want flagfile and generic in that order", list)
	}
	for _, s := range list {
		if !s.Running || s.Pid <= 0 || s.Launches != 1 || s.Version == "" || s.LastError != "" || !s.NextTry.IsZero() {
			t.Errorf("status of %s: %+v", s.Kit.Name, s)
		}
		if got := f.pidRecord(s.Kit.Name); got != s.Pid {
			t.Errorf("pid record of %s names pid %d, want %d", s.Kit.Name, got, s.Pid)
		}
		// The plugin leads a process group of its own, not arkd's.
		pgid, err := syscall.Getpgid(s.Pid)
		if err != nil || pgid != s.Pid || pgid == syscall.Getpgrp() {
			t.Errorf("plugin %s pid %d is in process group %d (%v); arkd's is %d: want its own", s.Kit.Name, s.Pid, pgid, err, syscall.Getpgrp())
		}
	}
	f.events.wait(t, "flagfile", kits.KitStarted, 1)
	f.events.wait(t, "generic", kits.KitStarted, 1)

	// Enabling again with the same pin does nothing; another pin is refused.
	if info2, err := f.m.Enable(ctx, flag); err != nil || info2.Type != "flagfile" {
		t.Errorf("enable again: %+v, %v", info2, err)
	}
	if s := f.status(t, "flagfile"); s.Launches != 1 {
		t.Errorf("enable again launched a process: %+v", s)
	}
	other := flag
	other.SHA256 = strings.Repeat("0", 64)
	if _, err := f.m.Enable(ctx, other); !errors.Is(err, kits.ErrAlreadyEnabled) {
		t.Errorf("enable with another pin: %v, want ErrAlreadyEnabled", err)
	}
	if _, ok := f.m.Type("nosuch"); ok {
		t.Error("Type(nosuch) found")
	}
}

func TestEnableRefused(t *testing.T) {
	f := newFixture(t, kits.Config{})
	ctx := context.Background()

	good := pin(t, "fake", binFake)
	wrong := good
	wrong.SHA256 = strings.Repeat("ab", 32)
	_, err := f.m.Enable(ctx, wrong)
	if !errors.Is(err, plugins.ErrChecksumMismatch) {
		t.Fatalf("enable with a wrong pin: %v, want ErrChecksumMismatch", err)
	}
	if !strings.Contains(err.Error(), wrong.SHA256) || !strings.Contains(err.Error(), good.SHA256) || !strings.Contains(err.Error(), "fake") {
		t.Errorf("checksum error must name the kit and both hashes: %v", err)
	}
	t.Logf("wrong pin: %v", err)

	unpinned := good
	unpinned.SHA256 = ""
	if _, err := f.m.Enable(ctx, unpinned); err == nil || !strings.Contains(err.Error(), "not pinned") {
		t.Errorf("enable without a pin: %v", err)
	}

	// The flagfile plugin enabled as kit "generic".
	_, err = f.m.Enable(ctx, pin(t, "generic", binFlagfile))
	if !errors.Is(err, kits.ErrTypeMismatch) || !strings.Contains(err.Error(), `"flagfile"`) || !strings.Contains(err.Error(), `"generic"`) {
		t.Fatalf("enable under another type's name: %v, want ErrTypeMismatch naming both types", err)
	}
	t.Logf("type mismatch: %v", err)

	if _, err := kits.PinKit("nosuch", filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("pin of a missing binary succeeded")
	}
	if _, err := kits.PinKit("dir", t.TempDir()); err == nil {
		t.Error("pin of a directory succeeded")
	}
	if _, err := kits.PinKit("../etc", binFake); err == nil {
		t.Error("PinKit accepted a kit name with a slash")
	}

	// Nothing is left enabled, running or recorded.
	if l := f.m.List(); len(l) != 0 {
		t.Errorf("List() after refusals = %+v", l)
	}
	if _, ok := f.m.Type("generic"); ok {
		t.Error("Type(generic) found after a refused enable")
	}
	if pids := processesOf(binFlagfile); len(pids) != 0 {
		t.Errorf("refused plugin still running: pids %v", pids)
	}
	if recs := f.records(); len(recs) != 0 {
		t.Errorf("pid records left after refusals: %v", recs)
	}
}

func TestCrashRelaunchedInBackground(t *testing.T) {
	f := newFixture(t, kits.Config{})
	f.enable(t, pin(t, "fake", binFake))
	pid1 := f.status(t, "fake").Pid

	kill(t, pid1)
	crash := f.events.wait(t, "fake", kits.KitCrashed, 1)
	if crash.Pid != pid1 || crash.Status != "signal: killed" || crash.Err == nil {
		t.Errorf("crash event %+v, want pid %d, status signal: killed", crash, pid1)
	}
	if line, ok := f.log.find("ERROR", "kit plugin exited unexpectedly", "signal: killed"); !ok {
		t.Error("the crash was not logged with its exit status")
	} else {
		t.Logf("logged: %s", line)
	}
	// No call is made: the relaunch happens by itself.
	re := f.events.wait(t, "fake", kits.KitRelaunched, 1)
	if re.Pid == pid1 || re.Pid <= 0 || re.Launches != 2 {
		t.Errorf("relaunch event %+v", re)
	}
	s := f.status(t, "fake")
	if !s.Running || s.Launches != 2 || s.Pid != re.Pid || !strings.Contains(s.LastError, "signal: killed") || s.Failures != 1 {
		t.Errorf("status after relaunch: %+v", s)
	}
	if got := f.pidRecord("fake"); got != re.Pid {
		t.Errorf("pid record names %d, want the new process %d", got, re.Pid)
	}
	if alive(pid1) {
		t.Errorf("old process %d still alive", pid1)
	}
	rt, _ := f.m.Type("fake")
	if res, err := rt.QuickCheck(context.Background(), request("app", nil)); err != nil || !res.OK() {
		t.Errorf("quickCheck after relaunch: %+v, %v", res, err)
	}
	if n := f.status(t, "fake").Launches; n != 2 {
		t.Errorf("%d launches after the call, want 2", n)
	}
}

func TestActionInFlightWhenKilled(t *testing.T) {
	f := newFixture(t, kits.Config{})
	f.enable(t, pin(t, "fake", binFake))
	rt, _ := f.m.Type("fake")
	pid := f.status(t, "fake").Pid

	req := request("web", map[string]string{"logs": "1", "sleep": "1h"})
	var running <-chan struct{}
	req.Log, running = waitRunning()
	errc := make(chan error, 1)
	go func() {
		_, err := rt.Restore(context.Background(), req)
		errc <- err
	}()
	select {
	case <-running:
	case <-time.After(waitDeadline):
		t.Fatal("the action never started")
	}
	kill(t, pid)
	select {
	case err := <-errc:
		if !errors.Is(err, plugins.ErrExited) || !strings.Contains(err.Error(), "restore web") {
			t.Fatalf("restore in flight when the plugin died: %v, want ErrExited naming the action", err)
		}
		t.Logf("restore in flight: %v", err)
	case <-time.After(waitDeadline):
		t.Fatal("restore in flight hangs after its plugin was killed")
	}
	f.events.wait(t, "fake", kits.KitRelaunched, 1)
	if res, err := rt.QuickCheck(context.Background(), request("web", nil)); err != nil || !res.OK() {
		t.Errorf("quickCheck after the crash: %+v, %v", res, err)
	}
}

func TestBackoff(t *testing.T) {
	clock := newFakeClock()
	f := newFixture(t, kits.Config{
		Clock:       clock.Now,
		StableAfter: time.Minute,
		Backoff: func(n int) time.Duration {
			if n <= 1 {
				return 0
			}
			return time.Duration(n) * time.Hour
		},
	})
	f.enable(t, pin(t, "fake", binFake))
	rt, _ := f.m.Type("fake")
	ctx := context.Background()
	t0 := clock.Now()

	// First crash: relaunched at once.
	kill(t, f.status(t, "fake").Pid)
	f.events.wait(t, "fake", kits.KitRelaunched, 1)

	// Second crash with no time passed: backoff of 2h.
	kill(t, f.status(t, "fake").Pid)
	crash := f.events.wait(t, "fake", kits.KitCrashed, 2)
	if want := t0.Add(2 * time.Hour); !crash.NextTry.Equal(want) {
		t.Errorf("second crash: next try %s, want %s", crash.NextTry, want)
	}
	s := f.status(t, "fake")
	if s.Running || s.Pid != 0 || s.Failures != 2 || s.Launches != 2 || !s.NextTry.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("status while backing off: %+v", s)
	}
	_, err := rt.QuickCheck(ctx, request("app", nil))
	var be *kits.BackoffError
	if !errors.Is(err, kits.ErrBackingOff) || !errors.As(err, &be) || !be.Retry.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("quickCheck while backing off: %v, want a BackoffError with the retry time", err)
	}
	if !strings.Contains(err.Error(), "quickCheck app") || !strings.Contains(err.Error(), "next launch at 14:00:00.000 (in 2h0m0s)") ||
		!strings.Contains(err.Error(), "signal: killed") {
		t.Errorf("backoff error must name the action, when it retries and the last failure: %v", err)
	}
	t.Logf("while backing off: %v", err)
	if n := f.status(t, "fake").Launches; n != 2 {
		t.Errorf("a call while backing off launched a process (%d launches)", n)
	}

	// Once the backoff is over, the next call gets a fresh process.
	clock.Advance(2 * time.Hour)
	if res, err := rt.QuickCheck(ctx, request("app", nil)); err != nil || !res.OK() {
		t.Fatalf("quickCheck after the backoff: %+v, %v", res, err)
	}
	if s := f.status(t, "fake"); !s.Running || s.Launches != 3 || s.Failures != 2 {
		t.Errorf("status after the backoff: %+v", s)
	}

	// A crash of a process that ran StableAfter counts as a first one
	// again: relaunched at once.
	clock.Advance(time.Minute)
	kill(t, f.status(t, "fake").Pid)
	crash = f.events.wait(t, "fake", kits.KitCrashed, 3)
	if !crash.NextTry.Equal(clock.Now()) {
		t.Errorf("crash after a stable run: next try %s, want now (%s)", crash.NextTry, clock.Now())
	}
	f.events.wait(t, "fake", kits.KitRelaunched, 3)
	if s := f.status(t, "fake"); !s.Running || s.Launches != 4 || s.Failures != 1 {
		t.Errorf("status after a stable run's crash: %+v", s)
	}
}

func TestDefaultBackoff(t *testing.T) {
	want := map[int]time.Duration{
		0: 0, 1: 0, 2: time.Second, 3: 2 * time.Second, 4: 4 * time.Second, 5: 8 * time.Second,
		6: 16 * time.Second, 7: 30 * time.Second, 8: 30 * time.Second, 100: 30 * time.Second,
	}
	for n, d := range want {
		if got := kits.DefaultBackoff(n); got != d {
			t.Errorf("DefaultBackoff(%d) = %s, want %s", n, got, d)
		}
	}
}

func TestRelaunchChecksPin(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "ark-fake")
	copyFile(t, binFake, bin)
	f := newFixture(t, kits.Config{})
	k := pin(t, "fake", bin)
	f.enable(t, k)

	// The binary is replaced while the plugin runs; then the plugin dies.
	copyFile(t, binFlagfile, bin)
	kill(t, f.status(t, "fake").Pid)
	ev := f.events.wait(t, "fake", kits.KitLaunchFailed, 1)
	if !errors.Is(ev.Err, plugins.ErrChecksumMismatch) || !strings.Contains(ev.Err.Error(), k.SHA256) {
		t.Fatalf("relaunch of a replaced binary: %v, want a checksum mismatch naming the pin", ev.Err)
	}
	t.Logf("relaunch of a replaced binary: %v", ev.Err)
	if s := f.status(t, "fake"); s.Running || !strings.Contains(s.LastError, k.SHA256) || s.NextTry.IsZero() {
		t.Errorf("status after the refused relaunch: %+v", s)
	}
	if pids := processesOf(bin); len(pids) != 0 {
		t.Errorf("the replaced binary runs: pids %v", pids)
	}

	// The pinned binary is back: the background relaunch picks it up.
	copyFile(t, binFake, bin)
	re := f.events.wait(t, "fake", kits.KitRelaunched, 1)
	if s := f.status(t, "fake"); !s.Running || s.Pid != re.Pid {
		t.Errorf("status after the binary came back: %+v", s)
	}
}

func TestRelaunchChecksInfo(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "ark-testark")
	copyFile(t, binTestark, bin)
	setParams := func(p string) {
		if err := os.WriteFile(bin+".params", []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	setParams("a,b")
	f := newFixture(t, kits.Config{Backoff: func(n int) time.Duration { return 0 }})
	f.enable(t, pin(t, "testark", bin))
	if s, _ := f.m.Schema("testark"); len(s.Params) != 2 {
		t.Fatalf("schema %+v, want params a and b", s)
	}

	// Same binary, same pin, but the plugin now describes other params.
	setParams("a,b,c")
	kill(t, f.status(t, "testark").Pid)
	ev := f.events.wait(t, "testark", kits.KitChanged, 1)
	if !errors.Is(ev.Err, kits.ErrInfoChanged) || !strings.Contains(ev.Err.Error(), `param "c" added`) {
		t.Fatalf("changed event: %+v, want ErrInfoChanged naming the params", ev)
	}
	t.Logf("relaunch with another schema: %v", ev.Err)
	if line, ok := f.log.find("ERROR", "changed under the daemon"); !ok {
		t.Error("the change was not logged as an error")
	} else {
		t.Logf("logged: %s", line)
	}
	rt, _ := f.m.Type("testark")
	if _, err := rt.QuickCheck(context.Background(), request("x", nil)); err == nil {
		t.Error("a call to a plugin whose schema changed succeeded")
	}
	if s, _ := f.m.Schema("testark"); len(s.Params) != 2 {
		t.Errorf("the cached schema changed: %+v", s)
	}

	setParams("a,b")
	f.events.wait(t, "testark", kits.KitRelaunched, 1)
	if res, err := rt.QuickCheck(context.Background(), request("x", nil)); err != nil || !res.OK() {
		t.Errorf("quickCheck once the schema is back: %+v, %v", res, err)
	}
}

func TestDisable(t *testing.T) {
	f := newFixture(t, kits.Config{})
	f.enable(t, pin(t, "fake", binFake))
	f.enable(t, pin(t, "flagfile", binFlagfile))
	rt, _ := f.m.Type("fake")
	pid := f.status(t, "fake").Pid

	ctx, cancel := context.WithTimeout(context.Background(), waitDeadline)
	defer cancel()
	if err := f.m.Disable(ctx, "fake"); err != nil {
		t.Fatalf("disable: %v", err)
	}
	if alive(pid) {
		t.Errorf("plugin %d still running after Disable", pid)
	}
	ev := f.events.wait(t, "fake", kits.KitExited, 1)
	if ev.Pid != pid || ev.Status == "" {
		t.Errorf("exited event %+v", ev)
	}
	f.events.wait(t, "fake", kits.KitDisabled, 1)
	if n := f.events.count("fake", kits.KitCrashed); n != 0 {
		t.Errorf("a disabled plugin was reported crashed %d times", n)
	}
	if _, ok := f.m.Type("fake"); ok {
		t.Error("Type(fake) found after Disable")
	}
	if _, ok := f.m.Schema("fake"); ok {
		t.Error("Schema(fake) found after Disable")
	}
	if _, err := rt.QuickCheck(context.Background(), request("app", nil)); !errors.Is(err, kits.ErrDisabled) {
		t.Errorf("call through a disabled kit's type: %v, want ErrDisabled", err)
	}
	if f.pidRecord("fake") != 0 {
		t.Error("pid record left after Disable")
	}
	if l := f.m.List(); len(l) != 1 || l[0].Kit.Name != "flagfile" || !l[0].Running {
		t.Errorf("List() after Disable = %+v", l)
	}
	if err := f.m.Disable(ctx, "fake"); !errors.Is(err, kits.ErrNotEnabled) {
		t.Errorf("disable twice: %v, want ErrNotEnabled", err)
	}
	// It can be enabled again.
	f.enable(t, pin(t, "fake", binFake))
	if s := f.status(t, "fake"); !s.Running || s.Launches != 1 {
		t.Errorf("status after enabling again: %+v", s)
	}
}

func TestStop(t *testing.T) {
	f := newFixture(t, kits.Config{})
	f.enable(t, pin(t, "fake", binFake))
	f.enable(t, pin(t, "flagfile", binFlagfile))
	rt, _ := f.m.Type("fake")
	var pids []int
	for _, s := range f.m.List() {
		pids = append(pids, s.Pid)
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitDeadline)
	defer cancel()
	if err := f.m.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("plugin %d still running after Stop", pid)
		}
	}
	// Stop returns after the events were delivered.
	if f.events.count("fake", kits.KitExited) != 1 || f.events.count("flagfile", kits.KitExited) != 1 {
		t.Errorf("events after Stop: %+v", f.events.all())
	}
	if _, err := f.m.Enable(ctx, pin(t, "fake", binFake)); !errors.Is(err, kits.ErrStopped) {
		t.Errorf("enable after Stop: %v, want ErrStopped", err)
	}
	if _, ok := f.m.Type("fake"); ok {
		t.Error("Type after Stop")
	}
	if _, err := rt.QuickCheck(ctx, request("app", nil)); !errors.Is(err, kits.ErrStopped) {
		t.Errorf("call after Stop: %v, want ErrStopped", err)
	}
	if recs := f.records(); len(recs) != 0 {
		t.Errorf("pid records left after Stop: %v", recs)
	}
	if len(f.m.List()) != 0 {
		t.Errorf("List after Stop: %+v", f.m.List())
	}
	if err := f.m.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestStateDirLocked(t *testing.T) {
	state := t.TempDir()
	m1, err := kits.New(kits.Config{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kits.New(kits.Config{StateDir: state}); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second manager on the same state dir: %v, want a lock error", err)
	}
	if err := m1.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	m2, err := kits.New(kits.Config{StateDir: state})
	if err != nil {
		t.Fatalf("manager after the first stopped: %v", err)
	}
	_ = m2.Stop(context.Background())
	if _, err := kits.New(kits.Config{}); err == nil {
		t.Error("New without StateDir succeeded")
	}
}

// A plugin that stops answering is killed by the Supervisor after a call
// misses its deadline, and the manager relaunches it like a crashed one.
func TestFrozenPluginReplaced(t *testing.T) {
	f := newFixture(t, kits.Config{})
	f.enable(t, pin(t, "fake", binFake))
	rt, _ := f.m.Type("fake")
	pid := f.status(t, "fake").Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	eventually(t, "the plugin to be stopped", func() bool { return procState(pid) == "T" })

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := rt.QuickCheck(ctx, request("app", nil)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("quickCheck of a frozen plugin: %v, want a deadline error", err)
	}
	crash := f.events.wait(t, "fake", kits.KitCrashed, 1)
	if crash.Pid != pid || crash.Status != "signal: killed" {
		t.Errorf("crash event of the frozen plugin: %+v", crash)
	}
	f.events.wait(t, "fake", kits.KitRelaunched, 1)
	if res, err := rt.QuickCheck(context.Background(), request("app", nil)); err != nil || !res.OK() {
		t.Errorf("quickCheck after the freeze: %+v, %v", res, err)
	}
}
