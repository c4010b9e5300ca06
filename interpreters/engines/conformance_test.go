package engines

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
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

// The conformance suite: every scenario is a script per language in
// testdata/conformance/<scenario>.<ext>, run through interpreters.Execute
// with real processes, and checked against one language-independent
// expectation.
//
// Conventions for the scripts (see testdata/conformance/README):
//   - the log lines a script produces must be exactly the ones listed, in
//     order (lines with code "ark", Execute's own warnings, are ignored);
//   - a script expected to fail with a runtime error has the comment
//     ERROR-HERE on the line the error must be reported at;
//   - processes a script starts carry $MARKER in their argv[0] (bash's
//     exec -a), so that the test can find survivors in /proc.

// exts maps each language to the extension of its scenario files.
var exts = map[interpreters.Lang]string{
	interpreters.LangBash:       ".sh",
	interpreters.LangSystemBash: ".sh",
	interpreters.LangLua:        ".lua",
	interpreters.LangStarlark:   ".star",
}

const conformanceDir = "testdata/conformance"

// line is an expected log line.
type line struct {
	level slog.Level
	code  string
	msg   string
}

func info(code, msg string) line { return line{slog.LevelInfo, code, msg} }

type scenario struct {
	name    string
	args    []string          // nil: defaultArgs
	env     map[string]string // added to defaultEnv
	timeout time.Duration     // 0: a generous default

	status   int
	logs     []line // exactly these, in order
	timedOut bool
	errLine  bool   // Err begins with path:N: where line N holds ERROR-HERE
	errHas   string // Err contains this; with neither, Err must be nil
	left     bool   // a $MARKER process is still running after Execute
	killed   int    // at least this many processes needed SIGKILL
}

var defaultArgs = []string{"-t", "web", "-i", "web-id"}

func defaultEnv(marker string) map[string]string {
	return map[string]string{
		"TAG": "web", "ID": "web-id", "ACTION": "restore", "RESOURCE_TYPE": "generic",
		"NODE": "node1", "CLUSTER": "c1", "PARAM_X": "42", "ARK_EVENT": "START",
		"PATH": interpreters.DefaultPath, "MARKER": marker,
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

var scenarios = []scenario{
	{name: "exit_0", status: 0},
	{name: "exit_1", status: 1},
	{name: "exit_3", status: 3, logs: []line{info("BEFORE", "exiting")}},
	{name: "fall_off_end", status: 0, logs: []line{info("END", "last line")}},
	{name: "exit_in_function", status: 7, logs: []line{info("BEFORE", "calling")}},
	{name: "env", logs: []line{
		info("ENV", "web web-id restore 42 START"),
		info("CMDENV", "web 42 START"),
		info("CMDHOME", "unset"), // the daemon's environment is not inherited
	}},
	{name: "args", args: []string{"-t", "web", "-i", "web id"}, logs: []line{
		info("ARGC", "4"),
		info("ARG", "-t"), info("ARG", "web"), info("ARG", "-i"), info("ARG", "web id"),
	}},
	{name: "print", logs: []line{
		info(interpreters.CodeStdout, "hello world"),
		info(interpreters.CodeStdout, "second line"),
	}},
	{name: "log_levels", logs: []line{
		{slog.LevelDebug, "L1", "debug message"},
		{slog.LevelInfo, "L2", "info message"},
		{slog.LevelWarn, "L3", "warn message"},
		{slog.LevelError, "L4", "error message"},
		{slog.LevelDebug, "L5", "plain debug"},
		{slog.LevelInfo, "L6", "plain info"},
		{slog.LevelWarn, "L7", "plain warn"},
		{slog.LevelError, "L8", "plain error"},
	}},
	{name: "log_bad_level", status: 1, errLine: true, errHas: "unknown log level",
		logs: []line{info("BEFORE", "bad level next")}},
	{name: "logcmd", logs: []line{
		{slog.LevelWarn, "CMD", "one"},
		{slog.LevelWarn, "CMD", "two"},
		info("STATUS", "3"),
		{slog.LevelError, "OK", "fine"},
		info("STATUS", "0"),
	}},
	{name: "run", logs: []line{
		info("STATUS", "5"), info("STDOUT", "out"), info("STDERR", "err"),
		info("STATUS", "7"),
	}},
	{name: "run_missing", logs: []line{
		info("STATUS", "127"), info("STATUS", "127"),
	}},
	{name: "state", logs: []line{info("STATE", "ISP"), info("STATE", "OSU")}},
	{name: "state_error", status: 1, errLine: true, errHas: `no resource "nope"`},
	{name: "retry_success", logs: []line{
		info("TRY", "1"), info("TRY", "2"), info("TRY", "3"), info("RESULT", "ok"),
	}},
	{name: "retry_fail", logs: []line{
		info("TRY", "1"), info("TRY", "2"), info("TRY", "3"), info("RESULT", "failed"),
	}},
	{name: "sleep", logs: []line{info("SLEPT", "yes")}},
	{name: "sleep_deadline", timeout: time.Second, status: interpreters.StatusTimedOut, timedOut: true,
		logs: []line{info("BEFORE", "sleeping")}},
	{name: "runtime_error", status: 1, errLine: true, logs: []line{info("BEFORE", "calling")}},
	{name: "busy_loop", timeout: time.Second, status: interpreters.StatusTimedOut, timedOut: true,
		logs: []line{info("BEFORE", "looping")}},
	{name: "kill_tree", timeout: time.Second, status: interpreters.StatusTimedOut, timedOut: true, killed: 2,
		logs: []line{info("BEFORE", "starting")}},
	{name: "left_running", left: true, logs: []line{info("STARTED", "0")}},
}

// conformanceFile returns the scenario's script for lang.
func conformanceFile(name string, lang interpreters.Lang) string {
	return filepath.Join(conformanceDir, name+exts[lang])
}

// TestConformanceComplete fails when a scenario lacks a script in a
// registered language, or a script has no scenario. (The bash scripts
// become required as soon as the bash engine is registered.)
func TestConformanceComplete(t *testing.T) {
	known := map[string]bool{}
	for _, sc := range scenarios {
		known[sc.name] = true
		for _, lang := range Langs() {
			if _, err := os.Stat(conformanceFile(sc.name, lang)); err != nil {
				t.Errorf("scenario %s has no %s script: %v", sc.name, lang, err)
			}
		}
	}
	ents, err := os.ReadDir(conformanceDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		name, ext, _ := strings.Cut(e.Name(), ".")
		if e.IsDir() || ext == "" || strings.HasPrefix(e.Name(), "README") {
			continue
		}
		if !known[name] {
			t.Errorf("%s: no scenario %q in the table of conformance_test.go", e.Name(), name)
		}
	}
}

// modes are the containments the suite runs under: process groups
// always, a cgroup too when this host can make one.
func modes() map[string]string {
	m := map[string]string{"pgroup": ""}
	if p := cgroupParent(); p != "" {
		m["cgroup"] = p
	}
	return m
}

// cgroupParent returns where this process can make cgroups, "" if it
// cannot. proc.DefaultParent alone is not enough: it accepts an existing
// parent that a non-root user cannot write to.
func cgroupParent() string {
	p := proc.DefaultParent()
	if p == "" {
		return ""
	}
	g, err := proc.New(proc.Options{CgroupParent: p, Name: fmt.Sprintf("probe-%d", os.Getpid())})
	if err != nil {
		return ""
	}
	g.Close()
	return p
}

func TestConformance(t *testing.T) {
	for _, lang := range Langs() {
		eng, err := For(lang)
		if err != nil {
			t.Fatal(err)
		}
		for mode, parent := range modes() {
			for _, sc := range scenarios {
				t.Run(fmt.Sprintf("%s/%s/%s", lang, mode, sc.name), func(t *testing.T) {
					t.Parallel()
					path := conformanceFile(sc.name, lang)
					if _, err := os.Stat(path); err != nil {
						t.Fatalf("no %s script for scenario %s (TestConformanceComplete)", lang, sc.name)
					}
					runScenario(t, eng, path, mode, parent, sc)
				})
			}
		}
	}
}

func runScenario(t *testing.T, eng interpreters.Engine, path, mode, cgParent string, sc scenario) {
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := interpreters.Load(abs)
	if err != nil {
		t.Fatal(err)
	}
	if s.Lang != eng.Lang() && !(eng.Lang() == interpreters.LangSystemBash && s.Lang == interpreters.LangBash) {
		t.Fatalf("%s is detected as %s, engine runs %s", path, s.Lang, eng.Lang())
	}
	if _, err := eng.Check(s); err != nil {
		t.Fatalf("Check: %v", err)
	}

	marker := fmt.Sprintf("ark-conformance-%d-%s-%s-%s", os.Getpid(), eng.Lang(), mode, sc.name)
	env := defaultEnv(marker)
	for k, v := range sc.env {
		env[k] = v
	}
	args := sc.args
	if args == nil {
		args = defaultArgs
	}
	var logs logSink
	inv := &interpreters.Invocation{Args: args, Env: env, Log: logs.add, Host: testHost}
	opts := interpreters.Options{Timeout: sc.timeout, Grace: 500 * time.Millisecond}
	if opts.Timeout == 0 {
		opts.Timeout = time.Minute
	}
	if cgParent != "" {
		opts.Containment = proc.Options{CgroupParent: cgParent, Name: marker}
	}
	t.Cleanup(func() { cleanup(t, marker, cgParent) })

	res := interpreters.Execute(context.Background(), eng, s, inv, opts)

	if cgParent != "" && !strings.HasPrefix(res.Containment, "cgroup ") {
		t.Errorf("containment = %q, want a cgroup", res.Containment)
	}
	if res.Status != sc.status {
		t.Errorf("status = %d, want %d (err: %v)", res.Status, sc.status, res.Err)
	}
	if res.TimedOut != sc.timedOut {
		t.Errorf("timed out = %v, want %v (err: %v)", res.TimedOut, sc.timedOut, res.Err)
	}
	if res.Stuck {
		t.Errorf("the engine did not return after the grace period")
	}
	switch {
	case sc.errLine || sc.errHas != "":
		if res.Err == nil {
			t.Fatalf("no error, want one")
		}
		if sc.errLine {
			n := errorHere(t, abs)
			if prefix := fmt.Sprintf("%s:%d:", abs, n); !strings.HasPrefix(res.Err.Error(), prefix) {
				t.Errorf("error %q does not begin with %q", res.Err, prefix)
			}
		}
		if !strings.Contains(res.Err.Error(), sc.errHas) {
			t.Errorf("error %q does not contain %q", res.Err, sc.errHas)
		}
	case sc.timedOut:
		if res.Err == nil {
			t.Errorf("no error for a timeout")
		}
	default:
		if res.Err != nil {
			t.Errorf("unexpected error: %v", res.Err)
		}
	}
	if got := logs.script(); !slices.Equal(got, sc.logs) {
		t.Errorf("log lines:\n got  %s\n want %s", fmtLines(got), fmtLines(sc.logs))
	}
	if len(res.Killed) < sc.killed {
		t.Errorf("killed = %v, want at least %d processes that ignored SIGTERM", res.Killed, sc.killed)
	}
	if len(res.Survivors) > 0 {
		t.Errorf("survivors = %v", res.Survivors)
	}

	if sc.left {
		pids := waitFor(t, "a process marked "+marker, func() []int {
			if p := markedPids(marker); len(p) > 0 {
				return p
			}
			return nil
		})
		for _, p := range pids {
			if !slices.Contains(res.Left, p) {
				t.Errorf("pid %d (%s) is running but not in Result.Left %v", p, marker, res.Left)
			}
		}
	} else {
		waitFor(t, "no process marked "+marker, func() []int {
			if p := markedPids(marker); len(p) == 0 {
				return []int{}
			}
			return nil
		})
		if len(res.Left) > 0 && !sc.timedOut {
			t.Errorf("Result.Left = %v, want none", res.Left)
		}
	}
}

// errorHere returns the number of the line of path that holds ERROR-HERE.
func errorHere(t *testing.T, path string) int {
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(src), "\n") {
		if strings.Contains(l, "ERROR-HERE") {
			return i + 1
		}
	}
	t.Fatalf("%s has no ERROR-HERE line", path)
	return 0
}

// waitFor polls cond until it returns non-nil, for up to 10 s.
func waitFor(t *testing.T, what string, cond func() []int) []int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if v := cond(); v != nil {
			return v
		}
		if time.Now().After(deadline) {
			t.Errorf("gave up waiting for %s", what)
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// markedPids lists the live processes whose command line contains marker.
func markedPids(marker string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), marker) {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			if i := strings.LastIndexByte(string(st), ')'); i > 0 && i+2 < len(st) && st[i+2] == 'Z' {
				continue
			}
		}
		out = append(out, pid)
	}
	return out
}

// cleanup kills what a scenario left running (only processes carrying
// its unique marker) and removes its cgroup.
func cleanup(t *testing.T, marker, cgParent string) {
	for _, p := range markedPids(marker) {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	waitFor(t, "marked processes to die", func() []int {
		if len(markedPids(marker)) == 0 {
			return []int{}
		}
		return nil
	})
	if cgParent != "" {
		dir := filepath.Join(cgParent, marker)
		for range 100 {
			if err := os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("cgroup %s left behind", dir)
	}
}

// logSink collects the log lines of one Execute.
type logSink struct {
	mu    sync.Mutex
	lines []ark.LogLine
}

func (s *logSink) add(l ark.LogLine) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, l)
}

// script returns the lines of the script, without Execute's own.
func (s *logSink) script() []line {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []line
	for _, l := range s.lines {
		if l.Code != "ark" {
			out = append(out, line{l.Level, l.Code, l.Message})
		}
	}
	return out
}

func fmtLines(ls []line) string {
	var b strings.Builder
	b.WriteString("[")
	for i, l := range ls {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s %q", l.level, l.code, l.msg)
	}
	b.WriteString("]")
	return b.String()
}
