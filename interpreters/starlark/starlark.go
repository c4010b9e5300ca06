package starlark

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"go.starlark.net/resolve"
	sl "go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/ark-ha/ark/interpreters"
)

// StatusSyntaxError is the exit status of a script that does not compile,
// as bash reports a syntax error.
const StatusSyntaxError = 2

// fileOptions are the dialect of action scripts: Starlark as a scripting
// language rather than a configuration one.
var fileOptions = syntax.FileOptions{
	Set:             true,
	While:           true,
	TopLevelControl: true,
	GlobalReassign:  true,
	Recursion:       true, // go.starlark.net stops at 100000 frames
}

// builtinNames are the names every script sees besides the Starlark
// universe.
var builtinNames = map[string]bool{
	"env": true, "argv": true,
	"log": true, "logcmd": true, "run": true, "sleep": true,
	"state": true, "retry": true, "exit": true,
}

type engine struct{}

var _ interpreters.Engine = engine{}

// New returns the Starlark engine. It holds no state: every Run gets a
// fresh thread and globals, so the engine is safe for concurrent use.
func New() interpreters.Engine { return engine{} }

// Lang returns interpreters.LangStarlark.
func (engine) Lang() interpreters.Lang { return interpreters.LangStarlark }

// Check parses and resolves s without running it. Syntax errors,
// undefined names and load statements come back as an error whose message
// begins with file:line:col (one line per problem). It reports no
// findings.
func (engine) Check(s *interpreters.Script) ([]interpreters.Finding, error) {
	_, err := compile(s)
	return nil, err
}

func compile(s *interpreters.Script) (*sl.Program, error) {
	f, err := fileOptions.Parse(s.Path, s.Source, 0)
	if err != nil {
		return nil, err // syntax.Error: file:line:col: msg
	}
	var loads []error
	for _, st := range f.Stmts {
		if ld, ok := st.(*syntax.LoadStmt); ok {
			loads = append(loads, fmt.Errorf("%s: load(%q) is not available: an action script is one file; put what it needs in it",
				ld.Load.String(), ld.Module.Value))
		}
	}
	if len(loads) > 0 {
		return nil, errors.Join(loads...)
	}
	prog, err := sl.FileProgram(f, func(name string) bool { return builtinNames[name] })
	if err != nil {
		return nil, errors.Join(unlist(err)...)
	}
	return prog, nil
}

// unlist splits a resolver's error list so that every problem is
// reported, not only the first.
func unlist(err error) []error {
	var list resolve.ErrorList
	if !errors.As(err, &list) || len(list) == 0 {
		return []error{err}
	}
	list = slices.Clone(list)
	slices.SortStableFunc(list, func(a, b resolve.Error) int {
		return cmp.Or(cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	out := make([]error, len(list))
	for i, e := range list {
		out[i] = e
	}
	return out
}

// Run runs s in a fresh thread. The script's status is what it passed to
// exit, 0 when it ran off its end, 1 on a runtime error (Outcome.Err
// begins with path:line:col of the innermost frame of the script) and
// StatusSyntaxError when it does not compile. When ctx is done the thread
// is cancelled and Run returns with ctx.Err() as soon as the interpreter
// or the blocking builtin notices.
func (engine) Run(ctx context.Context, s *interpreters.Script, inv *interpreters.Invocation) interpreters.Outcome {
	prog, err := compile(s)
	if err != nil {
		return interpreters.Outcome{Status: StatusSyntaxError, Err: err}
	}
	r := &runner{inv: inv, ctx: ctx}
	thread := &sl.Thread{
		Name:  s.Path,
		Print: r.print,
		Load: func(*sl.Thread, string) (sl.StringDict, error) {
			return nil, errors.New("load is not available in action scripts")
		},
	}
	stop := context.AfterFunc(ctx, func() { thread.Cancel(ctx.Err().Error()) })
	defer stop()

	_, err = prog.Init(thread, r.predeclared(s))
	var ex *exitError
	switch {
	case errors.As(err, &ex):
		return interpreters.Outcome{Status: ex.status}
	case ctx.Err() != nil:
		return interpreters.Outcome{Status: interpreters.StatusTimedOut, Err: ctx.Err()}
	case err != nil:
		return interpreters.Outcome{Status: 1, Err: runtimeError(s.Path, err)}
	}
	return interpreters.Outcome{}
}

// runtimeError prefixes the message with the position of the innermost
// frame of the script's own code.
func runtimeError(path string, err error) error {
	var ee *sl.EvalError
	if !errors.As(err, &ee) {
		return fmt.Errorf("%s: %w", path, err)
	}
	for i := len(ee.CallStack) - 1; i >= 0; i-- {
		if pos := ee.CallStack[i].Pos; pos.Filename() == path && pos.Line > 0 {
			return fmt.Errorf("%s: %s", pos, ee.Msg)
		}
	}
	return fmt.Errorf("%s: %s", path, ee.Msg)
}

// exitError is how the exit builtin stops the script: Starlark code
// cannot catch an error, so it unwinds every frame.
type exitError struct{ status int }

func (e *exitError) Error() string { return fmt.Sprintf("exit %d", e.status) }

// runner is the state of one Run that the builtins share.
type runner struct {
	inv *interpreters.Invocation
	ctx context.Context
}

func (r *runner) predeclared(s *interpreters.Script) sl.StringDict {
	env := sl.NewDict(len(r.inv.Env))
	for k, v := range r.inv.Env {
		_ = env.SetKey(sl.String(k), sl.String(v))
	}
	env.Freeze()
	args := make([]sl.Value, 0, len(r.inv.Args)+1)
	args = append(args, sl.String(s.Path))
	for _, a := range r.inv.Args {
		args = append(args, sl.String(a))
	}
	argv := sl.NewList(args)
	argv.Freeze()
	return sl.StringDict{
		"env":    env,
		"argv":   argv,
		"log":    sl.NewBuiltin("log", r.log),
		"logcmd": sl.NewBuiltin("logcmd", r.logcmd),
		"run":    sl.NewBuiltin("run", r.run),
		"sleep":  sl.NewBuiltin("sleep", r.sleep),
		"state":  sl.NewBuiltin("state", r.state),
		"retry":  sl.NewBuiltin("retry", r.retry),
		"exit":   sl.NewBuiltin("exit", r.exit),
	}
}

func (r *runner) print(_ *sl.Thread, msg string) {
	if r.inv.Stdout == nil {
		r.inv.Logf(slog.LevelInfo, interpreters.CodeStdout, "%s", msg)
		return
	}
	_, _ = r.inv.Stdout.WriteString(msg + "\n")
}

// text is the string form of a builtin's argument: a string as is, any
// other value as str() shows it.
func text(v sl.Value) string {
	if s, ok := sl.AsString(v); ok {
		return s
	}
	return v.String()
}

// argv converts a command and its arguments: strings, or numbers.
func argv(b *sl.Builtin, args sl.Tuple) ([]string, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("%s: missing command", b.Name())
	}
	out := make([]string, len(args))
	for i, a := range args {
		switch a := a.(type) {
		case sl.String:
			out[i] = string(a)
		case sl.Int, sl.Float:
			out[i] = a.String()
		default:
			return nil, fmt.Errorf("%s: argument %d is a %s, want a string", b.Name(), i+1, a.Type())
		}
	}
	return out, nil
}

// log(level, code, message). The code may be a number, as LifeKeeper's
// message codes are.
func (r *runner) log(_ *sl.Thread, b *sl.Builtin, args sl.Tuple, kwargs []sl.Tuple) (sl.Value, error) {
	var level string
	var code, msg sl.Value
	if err := sl.UnpackPositionalArgs(b.Name(), args, kwargs, 3, &level, &code, &msg); err != nil {
		return nil, err
	}
	if err := r.inv.LogBuiltin(level, text(code), text(msg)); err != nil {
		return nil, err
	}
	return sl.None, nil
}

// logcmd(level, code, cmd, *args) -> status
func (r *runner) logcmd(_ *sl.Thread, b *sl.Builtin, args sl.Tuple, kwargs []sl.Tuple) (sl.Value, error) {
	if len(kwargs) > 0 {
		return nil, fmt.Errorf("%s: unexpected keyword arguments", b.Name())
	}
	if len(args) < 3 {
		return nil, fmt.Errorf("%s: want level, code, command and its arguments", b.Name())
	}
	level, ok := sl.AsString(args[0])
	if !ok {
		return nil, fmt.Errorf("%s: level must be a string", b.Name())
	}
	code := text(args[1])
	cmd, err := argv(b, args[2:])
	if err != nil {
		return nil, err
	}
	st, err := r.inv.LogCmd(r.ctx, level, code, cmd)
	if err != nil {
		return nil, err
	}
	return sl.MakeInt(st), nil
}

// run(cmd, *args) -> (status, stdout, stderr)
func (r *runner) run(_ *sl.Thread, b *sl.Builtin, args sl.Tuple, kwargs []sl.Tuple) (sl.Value, error) {
	if len(kwargs) > 0 {
		return nil, fmt.Errorf("%s: unexpected keyword arguments", b.Name())
	}
	cmd, err := argv(b, args)
	if err != nil {
		return nil, err
	}
	res, err := r.inv.Run(r.ctx, cmd)
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	return sl.Tuple{sl.MakeInt(res.Status), sl.String(res.Stdout), sl.String(res.Stderr)}, nil
}

// sleep(seconds)
func (r *runner) sleep(_ *sl.Thread, b *sl.Builtin, args sl.Tuple, kwargs []sl.Tuple) (sl.Value, error) {
	var secs sl.Value
	if err := sl.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &secs); err != nil {
		return nil, err
	}
	d, err := seconds(b, secs)
	if err != nil {
		return nil, err
	}
	if err := r.inv.Sleep(r.ctx, d); err != nil {
		return nil, fmt.Errorf("sleep: %w", err)
	}
	return sl.None, nil
}

// seconds converts a number of seconds, saturating.
func seconds(b *sl.Builtin, v sl.Value) (time.Duration, error) {
	if _, ok := v.(sl.Bool); ok {
		return 0, fmt.Errorf("%s: want a number of seconds, got a bool", b.Name())
	}
	s, ok := sl.AsFloat(v)
	if !ok {
		return 0, fmt.Errorf("%s: want a number of seconds, got a %s", b.Name(), v.Type())
	}
	switch {
	case math.IsNaN(s) || s <= 0:
		return 0, nil
	case s >= float64(math.MaxInt64/int64(time.Second)):
		return math.MaxInt64, nil
	}
	return time.Duration(s * float64(time.Second)), nil
}

// state(tag) -> state
func (r *runner) state(_ *sl.Thread, b *sl.Builtin, args sl.Tuple, kwargs []sl.Tuple) (sl.Value, error) {
	var tag string
	if err := sl.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &tag); err != nil {
		return nil, err
	}
	st, err := r.inv.State(r.ctx, tag)
	if err != nil {
		return nil, err
	}
	return sl.String(st), nil
}

// retry(n, delay, fn) -> True when fn returned a true value within n
// attempts, False otherwise. An error in fn is not an unsuccessful
// attempt: it ends the script like any error.
func (r *runner) retry(thread *sl.Thread, b *sl.Builtin, args sl.Tuple, kwargs []sl.Tuple) (sl.Value, error) {
	var n int
	var delay sl.Value
	var fn sl.Callable
	if err := sl.UnpackPositionalArgs(b.Name(), args, kwargs, 3, &n, &delay, &fn); err != nil {
		return nil, err
	}
	d, err := seconds(b, delay)
	if err != nil {
		return nil, err
	}
	for i := 1; i <= n; i++ {
		v, err := sl.Call(thread, fn, nil, nil)
		if err != nil {
			return nil, err
		}
		if v.Truth() {
			return sl.True, nil
		}
		if i < n {
			if err := r.inv.Sleep(r.ctx, d); err != nil {
				return nil, fmt.Errorf("retry: %w", err)
			}
		}
	}
	return sl.False, nil
}

// exit(status=0) ends the script: exit() and exit(True) with 0,
// exit(False) with 1, exit(n) with n (modulo 256, as a shell does).
func (r *runner) exit(_ *sl.Thread, b *sl.Builtin, args sl.Tuple, kwargs []sl.Tuple) (sl.Value, error) {
	var v sl.Value = sl.None
	if err := sl.UnpackPositionalArgs(b.Name(), args, kwargs, 0, &v); err != nil {
		return nil, err
	}
	code := 0
	switch v := v.(type) {
	case sl.NoneType:
	case sl.Bool:
		if !v {
			code = 1
		}
	case sl.Int:
		n, ok := v.Int64()
		if !ok {
			return nil, fmt.Errorf("%s: status %s out of range", b.Name(), v)
		}
		code = int(n & 0xff)
	default:
		return nil, fmt.Errorf("%s: status must be an int or a bool, got a %s", b.Name(), v.Type())
	}
	return nil, &exitError{status: code}
}
