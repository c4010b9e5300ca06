package plugins_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ark-ha/ark/plugins"
	"github.com/ark-ha/ark/sdk/ark"
)

// records is a slog handler keeping what the host logged.
type records struct {
	mu   sync.Mutex
	msgs []string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *records) WithGroup(string) slog.Handler            { return r }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Level.String()+" "+rec.Message)
	return nil
}

func (r *records) has(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// eventually waits for cond, failing the test after a generous deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func launch(t *testing.T, cfg plugins.LaunchConfig) *plugins.Plugin {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = testPlugin(t)
	}
	p, err := plugins.Launch(context.Background(), cfg)
	if err != nil {
		t.Fatalf("launch: %v", err)
	}
	t.Cleanup(p.Kill)
	return p
}

func TestLaunchRoundTrip(t *testing.T) {
	rec := &records{}
	p := launch(t, plugins.LaunchConfig{Logger: slog.New(rec)})
	rt := p.ResourceType()
	ctx := context.Background()

	info, err := rt.Info(ctx)
	if err != nil || info.Type != "fake" || !info.Supports(ark.QuickCheck) {
		t.Fatalf("info: %+v, %v", info, err)
	}
	l := &logs{}
	res, err := rt.Restore(ctx, request("app", map[string]string{
		"logs": "2", "ask_state": "db", "stderr": "hello from stderr", "slog": "hello from slog",
	}, l))
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if res.Message != "state of db is ISP" {
		t.Errorf("host-services state through a real process: message %q", res.Message)
	}
	if got := strings.Join(l.messages(), "|"); got != "line 1|line 2" {
		t.Errorf("streamed log lines: %q", got)
	}
	// The plugin's stderr and its slog lines reach the host's logger.
	eventually(t, "plugin stderr in the host log", func() bool { return rec.has("hello from stderr") })
	eventually(t, "plugin slog line in the host log at its level", func() bool { return rec.has("WARN hello from slog") })

	err = rt.Validate(ctx, map[string]string{"logs": "many"})
	if !errors.Is(err, ark.ErrMisconfigured) || !strings.Contains(err.Error(), `"logs"`) {
		t.Errorf("validate error across a real process: %v", err)
	}
	_, err = rt.Remove(ctx, request("app", map[string]string{"fail": "not-installed"}, nil))
	if !errors.Is(err, ark.ErrNotInstalled) || err.Error() != "remove app failed on purpose (not-installed)" {
		t.Errorf("remove error across a real process: %v", err)
	}
}

func TestLaunchChecksum(t *testing.T) {
	bin := testPlugin(t)
	sum, err := plugins.FileSHA256(bin)
	if err != nil {
		t.Fatal(err)
	}
	wrong := strings.Repeat("ab", 32)
	_, err = plugins.Launch(context.Background(), plugins.LaunchConfig{Path: bin, SHA256: wrong})
	if !errors.Is(err, plugins.ErrChecksumMismatch) {
		t.Fatalf("launch with a wrong pin: %v, want ErrChecksumMismatch", err)
	}
	t.Logf("launch with a wrong pin: %v", err)
	if !strings.Contains(err.Error(), wrong) || !strings.Contains(err.Error(), sum) || !strings.Contains(err.Error(), bin) {
		t.Errorf("mismatch error must name the binary and both hashes: %v", err)
	}
	if _, err := plugins.Launch(context.Background(), plugins.LaunchConfig{Path: bin, SHA256: "xyz"}); err == nil {
		t.Errorf("launch with a malformed pin succeeded")
	}
	p := launch(t, plugins.LaunchConfig{Path: bin, SHA256: strings.ToUpper(sum)})
	if _, err := p.ResourceType().Info(context.Background()); err != nil {
		t.Errorf("info of a correctly pinned plugin: %v", err)
	}
}

func TestLaunchIgnoresSIGINT(t *testing.T) {
	p := launch(t, plugins.LaunchConfig{})
	if err := syscall.Kill(p.Pid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// SIGINT is delivered asynchronously: an action after it proves the
	// plugin kept running.
	if _, err := p.ResourceType().QuickCheck(ctx, request("app", map[string]string{"sleep": "50ms"}, nil)); err != nil {
		t.Fatalf("quickCheck after SIGINT: %v", err)
	}
	if p.Exited() {
		t.Fatalf("plugin exited on SIGINT (%s)", p.ExitStatus())
	}
}

func TestStop(t *testing.T) {
	p := launch(t, plugins.LaunchConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if !p.Exited() {
		t.Fatal("plugin still running after Stop")
	}
	if _, err := p.ResourceType().Info(context.Background()); err == nil {
		t.Error("info on a stopped plugin succeeded")
	}
}

// waitRunning returns a Log function and a channel closed at the first
// line the action logs: proof that the action is running in the plugin.
func waitRunning() (func(ark.LogLine), <-chan struct{}) {
	ch := make(chan struct{})
	var once sync.Once
	return func(ark.LogLine) { once.Do(func() { close(ch) }) }, ch
}

func TestKilledMidAction(t *testing.T) {
	bin := testPlugin(t)
	s := plugins.NewSupervisor(plugins.LaunchConfig{Path: bin})
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	ctx := context.Background()
	p, err := s.Plugin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pid := p.Pid()

	req := request("web-ip", map[string]string{"sleep": "1h"}, nil)
	var running <-chan struct{}
	req.Log, running = waitRunning()
	errc := make(chan error, 1)
	go func() {
		_, err := s.Restore(ctx, req)
		errc <- err
	}()
	<-running
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = <-errc
	if !errors.Is(err, plugins.ErrExited) {
		t.Fatalf("restore when the plugin died: %v, want ErrExited", err)
	}
	t.Logf("restore when the plugin died: %v", err)
	want := "restore web-ip: plugin " + bin + " exited (signal: killed)"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q\nmust start with %q", err, want)
	}

	// The next call gets a fresh process.
	res, err := s.QuickCheck(ctx, request("web-ip", nil, nil))
	if err != nil || !res.OK() {
		t.Fatalf("quickCheck after the crash: %+v, %v", res, err)
	}
	p2, _ := s.Plugin(ctx)
	if p2.Pid() == pid || s.Launches() != 2 {
		t.Errorf("after a crash: pid %d (was %d), %d launches; want a second process", p2.Pid(), pid, s.Launches())
	}
}

func TestCrashExitStatus(t *testing.T) {
	p := launch(t, plugins.LaunchConfig{})
	_, err := p.ResourceType().Remove(context.Background(), request("db", map[string]string{"crash": "true"}, nil))
	if !errors.Is(err, plugins.ErrExited) || !strings.Contains(err.Error(), "remove db: plugin ") ||
		!strings.Contains(err.Error(), "exited (exit status 3)") {
		t.Fatalf("remove that crashed the plugin: %v", err)
	}
	if !p.Exited() {
		t.Error("Exited() is false after the crash")
	}
}

func TestFrozenPlugin(t *testing.T) {
	s := plugins.NewSupervisor(plugins.LaunchConfig{
		Path:   testPlugin(t),
		Client: plugins.ClientOptions{CallTimeout: 300 * time.Millisecond, PingTimeout: 300 * time.Millisecond},
	})
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	ctx := context.Background()
	p, err := s.Plugin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(p.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(p.Pid(), syscall.SIGKILL) })
	eventually(t, "the plugin to be stopped", func() bool { return processState(p.Pid()) == "T" })

	if err := p.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ping of a frozen plugin: %v, want a deadline error", err)
	}
	// No ctx deadline: the client's default call deadline applies.
	if _, err := p.ResourceType().Info(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("info of a frozen plugin: %v, want a deadline error", err)
	}
	actx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	_, err = s.QuickCheck(actx, request("web-ip", nil, nil))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "quickCheck web-ip: plugin ") {
		t.Fatalf("quickCheck of a frozen plugin: %v, want a deadline error naming action and plugin", err)
	}
	t.Logf("quickCheck of a frozen plugin: %v", err)
	// The supervisor found it unresponsive and replaced it.
	res, err := s.QuickCheck(ctx, request("web-ip", nil, nil))
	if err != nil || !res.OK() {
		t.Fatalf("quickCheck after the freeze: %+v, %v", res, err)
	}
	if s.Launches() != 2 || !p.Exited() {
		t.Errorf("after a freeze: %d launches, old exited=%v; want the frozen one killed and a new one", s.Launches(), p.Exited())
	}
}

// processState returns the state letter of /proc/PID/stat ("R", "S",
// "T" for stopped, ...), or "" when it cannot be read.
func processState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// pid (comm) state ...: comm may hold spaces, so cut after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+3 > len(s) {
		return ""
	}
	return s[i+2 : i+3]
}

func TestLaunchEnvAndMissingBinary(t *testing.T) {
	if _, err := plugins.Launch(context.Background(), plugins.LaunchConfig{Path: "/nonexistent/ark-plugin"}); err == nil ||
		!strings.Contains(err.Error(), "/nonexistent/ark-plugin") {
		t.Errorf("launch of a missing binary: %v", err)
	}
	// A binary that is not a plugin fails the handshake.
	sh, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1)")
	}
	_, err = plugins.Launch(context.Background(), plugins.LaunchConfig{Path: sh, StartTimeout: 5 * time.Second})
	if err == nil || !strings.Contains(err.Error(), sh) {
		t.Errorf("launch of a non-plugin: %v", err)
	}
}

func BenchmarkActionRoundTrip(b *testing.B) {
	p, err := plugins.Launch(context.Background(), plugins.LaunchConfig{Path: testPlugin(b), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Kill()
	rt := p.ResourceType()
	req := request("web-ip", map[string]string{"logs": "1"}, nil)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := rt.QuickCheck(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPluginStart(b *testing.B) {
	bin := testPlugin(b)
	ctx := context.Background()
	for b.Loop() {
		p, err := plugins.Launch(ctx, plugins.LaunchConfig{Path: bin, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.ResourceType().Info(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		p.Kill()
		b.StartTimer()
	}
}
