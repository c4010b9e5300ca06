package sh

import (
	"fmt"
	"slices"
	"strings"
	"syscall"

	"mvdan.cc/sh/v3/syntax"

	"github.com/ark-ha/ark/interpreters"
)

// optOut ends every finding's message.
const optOut = "; run the script with shell=system (the system's /bin/bash) if it needs this"

// Each entry below was checked against mvdan.cc/sh v3.14.1: it fails, or
// silently means something else than in bash.

// unsupportedBuiltins are bash builtins the interpreter does not have.
var unsupportedBuiltins = map[string]string{
	"ulimit":   "resource limits are per process and the script has none of its own",
	"umask":    "the file mode mask is per process and the script has none of its own",
	"suspend":  "not supported",
	"enable":   "not supported",
	"jobs":     "there is no job control",
	"fg":       "there is no job control",
	"bg":       "there is no job control",
	"caller":   "not supported",
	"compgen":  "not supported",
	"complete": "not supported",
	"compopt":  "not supported",
	"bind":     "not supported",
	"history":  "not supported",
	"fc":       "not supported",
	"logout":   "not supported",
	"newgrp":   "not supported",
}

// unsupportedVars are variables bash sets and the interpreter does not
// (or sets to something else).
var unsupportedVars = map[string]string{
	"$":             "$$ is the pid of the ark daemon (there is no script process): it is not unique per run and ps/kill on it do not reach the script; use mktemp for temporary files, and kill -SIG $$ (which is supported) to signal the script",
	"BASHPID":       "not set: there is no script process",
	"PPID":          "is the parent of the ark daemon, not of the script",
	"FUNCNAME":      "not set",
	"BASH_VERSION":  "not set",
	"BASH_VERSINFO": "not set",
	"BASH_SOURCE":   "not set",
	"BASH_LINENO":   "not set",
	"BASH_ARGV":     "not set",
	"BASH_ARGC":     "not set",
	"BASH_COMMAND":  "not set",
	"PIPESTATUS":    "not set: the statuses of a pipeline's commands are not kept",
	"COPROC":        "coproc is not supported",
}

// declareFlags are the flags the interpreter's declare, local, typeset,
// export and readonly accept.
const declareFlags = "xranAgfp"

// setFlags are the single-letter options of set the interpreter has, and
// setOptions its -o names.
const setFlags = "aenfux"

var setOptions = []string{"allexport", "errexit", "noexec", "noglob", "nounset", "xtrace", "pipefail"}

// shoptOptions are the shopt options the interpreter can turn on.
var shoptOptions = []string{"dotglob", "expand_aliases", "extglob", "globstar", "nocaseglob", "nullglob"}

// okRedirs are the redirection operators the interpreter has.
var okRedirs = []syntax.RedirOperator{
	syntax.RdrOut, syntax.AppOut, syntax.RdrIn, syntax.DplIn, syntax.DplOut,
	syntax.Hdoc, syntax.DashHdoc, syntax.WordHdoc, syntax.RdrAll, syntax.AppAll,
}

// checker collects the findings of one script.
type checker struct {
	path     string
	funcs    map[string]bool
	killArgs map[*syntax.ParamExp]bool // $$ as an argument of kill: supported
	out      []interpreters.Finding
}

// check returns the constructs of f that the in-process engine cannot run
// with bash's meaning, in source order.
func check(path string, f *syntax.File) []interpreters.Finding {
	c := &checker{path: path, funcs: map[string]bool{}, killArgs: map[*syntax.ParamExp]bool{}}
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.FuncDecl:
			c.funcs[n.Name.Value] = true
		case *syntax.CallExpr:
			if name, _ := c.command(n); name == "kill" {
				for _, w := range n.Args[1:] {
					syntax.Walk(w, func(n syntax.Node) bool {
						if pe, ok := n.(*syntax.ParamExp); ok {
							c.killArgs[pe] = true
						}
						return true
					})
				}
			}
		}
		return true
	})
	syntax.Walk(f, c.visit)
	slices.SortStableFunc(c.out, func(a, b interpreters.Finding) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Col - b.Col
	})
	return c.out
}

func (c *checker) add(pos syntax.Pos, construct, format string, args ...any) {
	c.out = append(c.out, interpreters.Finding{
		Path: c.path, Line: int(pos.Line()), Col: int(pos.Col()),
		Construct: construct, Message: fmt.Sprintf(format, args...) + optOut,
	})
}

// command returns the name of the command a call runs (past command and
// builtin) and the index of its first argument; "" if it is not a
// literal or is one of the script's functions.
func (c *checker) command(call *syntax.CallExpr) (string, int) {
	if len(call.Args) == 0 {
		return "", 0
	}
	name, i := call.Args[0].Lit(), 1
	if (name == "command" || name == "builtin") && len(call.Args) > 1 {
		name, i = call.Args[1].Lit(), 2
	} else if c.funcs[name] {
		return "", 0
	}
	return name, i
}

func (c *checker) visit(n syntax.Node) bool {
	switch n := n.(type) {
	case *syntax.CallExpr:
		c.call(n)
	case *syntax.Stmt:
		for _, rd := range n.Redirs {
			c.redirect(rd)
		}
	case *syntax.CoprocClause:
		c.add(n.Pos(), "coproc", "coprocesses are not supported")
	case *syntax.DeclClause:
		c.decl(n)
	case *syntax.LetClause:
		for _, e := range n.Exprs {
			if w, ok := e.(*syntax.Word); ok && quoted(w) {
				c.add(w.Pos(), "let", "a quoted let expression (let \"x = x + 1\") is not evaluated; write (( x = x + 1 ))")
			}
		}
	case *syntax.Assign:
		if n.Name != nil && n.Name.Value == "SECONDS" {
			c.add(n.Pos(), "SECONDS=", "assigning SECONDS does not reset the counter")
		}
	case *syntax.ParamExp:
		c.param(n)
	}
	return true
}

func (c *checker) param(pe *syntax.ParamExp) {
	if pe.Param == nil {
		return
	}
	name := pe.Param.Value
	if msg, ok := unsupportedVars[name]; ok && !(name == "$" && c.killArgs[pe]) && !pe.Excl {
		construct := "$" + name
		c.add(pe.Pos(), construct, "%s", msg)
	}
	if pe.Exp != nil && pe.Exp.Op == syntax.OtherParamOps && pe.Exp.Word != nil {
		switch op := pe.Exp.Word.Lit(); op {
		case "Q", "K", "k", "A", "P":
			c.add(pe.Pos(), "${var@"+op+"}", "the @%s transformation is not done as bash does it", op)
		}
	}
}

func (c *checker) call(call *syntax.CallExpr) {
	name, i := c.command(call)
	if name == "" {
		return
	}
	args := call.Args[i:]
	pos := call.Args[i-1].Pos()
	lits := make([]string, len(args))
	for j, a := range args {
		lits[j], _ = literal(a)
	}
	if msg, ok := unsupportedBuiltins[name]; ok {
		c.add(pos, name, "the %s builtin: %s", name, msg)
		return
	}
	switch name {
	case "printf":
		if len(lits) > 0 && lits[0] == "-v" {
			c.add(pos, "printf -v", "printf -v is not supported (it prints -v); use var=$(printf ...)")
			return
		}
		if len(args) > 0 {
			if f, ok := literal(args[0]); ok {
				if bad := printfProblem(f); bad != "" {
					c.add(args[0].Pos(), "printf "+bad, "the printf format %s is not supported (only %%s %%b %%c %%d %%i %%u %%o %%x, with one of the flags - + space and a width); use awk", bad)
				}
			}
		}
	case "read":
		c.flags(pos, "read", lits, "srap", map[byte]string{
			't': "read -t (timeout) is not supported: the read would not time out",
		})
	case "mapfile", "readarray":
		c.flags(pos, name, lits, "td", nil)
	case "wait":
		c.flags(pos, "wait", lits, "nf", nil)
	case "exec":
		if len(lits) > 0 && len(lits[0]) > 1 && lits[0][0] == '-' && lits[0] != "--" {
			c.add(pos, "exec "+lits[0], "exec options (-a NAME, -c, -l) are not supported: the option is taken for the command")
		}
	case "set":
		c.set(pos, lits)
	case "shopt":
		c.shopt(pos, lits)
	case "trap":
		c.trap(call, args, lits)
	}
}

// flags reports the single-letter options of a builtin other than ok.
func (c *checker) flags(pos syntax.Pos, name string, lits []string, ok string, msgs map[byte]string) {
	for _, a := range lits {
		if a == "--" || len(a) < 2 || a[0] != '-' {
			return
		}
		for k := 1; k < len(a); k++ {
			if strings.IndexByte(ok, a[k]) >= 0 {
				continue
			}
			if m, found := msgs[a[k]]; found {
				c.add(pos, name+" -"+string(a[k]), "%s", m)
			} else {
				c.add(pos, name+" -"+string(a[k]), "%s -%c is not supported", name, a[k])
			}
		}
	}
}

func (c *checker) set(pos syntax.Pos, lits []string) {
	for k := 0; k < len(lits); k++ {
		a := lits[k]
		if a == "--" || a == "-" || len(a) < 2 || (a[0] != '-' && a[0] != '+') {
			return
		}
		for _, f := range a[1:] {
			switch {
			case f == 'o':
				if k+1 < len(lits) {
					k++
					if name := lits[k]; !slices.Contains(setOptions, name) && name != "" {
						c.add(pos, "set -o "+name, "the shell option %s is not supported", name)
					}
				}
			case !strings.ContainsRune(setFlags, f):
				c.add(pos, "set "+string(a[0])+string(f), "the shell option -%c is not supported", f)
			}
		}
	}
}

func (c *checker) shopt(pos syntax.Pos, lits []string) {
	set, posix := false, false
	for _, a := range lits {
		switch {
		case a == "-s":
			set = true
		case a == "-o":
			posix = true
		case strings.HasPrefix(a, "-"):
		case set && posix && !slices.Contains(setOptions, a), set && !posix && !slices.Contains(shoptOptions, a):
			c.add(pos, "shopt -s "+a, "the shell option %s is not supported", a)
		}
	}
}

func (c *checker) trap(call *syntax.CallExpr, args []*syntax.Word, lits []string) {
	k := 0
	for k < len(lits) && (lits[k] == "-l" || lits[k] == "-p" || lits[k] == "--") {
		k++
	}
	sigs := args[k:]
	ignore := false // trap '' SIG and trap - SIG are right whatever comes
	if len(sigs) > 1 {
		action, lit := literal(sigs[0])
		ignore = lit && (action == "" || action == "-")
		sigs = sigs[1:] // past the action
	} else {
		ignore = true
	}
	for _, w := range sigs {
		s, ok := literal(w)
		if !ok {
			continue
		}
		u := strings.ToUpper(s)
		switch {
		case u == "EXIT" || u == "ERR" || s == "0":
		case u == "DEBUG" || u == "RETURN":
			c.add(w.Pos(), "trap "+u, "%s traps are not supported", u)
		default:
			sig, ok := parseSignal(s)
			if !ok || ignore || sig == syscall.SIGKILL || sig == syscall.SIGSTOP || trappable[sig] {
				continue
			}
			c.add(w.Pos(), "trap SIG"+sigName(sig), "SIG%s never reaches a script run in-process (only HUP INT QUIT TERM USR1 USR2 ALRM do, through kill -SIG $$ or the deadline): the trap would not run", sigName(sig))
		}
	}
}

func (c *checker) decl(d *syntax.DeclClause) {
	for _, a := range d.Args {
		if !a.Naked || a.Value == nil {
			continue
		}
		f, ok := literal(a.Value)
		if !ok || len(f) < 2 || (f[0] != '-' && f[0] != '+') {
			continue
		}
		for _, ch := range f[1:] {
			switch {
			case ch == 'A':
				c.add(a.Pos(), d.Variant.Value+" -A", "associative arrays are not kept as in bash (${#m[@]} and the order of ${!m[@]} are wrong)")
			case !strings.ContainsRune(declareFlags, ch):
				c.add(a.Pos(), d.Variant.Value+" -"+string(ch), "%s -%c is not supported", d.Variant.Value, ch)
			}
		}
	}
}

func (c *checker) redirect(rd *syntax.Redirect) {
	if rd.N != nil {
		switch rd.N.Value {
		case "0", "1", "2":
		default:
			c.add(rd.N.Pos(), "fd "+rd.N.Value, "file descriptors other than 0, 1 and 2 are not supported (%s%s)", rd.N.Value, rd.Op)
			return
		}
	}
	if !slices.Contains(okRedirs, rd.Op) {
		c.add(rd.OpPos, rd.Op.String(), "the redirection %s is not supported", rd.Op)
		return
	}
	target, lit := "", false
	if rd.Word != nil {
		target, lit = literal(rd.Word)
	}
	switch rd.Op {
	case syntax.DplOut:
		if !lit || (target != "1" && target != "2" && target != "-") {
			c.add(rd.OpPos, ">&"+target, "duplicating file descriptors other than 1 and 2 is not supported")
		}
	case syntax.DplIn:
		if !lit || target != "-" {
			c.add(rd.OpPos, "<&"+target, "duplicating input file descriptors is not supported")
		}
	default:
		if lit && (strings.HasPrefix(target, "/dev/tcp/") || strings.HasPrefix(target, "/dev/udp/")) {
			c.add(rd.Word.Pos(), target, "bash's /dev/tcp and /dev/udp network redirections are not supported")
		}
	}
}

// literal returns the value of a word made only of literal text (quoted
// or not).
func literal(w *syntax.Word) (string, bool) {
	var b strings.Builder
	for _, p := range w.Parts {
		switch p := p.(type) {
		case *syntax.Lit:
			b.WriteString(p.Value)
		case *syntax.SglQuoted:
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			for _, q := range p.Parts {
				l, ok := q.(*syntax.Lit)
				if !ok {
					return "", false
				}
				b.WriteString(l.Value)
			}
		default:
			return "", false
		}
	}
	return b.String(), true
}

// quoted reports whether a word has quoted parts.
func quoted(w *syntax.Word) bool {
	for _, p := range w.Parts {
		switch p.(type) {
		case *syntax.SglQuoted, *syntax.DblQuoted:
			return true
		}
	}
	return false
}

// printfProblem returns the first conversion of a printf format that the
// interpreter rejects (mirroring its formatter), or "".
func printfProblem(f string) string {
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case '\\':
			i++ // an escape: never a conversion
		case '%':
			j := i + 1
			if j < len(f) && strings.IndexByte("+- ", f[j]) >= 0 {
				j++
			}
			for j < len(f) && f[j] >= '0' && f[j] <= '9' {
				j++
			}
			if j >= len(f) {
				return f[i:]
			}
			if f[j] == '(' { // %(fmt)T
				if k := strings.Index(f[j:], ")T"); k >= 0 {
					return f[i : j+k+2]
				}
			}
			if strings.IndexByte("sbdiuoxc%", f[j]) < 0 {
				end := j + 1
				for end < len(f) && strings.IndexByte("diouxXfFeEgGaAcsbqT%", f[end-1]) < 0 {
					end++
				}
				return f[i:end]
			}
			i = j
		}
	}
	return ""
}
