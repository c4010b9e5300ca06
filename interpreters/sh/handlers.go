package sh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"

	"github.com/ark-ha/ark/interpreters"
	"github.com/ark-ha/ark/sdk/ark"
)

// call is the interpreter's CallHandler: it sees every simple command
// (builtins and functions too) after expansion. It allocates background
// jobs, routes kill, wait and trap to the engine's versions, and runs a
// pending signal trap before the next command of the main shell.
func (st *run) call(ctx context.Context, args []string) ([]string, error) {
	hc := interp.HandlerCtx(ctx)
	if args[0] == cmdJobNew {
		id := st.newJob(jobOf(hc))
		return []string{"eval", varLastJob + "=" + strconv.Itoa(id)}, nil
	}
	if args[0] == cmdTrapNow {
		// Right after kill in the main shell: a signal it sent to the
		// script runs its trap now, before the next command is expanded.
		if isMain(hc) {
			if code, _, ok := st.nextTrap(); ok {
				return []string{"eval", code + "\n" + cmdStatus + " " + args[1]}, nil
			}
		}
		return []string{cmdStatus, args[1]}, nil
	}
	internal := strings.HasPrefix(args[0], "__ark_")
	args = st.builtinCall(hc, args)
	if !internal && isMain(hc) {
		if code, _, ok := st.nextTrap(); ok {
			if wrapped, ok := evalTrap(code, hc.LastExitStatus, args); ok {
				return wrapped, nil
			}
		}
	}
	return args, nil
}

// builtinCall replaces the builtins the engine implements itself, unless
// the script defines a function of that name.
func (st *run) builtinCall(hc interp.HandlerContext, args []string) []string {
	i := 0
	if len(args) > 1 && (args[0] == "command" || args[0] == "builtin") {
		i = 1 // skips functions, as we do
	} else if st.funcs[args[0]] {
		return args
	}
	switch args[i] {
	case "kill":
		return append([]string{cmdKill}, args[i+1:]...)
	case "wait":
		return append([]string{cmdWait}, args[i+1:]...)
	case "trap":
		return st.trapBuiltin(hc, args[i+1:])
	case "disown":
		// Jobs are never sent SIGHUP by the script: nothing to do.
		return []string{":"}
	}
	return args
}

// open is the interpreter's OpenHandler: /dev/stdout, /dev/stderr and
// /dev/stdin (and /dev/fd/0-2) are the script's, not the daemon's.
func (st *run) open(ctx context.Context, path string, flag int, perm os.FileMode) (io.ReadWriteCloser, error) {
	hc := interp.HandlerCtx(ctx)
	var std any
	switch path {
	case "/dev/stdout", "/dev/fd/1":
		std = unwrap(hc.Stdout)
	case "/dev/stderr", "/dev/fd/2":
		std = unwrap(hc.Stderr)
	case "/dev/stdin", "/dev/fd/0":
		if hc.Stdin == nil {
			path = os.DevNull
			break
		}
		std = hc.Stdin
	}
	switch f := std.(type) {
	case nil:
	case *os.File:
		// A copy of the descriptor, so that commands get a real file and
		// closing it after the redirection leaves the script's own open.
		fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	default:
		return stdStream{f}, nil
	}
	return interp.DefaultOpenHandler()(ctx, path, flag, perm)
}

// stdStream is the script's standard stream when it is not a file: a
// redirection to it must not close it.
type stdStream struct{ v any }

func (s stdStream) Read(p []byte) (int, error) {
	if r, ok := s.v.(io.Reader); ok {
		return r.Read(p)
	}
	return 0, io.EOF
}

func (s stdStream) Write(p []byte) (int, error) {
	if w, ok := s.v.(io.Writer); ok {
		return w.Write(p)
	}
	return 0, os.ErrInvalid
}

func (stdStream) Close() error { return nil }

// evalTrap returns a command that runs a trap's code, restores $? and
// then runs the command args: a trap that became pending while the main
// shell ran something else runs before its next command (whose words
// have been expanded already).
func evalTrap(code string, last int, args []string) ([]string, bool) {
	q, ok := quoteArgs(args)
	if !ok {
		return nil, false
	}
	return []string{"eval", code + "\n" + cmdStatus + " " + strconv.Itoa(last) + "\n" + q}, true
}

// quoteArgs quotes args as one bash command line.
func quoteArgs(args []string) (string, bool) {
	var b strings.Builder
	for i, a := range args {
		q, err := syntax.Quote(a, syntax.LangBash)
		if err != nil {
			return "", false
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(q)
	}
	return b.String(), true
}

// trapBuiltin handles trap: signal traps are kept by the engine, EXIT and
// ERR (and what is invalid) are left to the interpreter.
func (st *run) trapBuiltin(hc interp.HandlerContext, args []string) []string {
	list, print := false, false
flags:
	for len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' {
		switch args[0] {
		case "--":
			args = args[1:]
			break flags
		case "-l":
			list = true
		case "-p":
			print = true
		default:
			return append([]string{"trap"}, args...) // the interpreter reports it
		}
		args = args[1:]
	}
	if list {
		for s := syscall.Signal(1); s < 32; s++ {
			fmt.Fprintf(hc.Stdout, "%2d) SIG%s\n", int(s), sigName(s))
		}
		return []string{":"}
	}
	if print || len(args) == 0 {
		for _, sig := range st.trapList() {
			if len(args) > 0 && !slices.ContainsFunc(args, func(a string) bool { s, ok := parseSignal(a); return ok && s == sig }) {
				continue
			}
			code, _ := st.trap(sig)
			q, _ := syntax.Quote(code, syntax.LangBash)
			fmt.Fprintf(hc.Stdout, "trap -- %s SIG%s\n", q, sigName(sig))
		}
		return []string{"trap"} // the interpreter prints EXIT and ERR
	}
	code, sigs := "-", args
	if len(args) > 1 {
		code, sigs = args[0], args[1:]
	}
	var pass []string
	main := isMain(hc)
	for _, s := range sigs {
		switch u := strings.ToUpper(s); {
		case u == "EXIT" || u == "SIGEXIT" || s == "0":
			pass = append(pass, "EXIT")
		case u == "ERR":
			pass = append(pass, "ERR")
		default:
			sig, ok := parseSignal(s)
			if !ok || sig == 0 || sig == syscall.SIGKILL || sig == syscall.SIGSTOP {
				pass = append(pass, s) // invalid signal specification
				continue
			}
			// A signal can only reach the main shell (kill -SIG $$, the
			// deadline): a subshell's trap would never run.
			if main {
				st.setTrap(sig, code, code != "-")
			}
		}
	}
	if len(pass) == 0 {
		return []string{":"}
	}
	return append([]string{"trap", "--", code}, pass...)
}

// execHandler is the interpreter's exec middleware: every command that is
// neither a function nor an interpreter builtin comes here.
func (st *run) execHandler(interp.ExecHandlerFunc) interp.ExecHandlerFunc {
	return st.exec
}

func (st *run) exec(ctx context.Context, args []string) error {
	hc := interp.HandlerCtx(ctx)
	switch args[0] {
	case "log":
		return st.scriptError(ctx, hc, st.logBuiltin(hc, args[1:]))
	case "logcmd":
		return st.scriptError(ctx, hc, st.logcmd(ctx, hc, args[1:]))
	case "ark_state":
		return st.scriptError(ctx, hc, st.arkState(ctx, hc, args[1:]))
	case "ins_list":
		return st.scriptError(ctx, hc, st.insList(ctx, hc, args[1:]))
	case cmdKill:
		return st.kill(hc, args[1:])
	case cmdWait:
		return st.wait(ctx, hc, args[1:])
	case cmdJobEnd:
		n := atoi(args[1:])
		st.ended(jobOf(hc), n)
		return exitStatus(n)
	case cmdBgPid:
		return st.bgPid(ctx, hc)
	case cmdStatus:
		return exitStatus(atoi(args[1:]))
	}
	n, err := st.spawn(ctx, hc, args, unwrap(hc.Stdout), unwrap(hc.Stderr))
	if err != nil {
		return err
	}
	return exitStatus(n)
}

// scriptError makes a builtin's error end the whole script, as in the
// other languages: the interpreter would only end the subshell (or
// print the error, in a command substitution).
func (st *run) scriptError(ctx context.Context, hc interp.HandlerContext, err error) error {
	if err == nil || ctx.Err() != nil {
		return err
	}
	var es interp.ExitStatus
	if errors.As(err, &es) {
		return err
	}
	if !isMain(hc) {
		st.stopMain(&fatalError{err})
	}
	return err
}

// fatalError is the cause given to the main shell's context when a
// builtin fails in a subshell.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }

func atoi(args []string) int {
	if len(args) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(args[0])
	return n
}

// exitStatus turns a shell status into what a handler returns.
func exitStatus(n int) error {
	if n == 0 {
		return nil
	}
	return interp.ExitStatus(uint8(n))
}

// spawn runs an external command inside the action's containment and
// returns its exit status. When ctx is done first it returns ctx.Err()
// at once and leaves the process to the containment: Execute kills it at
// the deadline, and a background service outlives a normal end.
func (st *run) spawn(ctx context.Context, hc interp.HandlerContext, argv []string, stdout, stderr io.Writer) (int, error) {
	if err := ctx.Err(); err != nil {
		return 1, err
	}
	line := hc.Pos.Line()
	path, err := interp.LookPathDir(hc.Dir, hc.Env, argv[0])
	if err != nil {
		if strings.Contains(argv[0], "/") {
			p := argv[0]
			if !filepath.IsAbs(p) {
				p = filepath.Join(hc.Dir, p)
			}
			if _, serr := os.Stat(p); serr == nil {
				fmt.Fprintf(stderr, "%s: line %d: %s: Permission denied\n", st.path, line, argv[0])
				return 126, nil
			}
			fmt.Fprintf(stderr, "%s: line %d: %s: No such file or directory\n", st.path, line, argv[0])
			return 127, nil
		}
		fmt.Fprintf(stderr, "%s: line %d: %s: command not found\n", st.path, line, argv[0])
		return 127, nil
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(hc.Dir, path)
	}
	env := exportedEnv(hc.Env)
	start := func(path string, argv []string) (*exec.Cmd, error) {
		cmd, err := st.inv.Command([]string{path})
		if err != nil {
			return nil, err
		}
		cmd.Args, cmd.Env, cmd.Dir = argv, env, hc.Dir
		if hc.Stdin != nil {
			cmd.Stdin = hc.Stdin
		}
		cmd.Stdout, cmd.Stderr = stdout, stderr
		return cmd, st.inv.StartCommand(cmd)
	}
	h, err := start(path, argv)
	// A file being written by a concurrently forked process fails with
	// ETXTBSY for a short while (go.dev/issue/22315).
	for delay := time.Millisecond; errors.Is(err, syscall.ETXTBSY) && delay < 300*time.Millisecond; delay *= 2 {
		time.Sleep(delay)
		h, err = start(path, argv)
	}
	if errors.Is(err, syscall.ENOEXEC) {
		// A script without #!: bash runs it with a copy of itself.
		if bash, lerr := systemProgram("bash"); lerr == nil {
			h, err = start(bash, append([]string{argv[0], path}, argv[1:]...))
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: line %d: %s: %v\n", st.path, line, argv[0], unwrapPathError(err))
		return 126, nil
	}
	st.started(jobOf(hc), h.Process.Pid)
	return interpreters.Wait(ctx, h)
}

// systemProgram finds a program on the system's standard PATH.
func systemProgram(name string) (string, error) {
	for _, dir := range filepath.SplitList(interpreters.DefaultPath) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in %s", name, interpreters.DefaultPath)
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// exportedEnv is the process environment of a command: the exported
// string variables of the shell, sorted.
func exportedEnv(env expand.Environ) []string {
	m := map[string]string{}
	env.Each(func(name string, vr expand.Variable) bool {
		if vr.IsSet() && vr.Exported && vr.Kind == expand.String {
			m[name] = vr.Str
		} else {
			delete(m, name)
		}
		return true
	})
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// logBuiltin is log LEVEL CODE MESSAGE...
func (st *run) logBuiltin(hc interp.HandlerContext, args []string) error {
	if len(args) < 2 {
		return st.errorf(hc, "log: usage: log LEVEL CODE MESSAGE...")
	}
	if err := st.inv.LogBuiltin(args[0], args[1], strings.Join(args[2:], " ")); err != nil {
		return st.errorf(hc, "%w", err)
	}
	return nil
}

// logcmd is logcmd LEVEL CODE COMMAND [ARGS...]: the command's output
// lines are logged at LEVEL as they come; its status is logcmd's.
func (st *run) logcmd(ctx context.Context, hc interp.HandlerContext, args []string) error {
	if len(args) < 3 {
		return st.errorf(hc, "logcmd: usage: logcmd LEVEL CODE COMMAND [ARGS...]")
	}
	level, err := ark.ParseLevel(args[0])
	if err != nil {
		return st.errorf(hc, "logcmd: %w", err)
	}
	w := st.inv.LineWriter(level, args[1])
	defer w.Close()
	n, err := st.spawn(ctx, hc, args[2:], w, w)
	if err != nil {
		return err
	}
	return exitStatus(n)
}

// state asks the host for the state of tag; failing is a script error.
func (st *run) state(ctx context.Context, hc interp.HandlerContext, tag string) (string, error) {
	s, err := st.inv.State(ctx, tag)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", st.errorf(hc, "%w", err)
	}
	return s, nil
}

// arkState is ark_state TAG: it prints the state of resource TAG.
func (st *run) arkState(ctx context.Context, hc interp.HandlerContext, args []string) error {
	if len(args) != 1 {
		return st.errorf(hc, "ark_state: usage: ark_state TAG")
	}
	s, err := st.state(ctx, hc, args[0])
	if err != nil {
		return err
	}
	fmt.Fprintln(hc.Stdout, s)
	return nil
}

// insList is LifeKeeper's ins_list -t TAG [-f SEP], reduced to the one
// line of TAG (see the package documentation for the fields).
func (st *run) insList(ctx context.Context, hc interp.HandlerContext, args []string) error {
	tag, sep := "", "\x01"
	for len(args) > 0 {
		switch {
		case (args[0] == "-t" || args[0] == "-f") && len(args) > 1:
			if args[0] == "-t" {
				tag = args[1]
			} else {
				sep = args[1]
			}
			args = args[2:]
		default:
			return st.errorf(hc, "ins_list: usage: ins_list -t TAG [-f SEP] (listing every resource is not supported)")
		}
	}
	if tag == "" {
		return st.errorf(hc, "ins_list: usage: ins_list -t TAG [-f SEP] (listing every resource is not supported)")
	}
	s, err := st.state(ctx, hc, tag)
	if err != nil {
		return err
	}
	fmt.Fprintln(hc.Stdout, insListLine(tag, s, sep, hc.Env.Get("TAG").String(), hc.Env.Get("RESOURCE_TYPE").String(), hc.Env.Get("ID").String()))
	return nil
}

// insListLine formats the line ins_list prints; typ and id are known for
// the script's own tag only.
func insListLine(tag, state, sep, ownTag, typ, id string) string {
	if tag != ownTag {
		typ, id = "", ""
	}
	return strings.Join([]string{"ark", typ, tag, id, "", "", state}, sep)
}

// bgPid prints $!: the first process of the last job this shell started,
// once there is one (or the job spec, if the job ended without any).
func (st *run) bgPid(ctx context.Context, hc interp.HandlerContext) error {
	id, _ := strconv.Atoi(hc.Env.Get(varLastJob).String())
	j := st.job(id)
	if j == nil {
		return nil // no background job yet: $! is empty
	}
	select {
	case <-j.started:
	case <-ctx.Done():
		return ctx.Err()
	}
	fmt.Fprint(hc.Stdout, st.bangValue(j))
	return nil
}
