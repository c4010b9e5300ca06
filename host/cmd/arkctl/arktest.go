package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ark-ha/ark/host/scripttest"
	"github.com/ark-ha/ark/interpreters"
	"github.com/ark-ha/ark/interpreters/engines"
	"github.com/ark-ha/ark/sdk/ark"
)

const arkTestHelp = `Usage: arkctl ark test [flags] DIR|FILES...

Runs GenericARK scripts through the real ark-generic plugin process, the way
a cluster will, and checks what a cluster relies on:

  restore -> quickCheck (expect 0) -> restore again (must succeed and must not
  start a second instance) -> remove (the service's processes must be gone) ->
  quickCheck (expect non-zero) -> remove again (must succeed) -> restore ->
  kill the service's processes -> quickCheck (expect non-zero) -> recover ->
  quickCheck (expect 0) -> remove (nothing may be left running)

and, before anything runs, that every script parses and uses no bash construct
the built-in interpreter cannot run (give --shell system for full bash).
Every action runs under its timeout; a quickCheck that leaves processes behind
fails. One line per check: PASS, FAIL, WARN or SKIP with the reason.

DIR holds restore*, remove*, quickCheck*, recover* (LifeKeeper's layout); or
give the script files, named so that each starts with its action.

Exit status: 0 if no check failed, 1 if one did, 2 on a usage error.

Flags:
`

type kv map[string]string

func (m kv) String() string { return fmt.Sprint(map[string]string(m)) }
func (m kv) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not KEY=VALUE", s)
	}
	m[k] = v
	return nil
}

func arkTest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("arkctl ark test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	params, timeouts := kv{}, kv{}
	tag := fs.String("tag", "", "resource tag the scripts see as $TAG (default: arktest-<name of DIR>)")
	id := fs.String("id", "", "resource id ($ID; default: the tag)")
	fs.Var(params, "param", "KEY=VALUE parameter, seen as PARAM_<KEY> (repeatable)")
	fs.Var(timeouts, "timeout", "ACTION=DURATION timeout of an action, e.g. quickCheck=5s (repeatable; 0 = none)")
	shell := fs.String("shell", "", `"system" runs bash scripts with /bin/bash instead of the built-in interpreter`)
	plugin := fs.String("plugin", "", "path of the ark-generic plugin binary (default: next to arkctl, then $PATH)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	verbose := fs.Bool("v", false, "also print the lines the scripts log")
	// The flag package calls Usage for -help too: print the help once,
	// on stdout, after parsing; a bad flag gets its error and a pointer.
	fs.Usage = func() {}
	paths, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stdout)
		fmt.Fprint(stdout, arkTestHelp)
		fs.PrintDefaults()
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "see 'arkctl ark test --help'")
		return exitUsage
	}
	if len(paths) == 0 {
		fmt.Fprintln(stderr, "arkctl ark test: give a directory of scripts or the script files")
		return exitUsage
	}
	if *shell != "" {
		params["shell"] = *shell
	}
	tos := map[ark.Action]time.Duration{}
	for k, v := range timeouts {
		a, err := ark.ParseAction(k)
		if err != nil {
			fmt.Fprintf(stderr, "arkctl ark test: --timeout %s=%s: %v\n", k, v, err)
			return exitUsage
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			fmt.Fprintf(stderr, "arkctl ark test: --timeout %s=%s: not a duration (e.g. 30s)\n", k, v)
			return exitUsage
		}
		tos[a] = d
	}
	target, scripts, err := scriptParams(paths, params)
	if err != nil {
		fmt.Fprintf(stderr, "arkctl ark test: %v\n", err)
		return exitUsage
	}
	if *tag == "" {
		*tag = "arktest-" + safeTag(filepath.Base(strings.TrimRight(target, "/")))
	}
	if *id == "" {
		*id = *tag
	}

	rep := &scripttest.Report{Target: target, Tag: *tag}
	static := staticChecks(scripts, params["shell"] == "system")
	rep.Checks = append(rep.Checks, static...)
	staticOK := true
	for _, c := range static {
		if c.Verdict == scripttest.Fail && c.Step == "syntax" {
			staticOK = false
		}
	}
	if staticOK {
		bin, err := pluginPath(*plugin)
		if err != nil {
			fmt.Fprintf(stderr, "arkctl ark test: %v\n", err)
			return exitUsage
		}
		logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		rt, pid, closePlugin, err := launchPlugin(ctx, bin, logger)
		if err != nil {
			fmt.Fprintf(stderr, "arkctl ark test: start plugin %s: %v\n", bin, err)
			return exitFailed
		}
		var logs func(ark.Action, ark.LogLine)
		if *verbose && !*asJSON {
			logs = func(a ark.Action, l ark.LogLine) {
				fmt.Fprintf(stdout, "      %-10s %-5s %s %s\n", a, levelName(l.Level), l.Code, l.Message)
			}
		}
		run := scripttest.Run(ctx, rt, scripttest.Options{
			Tag: *tag, ID: *id, Params: params, Timeouts: tos, PluginPID: pid,
			Log: logs, Actions: sortedActions(scripts), Node: hostname(), Cluster: "arktest",
		})
		closePlugin()
		rep.Checks = append(rep.Checks, run.Checks...)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(struct {
			*scripttest.Report
			OK bool `json:"ok"`
		}{rep, rep.OK()})
	} else {
		printReport(stdout, rep)
	}
	if !rep.OK() {
		return exitFailed
	}
	return exitOK
}

// parseInterspersed parses flags that may come after positional arguments
// (arkctl ark test DIR --json).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// scriptParams turns DIR or FILES into the GenericARK parameters.
func scriptParams(paths []string, params map[string]string) (target string, scripts map[ark.Action]string, err error) {
	scripts = map[ark.Action]string{}
	if len(paths) == 1 {
		if fi, err := os.Stat(paths[0]); err == nil && fi.IsDir() {
			dir, _ := filepath.Abs(paths[0])
			params["dir"] = dir
			ents, err := os.ReadDir(dir)
			if err != nil {
				return "", nil, err
			}
			for _, e := range ents {
				if a := actionOfFile(e.Name()); a != "" && !e.IsDir() {
					if prev, dup := scripts[a]; dup {
						return "", nil, fmt.Errorf("%s has two %s scripts: %s and %s", paths[0], a, filepath.Base(prev), e.Name())
					}
					scripts[a] = filepath.Join(dir, e.Name())
				}
			}
			return paths[0], scripts, nil
		}
	}
	for _, p := range paths {
		a := actionOfFile(filepath.Base(p))
		if a == "" {
			return "", nil, fmt.Errorf("%s: cannot tell which action it is: name it restore*, remove*, quickCheck* or recover*", p)
		}
		if prev, dup := scripts[a]; dup {
			return "", nil, fmt.Errorf("two %s scripts: %s and %s", a, prev, p)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return "", nil, err
		}
		scripts[a] = abs
		params[string(a)] = abs
	}
	return filepath.Dir(paths[0]), scripts, nil
}

func actionOfFile(name string) ark.Action {
	if strings.HasSuffix(name, "~") {
		return ""
	}
	for _, a := range ark.Actions {
		if strings.HasPrefix(name, string(a)) {
			return a
		}
	}
	return ""
}

// staticChecks parses every script and lists what the interpreter cannot
// run, before anything runs.
func staticChecks(scripts map[ark.Action]string, system bool) []scripttest.Check {
	var out []scripttest.Check
	found := sortedActions(scripts)
	names := make([]string, len(found))
	langs := map[interpreters.Lang]bool{}
	for i, a := range found {
		names[i] = string(a)
	}
	var missing []string
	for _, a := range []ark.Action{ark.Restore, ark.Remove} {
		if scripts[a] == "" {
			missing = append(missing, string(a))
		}
	}
	if len(missing) > 0 {
		return append(out, scripttest.Check{Verdict: scripttest.Fail, Step: "syntax", Reason: "missing required " + strings.Join(missing, " and ") + " script"})
	}
	parsed := 0
	for _, a := range found {
		s, err := interpreters.Load(scripts[a])
		if err != nil {
			out = append(out, scripttest.Check{Verdict: scripttest.Fail, Step: "syntax", Reason: err.Error()})
			continue
		}
		if system && s.Lang == interpreters.LangBash {
			s.Lang = interpreters.LangSystemBash
		}
		langs[s.Lang] = true
		eng, err := engines.For(s.Lang)
		if err != nil {
			out = append(out, scripttest.Check{Verdict: scripttest.Fail, Step: "syntax", Reason: err.Error()})
			continue
		}
		findings, err := eng.Check(s)
		if err != nil {
			out = append(out, scripttest.Check{Verdict: scripttest.Fail, Step: "syntax", Reason: err.Error(), Where: s.Path})
			continue
		}
		parsed++
		for _, f := range findings {
			out = append(out, scripttest.Check{Verdict: scripttest.Fail, Step: "bash compatibility",
				Reason: fmt.Sprintf("%s: %s (or run with --shell system / shell=system for full bash)", f.Construct, f.Message),
				Where:  fmt.Sprintf("%s:%d", f.Path, f.Line)})
		}
	}
	ls := make([]string, 0, len(langs))
	for l := range langs {
		ls = append(ls, string(l))
	}
	sort.Strings(ls)
	head := []scripttest.Check{{Verdict: scripttest.Pass, Step: "scripts", Reason: strings.Join(names, ", ") + " (" + strings.Join(ls, ", ") + ")"}}
	if parsed == len(found) {
		head = append(head, scripttest.Check{Verdict: scripttest.Pass, Step: "syntax", Reason: fmt.Sprintf("%d scripts parse", parsed)})
	}
	return append(head, out...)
}

func sortedActions(scripts map[ark.Action]string) []ark.Action {
	var out []ark.Action
	for _, a := range ark.Actions {
		if scripts[a] != "" {
			out = append(out, a)
		}
	}
	return out
}

func printReport(w io.Writer, rep *scripttest.Report) {
	fmt.Fprintf(w, "ark test %s (tag %s)\n", rep.Target, rep.Tag)
	for _, c := range rep.Checks {
		reason := c.Reason
		if c.Where != "" {
			reason = c.Where + ": " + reason
		}
		fmt.Fprintf(w, "%-4s  %-26s %s\n", c.Verdict, c.Step, reason)
	}
	verdict := "PASS"
	if !rep.OK() {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "summary: %s (%d pass, %d fail, %d warn, %d skip)\n", verdict,
		rep.Count(scripttest.Pass), rep.Count(scripttest.Fail), rep.Count(scripttest.Warn), rep.Count(scripttest.Skip))
}

func levelName(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARN"
	case l >= slog.LevelInfo:
		return "INFO"
	}
	return "DEBUG"
}

func safeTag(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

// pluginPath finds the ark-generic binary: the flag, next to arkctl, $PATH.
func pluginPath(flagValue string) (string, error) {
	if flagValue != "" {
		return filepath.Abs(flagValue)
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "ark-generic")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := execLookPath("ark-generic"); err == nil {
		return p, nil
	}
	return "", errors.New("cannot find the ark-generic plugin next to arkctl or on $PATH: run 'make build' or give --plugin PATH")
}
