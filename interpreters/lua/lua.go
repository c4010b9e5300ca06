package lua

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	glua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"github.com/ark-ha/ark/interpreters"
)

// Limits of one interpreter state. A runaway recursion ends with a "stack
// overflow" error once CallStackSize frames or RegistryMaxSize values are
// in use, instead of eating the daemon's memory.
const (
	// CallStackSize is the deepest Lua call nesting a script may reach.
	CallStackSize = 2000
	// RegistryMaxSize is the most values the Lua data stack may hold.
	RegistryMaxSize = 1 << 20
	registrySize    = 256 * 20
	// registryGrowStep must be large: gopher-lua grows the data stack by
	// this much at a time, copying it, so a small step makes a large
	// unpack quadratic (minutes, in a builtin that cannot be interrupted).
	registryGrowStep = 1 << 14
)

// StatusSyntaxError is the exit status of a script that does not compile,
// as bash reports a syntax error.
const StatusSyntaxError = 2

type engine struct{}

var _ interpreters.Engine = engine{}

// New returns the Lua engine. It holds no state: every Run gets a fresh
// interpreter, so the engine is safe for concurrent use.
func New() interpreters.Engine { return engine{} }

// Lang returns interpreters.LangLua.
func (engine) Lang() interpreters.Lang { return interpreters.LangLua }

// Check compiles s without running it. A syntax error comes back as an
// error whose message begins with file:line:col. It reports no findings:
// everything that compiles runs with its real meaning (a call of a
// function the sandbox removed fails at run time).
func (engine) Check(s *interpreters.Script) ([]interpreters.Finding, error) {
	_, err := compile(s)
	return nil, err
}

// compile parses and compiles s; the chunk is named after the script's
// path, so that runtime errors read path:line: message.
func compile(s *interpreters.Script) (*glua.FunctionProto, error) {
	src := s.Source
	if bytes.HasPrefix(src, []byte("#")) {
		// A #! line, as the stand-alone lua skips it; keep the line count.
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			src = src[i:]
		} else {
			src = nil
		}
	}
	chunk, err := parse.Parse(bytes.NewReader(src), s.Path)
	if err != nil {
		var pe *parse.Error
		if errors.As(err, &pe) {
			line := pe.Pos.Line
			if line == parse.EOF {
				line = bytes.Count(s.Source, []byte("\n")) + 1
				return nil, fmt.Errorf("%s:%d: %s at end of file", s.Path, line, pe.Message)
			}
			return nil, fmt.Errorf("%s:%d:%d: %s near %q", s.Path, line, pe.Pos.Column, pe.Message, pe.Token)
		}
		return nil, fmt.Errorf("%s: %w", s.Path, err)
	}
	proto, err := glua.Compile(chunk, s.Path)
	if err != nil {
		var ce *glua.CompileError
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("%s:%d: %s", s.Path, ce.Line, ce.Message)
		}
		return nil, fmt.Errorf("%s: %w", s.Path, err)
	}
	return proto, nil
}

// Run runs s in a fresh sandboxed interpreter. The script's status is
// what it passed to exit, 0 when it ran off its end, 1 on a runtime error
// (Outcome.Err begins with path:line:) and StatusSyntaxError when it does
// not compile. When ctx is done, Run returns as soon as the interpreter
// notices (at its next instruction, or when the blocking builtin returns)
// with ctx.Err().
func (engine) Run(ctx context.Context, s *interpreters.Script, inv *interpreters.Invocation) interpreters.Outcome {
	proto, err := compile(s)
	if err != nil {
		return interpreters.Outcome{Status: StatusSyntaxError, Err: err}
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	L := glua.NewState(glua.Options{
		SkipOpenLibs:        true,
		CallStackSize:       CallStackSize,
		RegistrySize:        registrySize,
		RegistryMaxSize:     RegistryMaxSize,
		RegistryGrowStep:    registryGrowStep,
		MinimizeStackMemory: false, // its auto-growing stack panics instead of raising "stack overflow"
	})
	defer L.Close()
	r := &runner{inv: inv, ctx: runCtx, stop: cancel, path: s.Path}
	r.open(L, s)

	L.SetContext(runCtx)
	L.Push(L.NewFunctionFromProto(proto))
	err = pcall(L, r.message)
	switch {
	case r.exited:
		return interpreters.Outcome{Status: r.status}
	case ctx.Err() != nil:
		return interpreters.Outcome{Status: interpreters.StatusTimedOut, Err: ctx.Err()}
	case err != nil:
		return interpreters.Outcome{Status: 1, Err: r.runtimeError(err)}
	}
	return interpreters.Outcome{}
}

// pcall calls the function on top of L's stack in protected mode with
// handler as the message handler. gopher-lua can still panic out of its
// PCall (an error while it sets up the handler, e.g. with the data stack
// full): that panic becomes the error too, rather than ending the daemon.
func pcall(L *glua.LState, handler glua.LGFunction) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if e, ok := v.(*glua.ApiError); ok {
				e.StackTrace = ""
				err = e
				return
			}
			err = fmt.Errorf("lua: %v", v)
		}
	}()
	return L.PCall(0, 0, L.NewFunction(handler))
}

// runner is the state of one Run that the builtins share. The Lua
// interpreter (coroutines included) runs on one goroutine, so the fields
// need no lock.
type runner struct {
	inv  *interpreters.Invocation
	ctx  context.Context // cancelled at the deadline and by exit
	stop context.CancelFunc
	path string

	exited bool
	status int
}

// open installs the sandboxed libraries and the builtins.
func (r *runner) open(L *glua.LState, s *interpreters.Script) {
	for _, lib := range []struct {
		name string
		open glua.LGFunction
	}{
		{glua.BaseLibName, glua.OpenBase},
		{glua.TabLibName, glua.OpenTable},
		{glua.StringLibName, glua.OpenString},
		{glua.MathLibName, glua.OpenMath},
		{glua.OsLibName, glua.OpenOs},
		{glua.CoroutineLibName, glua.OpenCoroutine},
	} {
		L.Push(L.NewFunction(lib.open))
		L.Push(glua.LString(lib.name))
		L.Call(1, 0)
	}
	g := L.G.Global
	for _, name := range []string{
		"dofile", "loadfile", "load", "loadstring", "require", "module",
		"collectgarbage", "_printregs", // _printregs writes to the daemon's stdout
	} {
		g.RawSetString(name, glua.LNil)
	}
	if str, ok := g.RawGetString(glua.StringLibName).(*glua.LTable); ok {
		str.RawSetString("dump", glua.LNil)
	}
	// os: only the clock. The full table stays reachable nowhere: it is
	// replaced in the globals and in the registry's loaded modules.
	safeOS := L.NewTable()
	if full, ok := g.RawGetString(glua.OsLibName).(*glua.LTable); ok {
		for _, name := range []string{"time", "clock", "date", "difftime"} {
			safeOS.RawSetString(name, full.RawGetString(name))
		}
	}
	g.RawSetString(glua.OsLibName, safeOS)
	if loaded, ok := L.GetField(L.Get(glua.RegistryIndex), "_LOADED").(*glua.LTable); ok {
		loaded.RawSetString(glua.OsLibName, safeOS)
	}

	env := L.CreateTable(0, len(r.inv.Env))
	for k, v := range r.inv.Env {
		env.RawSetString(k, glua.LString(v))
	}
	g.RawSetString("env", env)
	arg := L.CreateTable(len(r.inv.Args), 1)
	arg.RawSetInt(0, glua.LString(s.Path))
	for i, a := range r.inv.Args {
		arg.RawSetInt(i+1, glua.LString(a))
	}
	g.RawSetString("arg", arg)

	L.SetFuncs(g, map[string]glua.LGFunction{
		"print":  r.print,
		"log":    r.log,
		"logcmd": r.logcmd,
		"run":    r.run,
		"sleep":  r.sleep,
		"state":  r.state,
		"retry":  r.retry,
		"exit":   r.exit,
	})
}

// message is the error handler of the script's PCall: it keeps the error
// message only (a traceback of a deep recursion costs seconds and
// gigabytes) and gives a position to errors raised without one.
func (r *runner) message(L *glua.LState) int {
	v := L.Get(1)
	msg := v.String()
	if s, ok := v.(glua.LString); ok {
		msg = string(s)
	}
	if !strings.HasPrefix(msg, r.path+":") {
		if w := r.where(L); w != "" {
			msg = w + " " + msg
		}
	}
	L.Push(glua.LString(msg))
	return 1
}

// where returns "path:line:" of the innermost frame of the script's code,
// "" if there is none.
func (r *runner) where(L *glua.LState) string {
	for level := 0; level < 8; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			return ""
		}
		if _, err := L.GetInfo("Sl", dbg, glua.LNil); err != nil {
			continue
		}
		if dbg.Source == r.path && dbg.CurrentLine > 0 {
			return fmt.Sprintf("%s:%d:", r.path, dbg.CurrentLine)
		}
	}
	return ""
}

func (r *runner) runtimeError(err error) error {
	var ae *glua.ApiError
	if errors.As(err, &ae) && ae.Object != nil {
		msg := ae.Object.String()
		if !strings.HasPrefix(msg, r.path+":") {
			msg = r.path + ": " + msg
		}
		return errors.New(msg)
	}
	return fmt.Errorf("%s: %w", r.path, err)
}

// live stops a builtin once the script has been stopped (deadline or
// exit): a script that caught the error with pcall must not go on running
// commands.
func (r *runner) live(L *glua.LState) {
	if r.exited {
		L.RaiseError("exit %d", r.status)
	}
	if err := r.ctx.Err(); err != nil {
		L.RaiseError("%v", err)
	}
}

// raise reports err as a Lua error at the caller's line.
func raise(L *glua.LState, err error) {
	L.RaiseError("%s", err.Error())
}

// argv collects the string arguments from index from on.
func argv(L *glua.LState, from int) []string {
	L.CheckString(from) // the command itself is required
	out := make([]string, 0, L.GetTop()-from+1)
	for i := from; i <= L.GetTop(); i++ {
		out = append(out, L.CheckString(i))
	}
	return out
}

func (r *runner) print(L *glua.LState) int {
	var b strings.Builder
	for i := 1; i <= L.GetTop(); i++ {
		if i > 1 {
			b.WriteByte('\t')
		}
		b.WriteString(L.ToStringMeta(L.Get(i)).String())
	}
	if r.inv.Stdout == nil {
		r.inv.Logf(slog.LevelInfo, interpreters.CodeStdout, "%s", b.String())
		return 0
	}
	b.WriteByte('\n')
	_, _ = r.inv.Stdout.WriteString(b.String())
	return 0
}

// log(level, code, message)
func (r *runner) log(L *glua.LState) int {
	r.live(L)
	level, code := L.CheckString(1), L.CheckString(2)
	msg := L.ToStringMeta(L.CheckAny(3)).String()
	if err := r.inv.LogBuiltin(level, code, msg); err != nil {
		raise(L, err)
	}
	return 0
}

// logcmd(level, code, cmd, args...) -> status
func (r *runner) logcmd(L *glua.LState) int {
	r.live(L)
	level, code := L.CheckString(1), L.CheckString(2)
	st, err := r.inv.LogCmd(r.ctx, level, code, argv(L, 3))
	if err != nil {
		raise(L, err)
	}
	L.Push(glua.LNumber(st))
	return 1
}

// run(cmd, args...) -> status, stdout, stderr
func (r *runner) run(L *glua.LState) int {
	r.live(L)
	res, err := r.inv.Run(r.ctx, argv(L, 1))
	if err != nil {
		raise(L, fmt.Errorf("run: %w", err))
	}
	L.Push(glua.LNumber(res.Status))
	L.Push(glua.LString(res.Stdout))
	L.Push(glua.LString(res.Stderr))
	return 3
}

// sleep(seconds)
func (r *runner) sleep(L *glua.LState) int {
	r.live(L)
	if err := r.inv.Sleep(r.ctx, seconds(float64(L.CheckNumber(1)))); err != nil {
		raise(L, fmt.Errorf("sleep: %w", err))
	}
	return 0
}

// seconds converts a script's number of seconds, saturating.
func seconds(s float64) time.Duration {
	switch {
	case math.IsNaN(s) || s <= 0:
		return 0
	case s >= float64(math.MaxInt64/int64(time.Second)):
		return math.MaxInt64
	}
	return time.Duration(s * float64(time.Second))
}

// state(tag) -> state
func (r *runner) state(L *glua.LState) int {
	r.live(L)
	st, err := r.inv.State(r.ctx, L.CheckString(1))
	if err != nil {
		raise(L, err)
	}
	L.Push(glua.LString(st))
	return 1
}

// retry(n, delay, fn) -> true when fn returned a true value (anything but
// nil and false) within n attempts, false otherwise. An error raised by
// fn is not an unsuccessful attempt: it ends the script like any error.
func (r *runner) retry(L *glua.LState) int {
	r.live(L)
	n := L.CheckInt(1)
	delay := seconds(float64(L.CheckNumber(2)))
	fn := L.CheckFunction(3)
	for i := 1; i <= n; i++ {
		L.Push(fn)
		L.Call(0, 1)
		ok := glua.LVAsBool(L.Get(-1))
		L.Pop(1)
		if ok {
			L.Push(glua.LTrue)
			return 1
		}
		if i < n {
			r.live(L)
			if err := r.inv.Sleep(r.ctx, delay); err != nil {
				raise(L, fmt.Errorf("retry: %w", err))
			}
		}
	}
	L.Push(glua.LFalse)
	return 1
}

// exit([status]) ends the script: exit() and exit(true) with 0,
// exit(false) with 1, exit(n) with n (modulo 256, as a shell does).
// pcall cannot catch it for long: the script's context is cancelled, so
// the interpreter stops at its next instruction.
func (r *runner) exit(L *glua.LState) int {
	code := 0
	switch v := L.Get(1).(type) {
	case *glua.LNilType:
	case glua.LBool:
		if !v {
			code = 1
		}
	case glua.LNumber:
		code = int(v) & 0xff
	default:
		L.ArgError(1, "exit status must be a number or a boolean")
	}
	if !r.exited {
		r.exited, r.status = true, code
	}
	r.stop()
	L.RaiseError("exit %d", code)
	return 0
}
