package sh

import (
	"fmt"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// Shell variables the rewritten script uses to tell the handlers where a
// command runs. They are never exported.
const (
	varSub     = "__ark_sub" // set in every subshell: traps run only where it is unset
	varJob     = "__ark_job" // id of the background job a command belongs to
	varLastJob = "__ark_bg"  // id of the last background job this shell started ($!)
)

// Internal commands the rewritten script calls; the handlers implement
// them.
const (
	cmdJobNew  = "__ark_job_new" // allocate a job id into varLastJob
	cmdJobEnd  = "__ark_job_end" // the job ends with status $1
	cmdBgPid   = "__ark_bgpid"   // print $! of varLastJob
	cmdKill    = "__ark_kill"    // the kill builtin
	cmdWait    = "__ark_wait"    // the wait builtin
	cmdStatus  = "__ark_status"  // return status $1
	cmdTrapNow = "__ark_trapnow" // run a pending trap, then return status $1
)

// rewrite prepares a parsed script for the in-process engine, in place:
//
//   - a background statement "X &" becomes
//     "__ark_job_new; { __ark_sub=1; __ark_job=${__ark_bg-}; ( X ) &&
//     __ark_job_end 0 || __ark_job_end $?; } &", so that the handlers know
//     which job a process belongs to, and when the job ends;
//   - $! and ${!} become $(__ark_bgpid), the pid of the job's process;
//   - subshells, command and process substitutions and the left side of
//     pipelines set __ark_sub, so that signal traps run in the main shell
//     only, and substitutions clear __ark_job (their processes are not
//     the job's).
//
// It returns the names of the functions the script defines: calls to
// them are never taken for builtins.
func rewrite(f *syntax.File) map[string]bool {
	rw := &rewriter{funcs: map[string]bool{}, generated: map[syntax.Node]bool{}}
	f.Stmts = rw.stmts(f.Stmts)
	syntax.Walk(f, rw.visit)
	return rw.funcs
}

type rewriter struct {
	funcs     map[string]bool
	generated map[syntax.Node]bool // nodes made here: not rewritten again
}

func (rw *rewriter) visit(n syntax.Node) bool {
	if n == nil || rw.generated[n] {
		return true
	}
	switch n := n.(type) {
	case *syntax.FuncDecl:
		if n.Name != nil {
			rw.funcs[n.Name.Value] = true
		}
		n.Body = rw.stmt(n.Body)
	case *syntax.Block:
		n.Stmts = rw.stmts(n.Stmts)
	case *syntax.Subshell:
		n.Stmts = rw.stmts(n.Stmts)
		n.Stmts = append([]*syntax.Stmt{rw.snippet(varSub + "=1")}, n.Stmts...)
	case *syntax.IfClause:
		n.Cond = rw.stmts(n.Cond)
		n.Then = rw.stmts(n.Then)
	case *syntax.WhileClause:
		n.Cond = rw.stmts(n.Cond)
		n.Do = rw.stmts(n.Do)
	case *syntax.ForClause:
		n.Do = rw.stmts(n.Do)
	case *syntax.CaseItem:
		n.Stmts = rw.stmts(n.Stmts)
	case *syntax.TimeClause:
		n.Stmt = rw.stmt(n.Stmt)
	case *syntax.CoprocClause:
		n.Stmt = rw.stmt(n.Stmt)
	case *syntax.BinaryCmd:
		n.X, n.Y = rw.stmt(n.X), rw.stmt(n.Y)
		if n.Op == syntax.Pipe || n.Op == syntax.PipeAll {
			// The left side runs in a subshell.
			n.X = &syntax.Stmt{Position: n.X.Position, Cmd: &syntax.Block{
				Lbrace: n.X.Position, Rbrace: n.X.End(),
				Stmts: []*syntax.Stmt{rw.snippet(varSub + "=1"), n.X},
			}}
			rw.generated[n.X] = true
			rw.generated[n.X.Cmd] = true
		}
	case *syntax.Stmt:
		if isKill(n.Cmd) {
			// { kill ...; __ark_trapnow $?; }: a signal the main shell
			// sends itself runs its trap before the next command.
			kill := &syntax.Stmt{Position: n.Position, Cmd: n.Cmd}
			rw.generated[kill] = true
			n.Cmd = &syntax.Block{Lbrace: n.Position, Rbrace: n.End(),
				Stmts: []*syntax.Stmt{kill, rw.snippet(cmdTrapNow + " $?")}}
			rw.generated[n.Cmd] = true
		}
	case *syntax.CmdSubst:
		n.Stmts = rw.stmts(n.Stmts)
		if !catShortcut(n) {
			n.Stmts = append([]*syntax.Stmt{rw.snippet(varSub + "=1 " + varJob + "=")}, n.Stmts...)
		}
	case *syntax.ProcSubst:
		n.Stmts = rw.stmts(n.Stmts)
		n.Stmts = append([]*syntax.Stmt{rw.snippet(varSub + "=1 " + varJob + "=")}, n.Stmts...)
	case *syntax.Word:
		n.Parts = rw.parts(n.Parts)
	case *syntax.DblQuoted:
		n.Parts = rw.parts(n.Parts)
	}
	return true
}

// stmts rewrites the background statements of a list.
func (rw *rewriter) stmts(list []*syntax.Stmt) []*syntax.Stmt {
	var out []*syntax.Stmt
	for i, st := range list {
		if !isBackground(st) || rw.generated[st] {
			if out != nil {
				out = append(out, st)
			}
			continue
		}
		if out == nil {
			out = append(make([]*syntax.Stmt, 0, len(list)+1), list[:i]...)
		}
		out = append(out, rw.job(st)...)
	}
	if out == nil {
		return list
	}
	return out
}

// stmt rewrites a lone statement (a function body, an operand): a
// background one becomes a block.
func (rw *rewriter) stmt(st *syntax.Stmt) *syntax.Stmt {
	if st == nil || !isBackground(st) || rw.generated[st] {
		return st
	}
	b := &syntax.Stmt{Position: st.Position, Cmd: &syntax.Block{Lbrace: st.Position, Rbrace: st.End(), Stmts: rw.job(st)}}
	rw.generated[b] = true
	return b
}

func isBackground(st *syntax.Stmt) bool { return st.Background || st.Disown }

// job returns the statements that replace the background statement st.
func (rw *rewriter) job(st *syntax.Stmt) []*syntax.Stmt {
	fg := *st
	fg.Background, fg.Disown = false, false
	newJob := rw.snippet(cmdJobNew)
	run := rw.snippet("{ " + varSub + "=1; " + varJob + "=${" + varLastJob + "-}; ( : ) && " +
		cmdJobEnd + " 0 || " + cmdJobEnd + " $?; } &")
	syntax.Walk(run, func(n syntax.Node) bool {
		if sub, ok := n.(*syntax.Subshell); ok {
			sub.Stmts = []*syntax.Stmt{&fg}
			return false
		}
		return true
	})
	newJob.Position, run.Position = st.Position, st.Position
	return []*syntax.Stmt{newJob, run}
}

// parts replaces $! and ${!} by $(__ark_bgpid).
func (rw *rewriter) parts(parts []syntax.WordPart) []syntax.WordPart {
	for i, p := range parts {
		pe, ok := p.(*syntax.ParamExp)
		if !ok || !isBangParam(pe) {
			continue
		}
		cs := &syntax.CmdSubst{Left: pe.Pos(), Right: pe.End(), Stmts: []*syntax.Stmt{rw.snippet(cmdBgPid)}}
		rw.generated[cs] = true
		parts[i] = cs
	}
	return parts
}

// isBangParam reports whether pe is a plain $! or ${!}.
func isBangParam(pe *syntax.ParamExp) bool {
	return pe.Param != nil && pe.Param.Value == "!" && !pe.Excl && !pe.Length && !pe.Width &&
		pe.Index == nil && pe.Slice == nil && pe.Repl == nil && pe.Exp == nil && pe.Names == 0
}

// catShortcut reports whether cs is $(<file), which the interpreter reads
// itself and which must stay a single statement.
func catShortcut(cs *syntax.CmdSubst) bool {
	if len(cs.Stmts) != 1 {
		return false
	}
	st := cs.Stmts[0]
	return st.Cmd == nil && len(st.Redirs) == 1 && st.Redirs[0].Op == syntax.RdrIn
}

// snippet parses one generated statement and marks all its nodes as
// generated.
func (rw *rewriter) snippet(src string) *syntax.Stmt {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(src), "")
	if err != nil || len(f.Stmts) != 1 {
		panic(fmt.Sprintf("sh: bad generated statement %q: %v", src, err))
	}
	st := f.Stmts[0]
	syntax.Walk(st, func(n syntax.Node) bool {
		if n != nil {
			rw.generated[n] = true
		}
		return true
	})
	return st
}

// isKill reports whether cmd calls kill (by its literal name).
func isKill(cmd syntax.Command) bool {
	call, ok := cmd.(*syntax.CallExpr)
	if !ok || len(call.Args) == 0 {
		return false
	}
	name := call.Args[0].Lit()
	if (name == "command" || name == "builtin") && len(call.Args) > 1 {
		name = call.Args[1].Lit()
	}
	return name == "kill"
}
