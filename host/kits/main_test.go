//go:build linux

package kits_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ark-ha/ark/host/kits"
	"github.com/ark-ha/ark/host/model"
)

// Plugin binaries built once by TestMain.
var (
	binGeneric  string // builtin GenericARK, type "generic"
	binFlagfile string // examples/vendor-ark, type "flagfile"
	binFake     string // plugins/internal/testplugin, type "fake"
	binTestark  string // internal/testark, type "testark"
)

// Environment of the helper process that plays a daemon killed with
// SIGKILL (see runArkd).
const (
	envArkdState = "ARK_KITS_TEST_ARKD_STATE"
	envArkdKit   = "ARK_KITS_TEST_ARKD_KIT"
)

func TestMain(m *testing.M) {
	if os.Getenv(envArkdState) != "" {
		runArkd()
		return
	}
	dir, err := os.MkdirTemp("", "ark-kits-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := buildPlugins(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildPlugins(dir string) error {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("no go tool to build the test plugins: %w", err)
	}
	builds := []struct {
		out *string
		pkg string
	}{
		{&binGeneric, "github.com/ark-ha/ark/builtin-arks/generic"},
		{&binFlagfile, "github.com/ark-ha/ark/examples/vendor-ark"},
		{&binFake, "github.com/ark-ha/ark/plugins/internal/testplugin"},
		{&binTestark, "github.com/ark-ha/ark/host/kits/internal/testark"},
	}
	errs := make([]error, len(builds))
	var wg sync.WaitGroup
	for i, b := range builds {
		*b.out = filepath.Join(dir, "ark-"+filepath.Base(b.pkg))
		wg.Go(func() {
			out, err := exec.Command(gobin, "build", "-o", *b.out, b.pkg).CombinedOutput()
			if err != nil {
				errs[i] = fmt.Errorf("build %s: %v\n%s", b.pkg, err, out)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// runArkd plays a daemon: it enables the kit given in the environment,
// prints "pid N" (the plugin's pid) and waits to be killed.
func runArkd() {
	var k model.Kit
	if err := json.Unmarshal([]byte(os.Getenv(envArkdKit)), &k); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	m, err := kits.New(kits.Config{StateDir: os.Getenv(envArkdState), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	if _, err := m.Enable(context.Background(), k); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("pid", m.List()[0].Pid)
	for {
		time.Sleep(time.Hour)
	}
}

// logRecords is a slog handler keeping what the manager logged.
type logRecords struct {
	mu   sync.Mutex
	msgs []string
}

func (r *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecords) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecords) WithGroup(string) slog.Handler            { return r }
func (r *logRecords) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Level.String() + " " + rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, b.String())
	return nil
}

// find returns the first line holding every one of parts.
func (r *logRecords) find(parts ...string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
next:
	for _, m := range r.msgs {
		for _, p := range parts {
			if !strings.Contains(m, p) {
				continue next
			}
		}
		return m, true
	}
	return "", false
}

// eventLog collects the manager's events.
type eventLog struct {
	mu  sync.Mutex
	evs []kits.KitEvent
}

func (l *eventLog) add(ev kits.KitEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, ev)
}

func (l *eventLog) all() []kits.KitEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]kits.KitEvent(nil), l.evs...)
}

// wait returns the n-th (1-based) event of kind for kit, waiting for it.
func (l *eventLog) wait(t *testing.T, kit string, kind kits.EventKind, n int) kits.KitEvent {
	t.Helper()
	var ev kits.KitEvent
	eventually(t, fmt.Sprintf("event %d %s of kit %s", n, kind, kit), func() bool {
		seen := 0
		for _, e := range l.all() {
			if e.Kit == kit && e.Kind == kind {
				if seen++; seen == n {
					ev = e
					return true
				}
			}
		}
		return false
	})
	return ev
}

func (l *eventLog) count(kit string, kind kits.EventKind) int {
	n := 0
	for _, e := range l.all() {
		if e.Kit == kit && e.Kind == kind {
			n++
		}
	}
	return n
}

// waitDeadline bounds every wait of the tests: generous, so that a slow
// machine never fails them; only a hang does.
const waitDeadline = 30 * time.Second

// eventually waits for cond, failing the test after waitDeadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fakeClock is an injected Config.Clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixture is a Manager under test with its log and events.
type fixture struct {
	m      *kits.Manager
	log    *logRecords
	events *eventLog
	state  string
}

// newFixture returns a Manager whose log and events the test sees, stopped
// at the end of the test. cfg's Logger, OnEvent and (if empty) StateDir
// are set.
func newFixture(t *testing.T, cfg kits.Config) *fixture {
	t.Helper()
	f := &fixture{log: &logRecords{}, events: &eventLog{}}
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	f.state = cfg.StateDir
	cfg.Logger = slog.New(f.log)
	cfg.OnEvent = f.events.add
	m, err := kits.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.m = m
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitDeadline)
		defer cancel()
		if err := m.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return f
}

// pin pins the binary at path as kit name.
func pin(t *testing.T, name, path string) model.Kit {
	t.Helper()
	k, err := kits.PinKit(name, path)
	if err != nil {
		t.Fatalf("pin %s: %v", name, err)
	}
	return k
}

// enable enables kit k, failing the test on error.
func (f *fixture) enable(t *testing.T, k model.Kit) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitDeadline)
	defer cancel()
	if _, err := f.m.Enable(ctx, k); err != nil {
		t.Fatalf("enable %s: %v", k.Name, err)
	}
}

// status returns the status of kit name.
func (f *fixture) status(t *testing.T, name string) kits.Status {
	t.Helper()
	for _, s := range f.m.List() {
		if s.Kit.Name == name {
			return s
		}
	}
	t.Fatalf("kit %s not listed", name)
	return kits.Status{}
}

// pidRecord returns the pid in kit name's record, 0 if it has none.
func (f *fixture) pidRecord(name string) int {
	b, err := os.ReadFile(filepath.Join(f.state, "plugins", name+".pid"))
	if err != nil {
		return 0
	}
	var rec struct{ Pid int }
	if json.Unmarshal(b, &rec) != nil {
		return 0
	}
	return rec.Pid
}

// records returns the names of the files in the records directory but
// its lock.
func (f *fixture) records() []string {
	ents, _ := os.ReadDir(filepath.Join(f.state, "plugins"))
	var names []string
	for _, e := range ents {
		if e.Name() != ".lock" {
			names = append(names, e.Name())
		}
	}
	return names
}

// procState returns the state letter of process pid ("" if gone).
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// alive reports whether process pid exists and has not exited (a zombie
// waiting for its parent counts as gone).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+3 > len(s) {
		return false
	}
	st := s[i+2 : i+3]
	return st != "Z" && st != "X"
}

// processesOf returns the live processes running the binary at path.
func processesOf(path string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && exe == path && alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// copyFile copies src to dst with mode 0755, atomically (a running binary
// cannot be written in place).
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}
