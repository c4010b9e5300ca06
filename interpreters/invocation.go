package interpreters

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ark-ha/ark/interpreters/proc"
	"github.com/ark-ha/ark/sdk/ark"
)

// Invocation is everything one run of a script sees: its arguments and
// environment, where its log lines go, the host callbacks, and the
// containment its processes start in. The builtins of every engine are
// methods of Invocation, so that they mean the same in every language.
type Invocation struct {
	// Args are the positional parameters ($1... in bash, arg in Lua,
	// argv in Starlark). GenericARK passes -t TAG -i ID.
	Args []string
	// Env is the whole environment of the script: the variables it reads
	// (bash variables, Lua env table, Starlark env dict) and the process
	// environment of every command it runs. The daemon's own environment
	// is not inherited.
	Env map[string]string
	// Dir is the working directory of the script's commands ("/" if empty).
	Dir string
	// Log receives log lines; must be safe for concurrent use. Required.
	Log func(ark.LogLine)
	// Host answers state(tag); nil answers an error.
	Host ark.Host

	// Set by Execute; engines use them and leave them alone.
	Stdout, Stderr *os.File    // pipes whose lines are logged
	Procs          *proc.Group // where commands start; nil: plain start
	// Grace is the time between SIGTERM and SIGKILL at the deadline:
	// once ctx is done, an engine may use up to Grace to run the
	// script's own cleanup (a bash TERM or EXIT trap) before it returns.
	// Zero means DefaultGrace.
	Grace time.Duration

	mu sync.Mutex // serialises Log for engines that call it from goroutines
}

// Output codes of log lines that come from a script's standard output and
// standard error rather than from log().
const (
	CodeStdout = "stdout"
	CodeStderr = "stderr"
)

// Logf sends one log line.
func (inv *Invocation) Logf(level slog.Level, code, format string, args ...any) {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.Log(ark.LogLine{Time: time.Now(), Level: level, Code: code, Message: msg})
}

// LogBuiltin is the log builtin: log LEVEL CODE MESSAGE. An unknown level
// is an error the engine reports as a script error.
func (inv *Invocation) LogBuiltin(level, code, msg string) error {
	l, err := ark.ParseLevel(level)
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	inv.Logf(l, code, "%s", msg)
	return nil
}

// Environ returns Env as a sorted KEY=VALUE list.
func (inv *Invocation) Environ() []string {
	out := make([]string, 0, len(inv.Env))
	for k, v := range inv.Env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// LookPath finds name on the script's PATH (not the daemon's).
func (inv *Invocation) LookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		if isExec(name) {
			return name, nil
		}
		return "", fmt.Errorf("%s: %w", name, exec.ErrNotFound)
	}
	path := inv.Env["PATH"]
	if path == "" {
		path = DefaultPath
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		if p := filepath.Join(dir, name); isExec(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: command not found", name)
}

// DefaultPath is the PATH of scripts whose environment sets none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// Command prepares argv to run with the script's environment and working
// directory, reading no input. Start it with StartCommand.
func (inv *Invocation) Command(argv []string) (*exec.Cmd, error) {
	if len(argv) == 0 {
		return nil, errors.New("no command given")
	}
	path, err := inv.LookPath(argv[0])
	if err != nil {
		return nil, err
	}
	cmd := &exec.Cmd{Path: path, Args: argv, Env: inv.Environ(), Dir: inv.Dir}
	if cmd.Dir == "" {
		cmd.Dir = "/"
	}
	// A daemon started by the command may hold our pipes open forever;
	// stop waiting for its output shortly after the command itself exits.
	cmd.WaitDelay = 500 * time.Millisecond
	return cmd, nil
}

// StartCommand starts cmd inside the action's containment.
func (inv *Invocation) StartCommand(cmd *exec.Cmd) error {
	if inv.Procs != nil {
		return inv.Procs.Start(cmd)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd.Start()
}

// Wait waits for a started command and returns its exit status (128+N
// when killed by signal N). When ctx is done first it returns ctx.Err()
// without waiting: the process is left to the containment, and reaped in
// the background.
func Wait(ctx context.Context, cmd *exec.Cmd) (int, error) {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return ExitStatus(err), nil
	case <-ctx.Done():
		return 1, ctx.Err()
	}
}

// ExitStatus turns the error of cmd.Wait into a shell-style exit status.
func ExitStatus(err error) int {
	if err == nil || errors.Is(err, exec.ErrWaitDelay) {
		// ErrWaitDelay: the command exited with status 0, but a process
		// it left behind (a daemon) still holds its output open.
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return 1
}

// RunResult is what the run builtin returns.
type RunResult struct {
	Status         int
	Stdout, Stderr string
}

// Run is the run builtin: it runs argv to completion and returns its exit
// status and output. A command that cannot be found gives status 127 and
// the reason on Stderr, like a shell.
func (inv *Invocation) Run(ctx context.Context, argv []string) (RunResult, error) {
	cmd, err := inv.Command(argv)
	if err != nil {
		return RunResult{Status: 127, Stderr: err.Error() + "\n"}, nil
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := inv.StartCommand(cmd); err != nil {
		return RunResult{Status: 126, Stderr: err.Error() + "\n"}, nil
	}
	st, err := Wait(ctx, cmd)
	if err != nil {
		// Not waited for: its output is still being copied into the buffers.
		return RunResult{Status: st}, err
	}
	return RunResult{Status: st, Stdout: out.String(), Stderr: errb.String()}, nil
}

// LogCmd is the logcmd builtin: it runs argv, logs each line of its
// output (stdout and stderr) at level with code as it comes, and returns
// its exit status.
func (inv *Invocation) LogCmd(ctx context.Context, level, code string, argv []string) (int, error) {
	l, err := ark.ParseLevel(level)
	if err != nil {
		return 2, fmt.Errorf("logcmd: %w", err)
	}
	cmd, err := inv.Command(argv)
	if err != nil {
		inv.Logf(l, code, "%v", err)
		return 127, nil
	}
	w := inv.LineWriter(l, code)
	defer w.Close()
	cmd.Stdout, cmd.Stderr = w, w
	if err := inv.StartCommand(cmd); err != nil {
		inv.Logf(l, code, "%v", err)
		return 126, nil
	}
	return Wait(ctx, cmd)
}

// Sleep is the sleep builtin: it returns ctx.Err() if the action's
// deadline comes first.
func (inv *Invocation) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// State is the state builtin: the state of resource tag as the host
// knows it (ISP, ISU, OSU, OSF, UNKNOWN).
func (inv *Invocation) State(ctx context.Context, tag string) (string, error) {
	if inv.Host == nil {
		return "", fmt.Errorf("state %s: no host to ask (not running under arkd)", tag)
	}
	s, err := inv.Host.State(ctx, tag)
	if err != nil {
		return "", fmt.Errorf("state %s: %w", tag, err)
	}
	return s, nil
}

// LineWriter returns a writer that logs each complete line written to it
// at level with code. Close flushes a last unterminated line.
func (inv *Invocation) LineWriter(level slog.Level, code string) io.WriteCloser {
	return &lineWriter{emit: func(s string) { inv.Logf(level, code, "%s", s) }}
}

type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	emit func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 { // a very long line: emit it in pieces
		w.emit(string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

func (w *lineWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(string(w.buf))
		w.buf = nil
	}
	return nil
}

// pipeLines starts a goroutine that logs the lines read from r; done is
// closed at EOF.
func pipeLines(r io.Reader, w io.WriteCloser) (done chan struct{}) {
	done = make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewReader(r)
		buf := make([]byte, 32<<10)
		for {
			n, err := sc.Read(buf)
			if n > 0 {
				_, _ = w.Write(buf[:n])
			}
			if err != nil {
				_ = w.Close()
				return
			}
		}
	}()
	return done
}
