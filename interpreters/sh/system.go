package sh

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ark-ha/ark/interpreters"
)

//go:embed prelude.bash
var prelude []byte

// SystemBash is the bash NewSystem runs.
const SystemBash = "/bin/bash"

// NewSystem returns the engine (LangSystemBash) that runs scripts with
// the system's /bin/bash, for scripts that need full bash (shell=system):
// "/bin/bash SCRIPT ARGS..." with the Invocation's environment and
// directory. bash itself is started inside the action's containment, so
// the timeout and the process-tree kill are those of every action; at the
// deadline bash receives SIGTERM and runs its own traps, within the grace
// period. kill, $$, $! and traps are bash's own, unrestricted.
//
// The builtins log, logcmd, ark_state and ins_list are bash functions
// sourced before the script (through BASH_ENV, which the user may still
// set: it is sourced after them). They reach the engine over TCP on
// 127.0.0.1 with bash's /dev/tcp, each request carrying a random token
// of the run; nothing of this is left in the environment of the
// script's commands. A script error in a subshell ends the script with
// SIGKILL (no EXIT trap), in the main shell with exit 1. The engine is
// safe for concurrent use.
func NewSystem() interpreters.Engine { return systemEngine{bash: SystemBash} }

type systemEngine struct{ bash string }

var _ interpreters.Engine = systemEngine{}

// Lang returns LangSystemBash.
func (systemEngine) Lang() interpreters.Lang { return interpreters.LangSystemBash }

// bashSyntaxError matches what bash -n prints about a script read from
// its standard input.
var bashSyntaxError = regexp.MustCompile(`line (\d+): (.*)`)

// Check runs bash -n on the script: a syntax error is returned as
// file:line: message. bash runs everything else as bash: no findings.
func (e systemEngine) Check(s *interpreters.Script) ([]interpreters.Finding, error) {
	cmd := exec.Command(e.bash, "-n")
	cmd.Stdin = bytes.NewReader(s.Source)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err == nil {
		return nil, nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return nil, fmt.Errorf("check %s with %s: %w", s.Path, e.bash, err)
	}
	first, _, _ := strings.Cut(strings.TrimSpace(stderr.String()), "\n")
	if m := bashSyntaxError.FindStringSubmatch(first); m != nil {
		n, _ := strconv.Atoi(m[1])
		return nil, fmt.Errorf("%s:%d: %s", s.Path, n, m[2])
	}
	return nil, fmt.Errorf("%s: %s", s.Path, first)
}

// Run runs s with bash and returns its exit status. When ctx is done,
// bash has been sent SIGTERM by Execute: Run waits up to the grace
// period for it to run its traps and exit, then returns.
func (e systemEngine) Run(ctx context.Context, s *interpreters.Script, inv *interpreters.Invocation) interpreters.Outcome {
	fail := func(err error) interpreters.Outcome { return interpreters.Outcome{Status: 126, Err: err} }
	dir, err := os.MkdirTemp("", "ark-bash-")
	if err != nil {
		return fail(fmt.Errorf("run %s: temporary directory: %w", s.Path, err))
	}
	defer os.RemoveAll(dir)
	pre := filepath.Join(dir, "prelude.bash")
	if err := os.WriteFile(pre, prelude, 0o600); err != nil {
		return fail(fmt.Errorf("run %s: write the prelude: %w", s.Path, err))
	}
	// bash reads the script file itself, so that $0 and BASH_SOURCE are
	// its path; a copy when the file no longer holds the loaded source.
	file, ran := s.Path, ""
	if onDisk, err := os.ReadFile(s.Path); err != nil || !bytes.Equal(onDisk, s.Source) {
		file = filepath.Join(dir, filepath.Base(s.Path))
		if err := os.WriteFile(file, s.Source, 0o600); err != nil {
			return fail(fmt.Errorf("run %s: write a copy: %w", s.Path, err))
		}
		ran = file
	}

	srv, err := newServer(ctx, inv, s.Path, ran)
	if err != nil {
		return fail(fmt.Errorf("run %s: %w", s.Path, err))
	}
	defer srv.close()

	cmd, err := inv.Command(append([]string{e.bash, file}, inv.Args...))
	if err != nil {
		return fail(fmt.Errorf("run %s: %w", s.Path, err))
	}
	env := make([]string, 0, len(inv.Env)+4)
	for _, kv := range inv.Environ() {
		if !strings.HasPrefix(kv, "BASH_ENV=") {
			env = append(env, kv)
		}
	}
	env = append(env, "BASH_ENV="+pre, "__ARK_ENDPOINT="+srv.endpoint(), "__ARK_TOKEN="+srv.token)
	if v, ok := inv.Env["BASH_ENV"]; ok {
		env = append(env, "__ARK_USER_BASH_ENV="+v)
	}
	cmd.Env = env
	if inv.Stdout != nil {
		cmd.Stdout = inv.Stdout
	}
	if inv.Stderr != nil {
		cmd.Stderr = inv.Stderr
	}
	if err := inv.StartCommand(cmd); err != nil {
		return fail(fmt.Errorf("run %s: start %s: %w", s.Path, e.bash, err))
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	select {
	case err := <-done:
		if ferr := srv.scriptError(); ferr != nil {
			return interpreters.Outcome{Status: 1, Err: ferr}
		}
		return interpreters.Outcome{Status: interpreters.ExitStatus(err)}
	case <-ctx.Done():
	}
	grace := inv.Grace
	if grace <= 0 {
		grace = interpreters.DefaultGrace
	}
	t := time.NewTimer(grace - trapMargin(grace))
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
	return interpreters.Outcome{Status: interpreters.StatusTimedOut, Err: ctx.Err()}
}
