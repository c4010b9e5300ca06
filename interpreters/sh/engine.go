package sh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"time"

	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"

	"github.com/ark-ha/ark/interpreters"
)

// New returns the in-process bash engine (LangBash), on mvdan.cc/sh. It is
// stateless and safe for concurrent use.
func New() interpreters.Engine { return engine{} }

type engine struct{}

var _ interpreters.Engine = engine{}

// Lang returns LangBash.
func (engine) Lang() interpreters.Lang { return interpreters.LangBash }

// Check parses s as bash and reports, as findings, the constructs the
// in-process engine cannot run with bash's meaning (see the package
// documentation). A syntax error is returned as file:line:col: message.
func (engine) Check(s *interpreters.Script) ([]interpreters.Finding, error) {
	f, err := parse(s)
	if err != nil {
		return nil, err
	}
	return check(s.Path, f), nil
}

// parse parses s as bash. A syntax error reads file:line:col: message.
func parse(s *interpreters.Script) (*syntax.File, error) {
	// A syntax.ParseError reads file:line:col: message already.
	return syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(bytes.NewReader(s.Source), s.Path)
}

// trapMargin is kept from the grace period when the engine runs the
// script's traps at the deadline, so that it returns before Execute gives
// up on it.
func trapMargin(grace time.Duration) time.Duration { return min(grace/10, 250*time.Millisecond) }

// Run runs s in-process. See the package documentation for the bash
// semantics; it returns soon after ctx is done, having run the script's
// TERM and EXIT traps within inv.Grace.
func (engine) Run(ctx context.Context, s *interpreters.Script, inv *interpreters.Invocation) interpreters.Outcome {
	f, err := parse(s)
	if err != nil {
		return interpreters.Outcome{Status: 2, Err: err}
	}
	st := newRun(inv, s.Path, rewrite(f))
	mainCtx, stopMain := context.WithCancelCause(ctx)
	defer stopMain(nil)
	st.stopMain = stopMain

	var stdout io.Writer // nil discards
	if inv.Stdout != nil {
		stdout = inv.Stdout
	}
	stderr := &diagWriter{w: stderrOf(inv), ctx: mainCtx}
	dir := inv.Dir
	if dir == "" {
		dir = "/"
	}
	r, err := interp.New(
		interp.Env(newScriptEnv(inv.Environ(), time.Now())),
		interp.Dir(dir),
		interp.Params(append([]string{"--"}, inv.Args...)...),
		interp.StdIO(nil, stdout, stderr),
		interp.CallHandler(st.call),
		interp.OpenHandler(st.open),
		interp.ExecHandlers(st.execHandler),
	)
	if err != nil {
		return interpreters.Outcome{Status: 1, Err: fmt.Errorf("%s: start the interpreter: %w", s.Path, err)}
	}

	err = r.Run(mainCtx, f)

	var (
		sig   *signalled
		fatal *fatalError
	)
	switch {
	case ctx.Err() != nil:
		// The deadline (or the caller) stopped the script: Execute has
		// sent SIGTERM to its processes; the script gets its TERM trap.
		st.atDeadline(ctx, r)
		return interpreters.Outcome{Status: interpreters.StatusTimedOut, Err: ctx.Err()}
	case errors.As(context.Cause(mainCtx), &fatal):
		return interpreters.Outcome{Status: 1, Err: fatal.err}
	case errors.As(context.Cause(mainCtx), &sig):
		status := 128 + int(sig.sig)
		if sig.sig != syscall.SIGKILL {
			st.runTraps(ctx, r, status, "")
		}
		return interpreters.Outcome{Status: status}
	}
	// Signals raised at the very end, after the last command.
	for {
		code, _, ok := st.nextTrap()
		if !ok {
			break
		}
		if tf, perr := parseTrap(code); perr == nil {
			_ = r.Subshell().Run(ctx, tf)
		}
	}
	return outcome(err)
}

// outcome turns what the interpreter returned into an Outcome.
func outcome(err error) interpreters.Outcome {
	if err == nil {
		return interpreters.Outcome{}
	}
	var es interp.ExitStatus
	if errors.As(err, &es) {
		return interpreters.Outcome{Status: int(es)}
	}
	return interpreters.Outcome{Status: 1, Err: err}
}

// atDeadline runs the script's TERM trap and then its EXIT trap, as bash
// does on SIGTERM, within the grace period; trap "" TERM runs neither
// (bash would go on until SIGKILL).
func (st *run) atDeadline(ctx context.Context, r *interp.Runner) {
	code, ok := st.trap(syscall.SIGTERM)
	if ok && code == "" {
		return
	}
	grace := st.inv.Grace
	if grace <= 0 {
		grace = interpreters.DefaultGrace
	}
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace-trapMargin(grace))
	defer cancel()
	st.runTraps(tctx, r, 128+int(syscall.SIGTERM), code)
}

// runTraps runs code (a signal trap, may be empty) on the stopped main
// shell with $? = status, then the shell's EXIT trap, which the
// interpreter runs at the end of every file.
func (st *run) runTraps(ctx context.Context, r *interp.Runner, status int, code string) {
	src := ""
	if code != "" {
		// "false || eval CODE": CODE sees $?, and neither errexit nor the
		// ERR trap fires for the status itself.
		if q, err := syntax.Quote(code, syntax.LangBash); err == nil {
			src = fmt.Sprintf("%s %d || eval %s", cmdStatus, status, q)
		} else {
			src = code
		}
	}
	tf, err := parseTrap(src)
	if err != nil {
		fmt.Fprintf(stderrOf(st.inv), "%s: trap: %v\n", st.path, err)
		tf = &syntax.File{}
	}
	tf.Name = st.path
	_ = r.Run(ctx, tf)
}

func parseTrap(code string) (*syntax.File, error) {
	return syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(code), "trap")
}

func stderrOf(inv *interpreters.Invocation) io.Writer {
	if inv.Stderr != nil {
		return inv.Stderr
	}
	return io.Discard
}

// diagWriter is the interpreter's standard error. It drops the messages
// the interpreter prints about the engine stopping the script (context
// canceled) or about a script error the engine reports in Outcome.Err,
// which would otherwise also appear as lines of the script's output.
type diagWriter struct {
	w   io.Writer
	ctx context.Context // the main shell's: its cause tells why it stopped
}

func (d *diagWriter) Write(p []byte) (int, error) {
	if cause := context.Cause(d.ctx); cause != nil {
		msg := strings.TrimSuffix(string(p), "\n")
		var fatal *fatalError
		if msg == context.Canceled.Error() || msg == context.DeadlineExceeded.Error() ||
			errors.As(cause, &fatal) && msg == fatal.err.Error() {
			return len(p), nil
		}
	}
	return d.w.Write(p)
}

// unwrap returns the file behind the interpreter's standard error, so
// that commands write to it directly.
func unwrap(w io.Writer) io.Writer {
	if d, ok := w.(*diagWriter); ok {
		return d.w
	}
	return w
}
