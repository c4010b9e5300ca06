package interpreters

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Lang is a script language.
type Lang string

// Languages. LangSystemBash runs a bash script with the system's /bin/bash
// instead of the in-process interpreter, for scripts that need full bash.
const (
	LangBash       Lang = "bash"
	LangLua        Lang = "lua"
	LangStarlark   Lang = "starlark"
	LangSystemBash Lang = "system-bash"
)

// Script is a loaded action script.
type Script struct {
	Path   string
	Source []byte
	Lang   Lang
}

// Load reads the script at path and detects its language.
func Load(path string) (*Script, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read script: %w", err)
	}
	lang, err := Detect(path, src)
	if err != nil {
		return nil, err
	}
	return &Script{Path: path, Source: src, Lang: lang}, nil
}

// Detect tells the language of a script from its extension (.sh, .bash,
// .lua, .star) or, when it has none of those, from its #! line. LifeKeeper
// scripts usually have no extension and start with #!/bin/sh or
// #!/bin/bash.
func Detect(path string, src []byte) (Lang, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".sh", ".bash":
		return LangBash, nil
	case ".lua":
		return LangLua, nil
	case ".star", ".starlark":
		return LangStarlark, nil
	}
	if bytes.HasPrefix(src, []byte("#!")) {
		line, _, _ := bytes.Cut(src, []byte("\n"))
		f := strings.Fields(strings.TrimPrefix(string(line), "#!"))
		if len(f) > 0 {
			prog := filepath.Base(f[0])
			if prog == "env" && len(f) > 1 {
				prog = filepath.Base(f[1])
				if strings.HasPrefix(prog, "-") && len(f) > 2 { // env -S
					prog = filepath.Base(f[2])
				}
			}
			switch {
			case prog == "sh" || prog == "bash" || prog == "dash" || prog == "ksh":
				return LangBash, nil
			case strings.HasPrefix(prog, "lua"):
				return LangLua, nil
			case prog == "starlark" || prog == "star":
				return LangStarlark, nil
			}
			return "", fmt.Errorf("%s: cannot run #!%s: the languages are bash (.sh, .bash, #!/bin/bash), Lua (.lua, #!/usr/bin/env lua) and Starlark (.star, #!/usr/bin/env starlark)", path, f[0])
		}
	}
	return "", fmt.Errorf("%s: cannot tell the script's language: name it .sh, .bash, .lua or .star, or start it with a #! line (#!/bin/bash, #!/usr/bin/env lua, #!/usr/bin/env starlark)", path)
}

// Finding is a problem found in a script without running it: a construct
// an engine cannot run with its real meaning.
type Finding struct {
	Path      string
	Line, Col int
	Construct string // e.g. "ulimit", "declare -A"
	Message   string // what goes wrong and what to do instead
}

func (f Finding) String() string {
	return fmt.Sprintf("%s:%d:%d: %s: %s", f.Path, f.Line, f.Col, f.Construct, f.Message)
}

// Outcome is what an engine reports when a script has ended.
type Outcome struct {
	Status int   // exit status; 0 success
	Err    error // runtime error (message begins with file:line), nil if none
}

// Engine runs scripts of one language. Implementations are safe for
// concurrent use: each Run gets its own interpreter state.
type Engine interface {
	// Lang returns the language the engine runs.
	Lang() Lang
	// Check parses s without running it. A syntax error is returned as an
	// error naming file:line; constructs the engine cannot run faithfully
	// come back as findings.
	Check(s *Script) ([]Finding, error)
	// Run runs s to its end and returns its exit status. It must return
	// soon after ctx is done (Execute cancels ctx at the action deadline),
	// reporting ctx.Err() in Outcome.Err. It must start every external
	// process through inv (StartCommand), so that containment holds.
	Run(ctx context.Context, s *Script, inv *Invocation) Outcome
}

// Result is what Execute reports.
type Result struct {
	Status   int
	Err      error // runtime or engine error, nil if none
	TimedOut bool
	Duration time.Duration
	// Killed lists the pids that had to be killed at the deadline (TERM
	// was not enough); Survivors those still alive afterwards (should
	// never happen with cgroups).
	Killed, Survivors []int
	// Left lists processes the action left running when it ended
	// normally: the services a restore started.
	Left []int
	// Stuck is set when the engine did not return even after the grace
	// period (a Go builtin that cannot be interrupted): the caller's last
	// resort is to end the whole process.
	Stuck bool
	// Containment says how processes were contained.
	Containment string
}
