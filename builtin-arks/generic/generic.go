package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ark-ha/ark/interpreters"
	"github.com/ark-ha/ark/interpreters/engines"
	"github.com/ark-ha/ark/interpreters/proc"
	"github.com/ark-ha/ark/sdk/ark"
)

// Version of the GenericARK.
const Version = "0.1.0"

// Parameter names.
const (
	pDir       = "dir"
	pShell     = "shell"
	pGrace     = "grace"
	pQCFailure = "quickcheck_timeout_is_failure"
)

// DefaultQuickCheckTimeout is LifeKeeper's quickCheck timeout.
const DefaultQuickCheckTimeout = 22 * time.Second

var info = ark.Info{
	Type:    "generic",
	Version: Version,
	Doc: "Protects any application with user scripts (bash, Lua or Starlark). " +
		"Give restore and remove (and optionally quickCheck and recover) as script paths, " +
		"or dir: a directory holding restore*, remove*, quickCheck*, recover*. " +
		"Other parameters are passed to the scripts as PARAM_<NAME>.",
	Params: []ark.ParamSpec{
		{Name: string(ark.Restore), Type: ark.TypePath, Doc: "restore script: brings the application into service; must succeed if it already runs"},
		{Name: string(ark.Remove), Type: ark.TypePath, Doc: "remove script: takes it out of service; must succeed if it already is stopped"},
		{Name: string(ark.QuickCheck), Type: ark.TypePath, Doc: "quickCheck script: exit 0 if healthy; must not change anything"},
		{Name: string(ark.Recover), Type: ark.TypePath, Doc: "recover script: repairs in place after a failed quickCheck; exit 0 if recovered"},
		{Name: pDir, Type: ark.TypePath, Doc: "directory holding restore*, remove*, quickCheck*, recover* (instead of the four paths)"},
		{Name: pShell, Type: ark.TypeString, Doc: "\"system\" runs bash scripts with /bin/bash instead of the built-in interpreter (for scripts that need full bash); \"\" (default) the built-in one"},
		{Name: pGrace, Type: ark.TypeDuration, Default: "5s", Doc: "time between SIGTERM and SIGKILL when an action times out; the script's TERM trap runs in it"},
		{Name: pQCFailure, Type: ark.TypeBool, Default: "false", Doc: "count a quickCheck timeout as a failure (default: success with a warning, as LifeKeeper does)"},
	},
	Actions:         ark.Actions,
	DefaultTimeouts: map[ark.Action]time.Duration{ark.QuickCheck: DefaultQuickCheckTimeout},
	OpenParams:      true,
}

// Generic implements ark.ResourceType for user scripts.
type Generic struct {
	cgroupParent string // "" when cgroup v2 is not usable
	binDir       string // prepended to the scripts' PATH (arkctl, helpers)
	seq          atomic.Uint64
	// exit ends the process; the last resort when an engine cannot be
	// stopped (a Go builtin that ignores cancellation).
	exit func(code int)
}

var _ ark.ResourceType = (*Generic)(nil)

// New returns the GenericARK with containment in cgroup v2 when available.
func New() *Generic {
	g := &Generic{cgroupParent: proc.DefaultParent(), exit: os.Exit}
	if exe, err := os.Executable(); err == nil {
		g.binDir = filepath.Dir(exe)
	}
	return g
}

// Info implements ark.ResourceType.
func (g *Generic) Info(context.Context) (ark.Info, error) { return info, nil }

// Validate checks the schema, that restore and remove (or dir) are given,
// and that every script exists, has a known language and parses.
func (g *Generic) Validate(_ context.Context, params map[string]string) error {
	var errs []error
	if err := info.ValidateParams(params); err != nil {
		errs = append(errs, err)
	}
	if s := params[pShell]; s != "" && s != "system" {
		errs = append(errs, fmt.Errorf("parameter %q: %q is not \"system\" or empty", pShell, s))
	}
	scripts, err := resolve(params)
	if err != nil {
		errs = append(errs, err)
	}
	for _, a := range ark.Actions {
		path, ok := scripts[a]
		if !ok {
			continue
		}
		if _, _, err := g.load(path, params); err != nil {
			errs = append(errs, fmt.Errorf("%s script: %w", a, err))
		}
	}
	if len(errs) > 0 {
		return ark.Misconfigured(errors.Join(errs...))
	}
	return nil
}

// resolve maps each action to its script path, from the four path params or
// from dir. Restore and remove are required.
func resolve(params map[string]string) (map[ark.Action]string, error) {
	out := map[ark.Action]string{}
	for _, a := range ark.Actions {
		if p := params[string(a)]; p != "" {
			out[a] = p
		}
	}
	if dir := params[pDir]; dir != "" {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("parameter %q: %w", pDir, err)
		}
		for _, a := range ark.Actions {
			var found []string
			for _, e := range ents {
				if !e.IsDir() && strings.HasPrefix(e.Name(), string(a)) && !strings.HasSuffix(e.Name(), "~") {
					found = append(found, e.Name())
				}
			}
			switch {
			case len(found) > 1:
				return nil, fmt.Errorf("directory %s has %d %s scripts (%s): keep one", dir, len(found), a, strings.Join(found, ", "))
			case len(found) == 1 && out[a] != "":
				return nil, fmt.Errorf("%s is given both as parameter %q (%s) and in directory %s (%s)", a, a, out[a], dir, found[0])
			case len(found) == 1:
				out[a] = filepath.Join(dir, found[0])
			}
		}
	}
	var missing []string
	for _, a := range []ark.Action{ark.Restore, ark.Remove} {
		if out[a] == "" {
			missing = append(missing, string(a))
		}
	}
	if len(missing) > 0 {
		where := "give parameters restore and remove, or dir"
		if params[pDir] != "" {
			where = "directory " + params[pDir] + " has none"
		}
		return out, fmt.Errorf("missing required %s script (%s)", strings.Join(missing, " and "), where)
	}
	return out, nil
}

// load reads a script, picks its engine and parses it.
func (g *Generic) load(path string, params map[string]string) (*interpreters.Script, interpreters.Engine, error) {
	s, err := interpreters.Load(path)
	if err != nil {
		return nil, nil, err
	}
	if s.Lang == interpreters.LangBash && params[pShell] == "system" {
		s.Lang = interpreters.LangSystemBash
	}
	eng, err := engines.For(s.Lang)
	if err != nil {
		return nil, nil, err
	}
	if _, err := eng.Check(s); err != nil {
		return nil, nil, err
	}
	return s, eng, nil
}

// Restore implements ark.ResourceType.
func (g *Generic) Restore(ctx context.Context, req *ark.Request) (ark.Result, error) {
	return g.run(ctx, ark.Restore, req)
}

// Remove implements ark.ResourceType.
func (g *Generic) Remove(ctx context.Context, req *ark.Request) (ark.Result, error) {
	return g.run(ctx, ark.Remove, req)
}

// QuickCheck implements ark.ResourceType. A resource without a quickCheck
// script answers ErrNotSupported.
func (g *Generic) QuickCheck(ctx context.Context, req *ark.Request) (ark.Result, error) {
	return g.run(ctx, ark.QuickCheck, req)
}

// Recover implements ark.ResourceType. A resource without a recover script
// answers ErrNotSupported: the host goes straight to failover.
func (g *Generic) Recover(ctx context.Context, req *ark.Request) (ark.Result, error) {
	return g.run(ctx, ark.Recover, req)
}

func (g *Generic) run(ctx context.Context, action ark.Action, req *ark.Request) (ark.Result, error) {
	start := time.Now()
	scripts, err := resolve(req.Params)
	if err != nil {
		return ark.Result{}, ark.Misconfigured(fmt.Errorf("%s %s: %w", action, req.Tag, err))
	}
	path, ok := scripts[action]
	if !ok {
		return ark.Result{}, fmt.Errorf("%s %s: no %s script: %w", action, req.Tag, action, ark.ErrNotSupported)
	}
	s, eng, err := g.load(path, req.Params)
	if err != nil {
		// A script this node cannot read is this node's problem; one that
		// does not parse is everybody's.
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			return ark.Result{}, ark.NotInstalled(fmt.Errorf("%s %s: %w", action, req.Tag, err))
		}
		return ark.Result{}, ark.Misconfigured(fmt.Errorf("%s %s: %w", action, req.Tag, err))
	}
	grace, _ := time.ParseDuration(paramOr(req.Params, pGrace, "5s"))
	seq := g.seq.Add(1)
	opts := interpreters.Options{Timeout: req.Timeout, Grace: grace}
	if g.cgroupParent != "" {
		name := proc.SafeName(req.Tag)
		opts.Containment = proc.Options{
			CgroupParent: g.cgroupParent,
			Name:         filepath.Join(name, fmt.Sprintf("%s-%d-%d", action, os.Getpid(), seq)),
			Keep:         filepath.Join(g.cgroupParent, name, "service"),
		}
	}
	inv := &interpreters.Invocation{
		Args: []string{"-t", req.Tag, "-i", req.ID},
		Env:  g.environ(action, req),
		Log:  req.Log,
		Host: req.Host,
	}
	if inv.Log == nil {
		inv.Log = func(ark.LogLine) {}
	}
	res := interpreters.Execute(ctx, eng, s, inv, opts)
	if res.Stuck {
		inv.Logf(slog.LevelError, "ark", "%s %s: the %s engine did not stop %s after the deadline; ending the plugin process so the host starts a fresh one", action, req.Tag, s.Lang, grace)
		time.AfterFunc(time.Second, func() { g.exit(70) }) // let the reply reach the host first
	}
	return g.result(action, req, s, res, start), nil
}

func (g *Generic) result(action ark.Action, req *ark.Request, s *interpreters.Script, res interpreters.Result, start time.Time) ark.Result {
	out := ark.Result{Status: res.Status, TimedOut: res.TimedOut, Duration: time.Since(start)}
	rel := s.Path
	switch {
	case res.TimedOut && action == ark.QuickCheck && !isTrue(req.Params[pQCFailure]):
		out.Status = 0
		out.Message = fmt.Sprintf("quickCheck %s: %v", rel, res.Err)
		out.Warnings = append(out.Warnings, fmt.Sprintf("quickCheck of %s timed out after %s and is counted as success (set %s=true to count it as a failure)", req.Tag, res.Duration.Round(time.Millisecond), pQCFailure))
	case res.Err != nil: // engine errors begin with file:line already
		out.Message = fmt.Sprintf("%s: %v", action, res.Err)
	case res.Status == 0:
		out.Message = fmt.Sprintf("%s %s: exit 0", action, rel)
	default:
		out.Message = fmt.Sprintf("%s %s: exit %d", action, rel, res.Status)
	}
	if !res.TimedOut && res.Status != 0 && res.Status != 1 {
		out.Warnings = append(out.Warnings, fmt.Sprintf("%s script %s exited %d: the GenericARK contract asks for 0 (success) or 1 (failure); counted as failure", action, rel, res.Status))
	}
	if len(res.Killed) > 0 {
		out.Warnings = append(out.Warnings, fmt.Sprintf("%d process(es) ignored SIGTERM and were killed: %v", len(res.Killed), res.Killed))
	}
	if len(res.Survivors) > 0 {
		out.Warnings = append(out.Warnings, fmt.Sprintf("%d process(es) survived SIGKILL: %v", len(res.Survivors), res.Survivors))
	}
	return out
}

// environ builds the scripts' environment: a clean PATH with the ark
// binaries first (LifeKeeper puts $LKROOT/bin there), the host's DESIGN §4
// variables, and PARAM_<NAME> for every parameter.
func (g *Generic) environ(action ark.Action, req *ark.Request) map[string]string {
	env := map[string]string{
		"PATH": interpreters.DefaultPath,
		"HOME": "/",
		"LANG": "C.UTF-8",
	}
	if g.binDir != "" {
		env["PATH"] = g.binDir + ":" + interpreters.DefaultPath
	}
	for k, v := range req.Env {
		env[k] = v
	}
	for k, v := range ark.ParamEnv(req.Params) {
		env[k] = v
	}
	env["TAG"], env["ID"], env["ACTION"] = req.Tag, req.ID, string(action)
	if env["RESOURCE_TYPE"] == "" {
		env["RESOURCE_TYPE"] = info.Type
	}
	return env
}

func paramOr(p map[string]string, k, def string) string {
	if v := p[k]; v != "" {
		return v
	}
	return def
}

func isTrue(s string) bool {
	switch strings.ToLower(s) {
	case "true", "yes", "on", "1":
		return true
	}
	return false
}
