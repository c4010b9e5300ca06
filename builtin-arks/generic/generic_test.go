package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ark-ha/ark/interpreters"
	"github.com/ark-ha/ark/sdk/ark"
)

// writeScripts writes name→body files into a new directory.
func writeScripts(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestValidate(t *testing.T) {
	ok := writeScripts(t, map[string]string{"restore.lua": "exit(0)\n", "remove.lua": "exit(0)\n"})
	bad := writeScripts(t, map[string]string{"restore.lua": "if then\n", "remove.lua": "exit(0)\n"})
	two := writeScripts(t, map[string]string{"restore.lua": "", "restore.star": "", "remove.lua": ""})
	unknown := writeScripts(t, map[string]string{"restore": "echo hi\n", "remove.lua": ""})
	tests := []struct {
		name   string
		params map[string]string
		want   []string // substrings of the error; none: valid
	}{
		{"dir", map[string]string{"dir": ok}, nil},
		{"paths", map[string]string{"restore": ok + "/restore.lua", "remove": ok + "/remove.lua"}, nil},
		{"user params pass", map[string]string{"dir": ok, "port": "7000"}, nil},
		{"nothing", map[string]string{}, []string{"missing required restore and remove script"}},
		{"no remove", map[string]string{"restore": ok + "/restore.lua"}, []string{"missing required remove script"}},
		{"missing file", map[string]string{"restore": "/nonexistent/restore.sh", "remove": ok + "/remove.lua"}, []string{"restore script", "/nonexistent/restore.sh"}},
		{"syntax error names file and line", map[string]string{"dir": bad}, []string{"restore script", bad + "/restore.lua", "1"}},
		{"two restore scripts", map[string]string{"dir": two}, []string{"restore.lua", "restore.star", "keep one"}},
		{"unknown language", map[string]string{"dir": unknown}, []string{"cannot tell the script's language"}},
		{"bad shell", map[string]string{"dir": ok, "shell": "zsh"}, []string{`"zsh" is not "system"`}},
		{"typo", map[string]string{"dir": ok, "restor": "x"}, []string{`did you mean "restore"`}},
		{"bad grace", map[string]string{"dir": ok, "grace": "soon"}, []string{`"soon" is not a duration`}},
		{"missing dir", map[string]string{"dir": "/nonexistent-dir"}, []string{`parameter "dir"`, "/nonexistent-dir"}},
	}
	g := New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := g.Validate(context.Background(), tt.params)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error containing %q", tt.want)
			}
			if !errors.Is(err, ark.ErrMisconfigured) {
				t.Errorf("%v is not ErrMisconfigured", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

type logs struct {
	mu    sync.Mutex
	lines []ark.LogLine
}

func (l *logs) add(x ark.LogLine) { l.mu.Lock(); l.lines = append(l.lines, x); l.mu.Unlock() }

func (l *logs) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, x := range l.lines {
		b.WriteString(x.Code + " " + x.Message + "\n")
	}
	return b.String()
}

func request(params map[string]string, timeout time.Duration, l *logs) *ark.Request {
	return &ark.Request{
		Tag: "web", ID: "web-1", Params: params, Timeout: timeout, Log: l.add,
		Env: ark.EnvSpec{Tag: "web", ID: "web-1", Event: ark.EventFailover, Server: ark.ServerOther, Group: "g"}.Environ(),
	}
}

func TestEnvironmentAndArgs(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"restore.lua": `log("info", "env", env.TAG .. " " .. env.ID .. " " .. env.ACTION .. " " .. env.PARAM_PORT .. " " ..
			env.ARK_EVENT .. " " .. env.ARMS_EVENT .. " " .. env.CLP_SERVER .. " " .. env.ARMS_GROUPNAME .. " " .. env.RESOURCE_TYPE)
log("info", "args", table.concat(arg, " "))
log("info", "path", env.PATH)`,
		"remove.lua": "",
	})
	var l logs
	res, err := New().Restore(context.Background(), request(map[string]string{"dir": dir, "port": "7000"}, 0, &l))
	if err != nil || res.Status != 0 {
		t.Fatalf("restore = %+v, %v\nlog:\n%s", res, err, l.text())
	}
	for _, want := range []string{
		"env web web-1 restore 7000 FAILOVER FAILOVER OTHER g generic",
		"args -t web -i web-1",
		"path ", interpreters.DefaultPath,
	} {
		if !strings.Contains(l.text(), want) {
			t.Errorf("log lacks %q:\n%s", want, l.text())
		}
	}
}

func TestResults(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"restore.lua":    "exit(3)",
		"remove.lua":     "error('boom')",
		"quickCheck.lua": "sleep(30)",
	})
	g := New()
	ctx := context.Background()

	t.Run("exit code other than 0 or 1 fails and is flagged", func(t *testing.T) {
		var l logs
		res, err := g.Restore(ctx, request(map[string]string{"dir": dir}, 0, &l))
		if err != nil || res.Status != 3 || res.OK() {
			t.Fatalf("restore = %+v, %v", res, err)
		}
		if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "0 (success) or 1 (failure)") {
			t.Errorf("warnings = %q", res.Warnings)
		}
	})
	t.Run("runtime error names file and line", func(t *testing.T) {
		var l logs
		res, err := g.Remove(ctx, request(map[string]string{"dir": dir}, 0, &l))
		if err != nil || res.OK() || !strings.Contains(res.Message, dir+"/remove.lua:1") || !strings.Contains(res.Message, "boom") {
			t.Fatalf("remove = %+v, %v", res, err)
		}
	})
	t.Run("quickCheck timeout counts as success with a warning", func(t *testing.T) {
		var l logs
		res, err := g.QuickCheck(ctx, request(map[string]string{"dir": dir, "grace": "100ms"}, 200*time.Millisecond, &l))
		if err != nil || !res.OK() || !res.TimedOut {
			t.Fatalf("quickCheck = %+v, %v", res, err)
		}
		if len(res.Warnings) == 0 || !strings.Contains(res.Warnings[0], "counted as success") {
			t.Errorf("warnings = %q", res.Warnings)
		}
	})
	t.Run("quickCheck timeout fails when the resource asks", func(t *testing.T) {
		var l logs
		res, err := g.QuickCheck(ctx, request(map[string]string{"dir": dir, "grace": "100ms", pQCFailure: "true"}, 200*time.Millisecond, &l))
		if err != nil || res.OK() || !res.TimedOut || res.Status != interpreters.StatusTimedOut {
			t.Fatalf("quickCheck = %+v, %v", res, err)
		}
	})
	t.Run("missing recover is not supported", func(t *testing.T) {
		var l logs
		_, err := g.Recover(ctx, request(map[string]string{"dir": dir}, 0, &l))
		if !errors.Is(err, ark.ErrNotSupported) {
			t.Fatalf("recover error = %v, want ErrNotSupported", err)
		}
	})
	t.Run("script missing on this node is not installed", func(t *testing.T) {
		var l logs
		_, err := g.Restore(ctx, request(map[string]string{"restore": "/nonexistent/restore.lua", "remove": dir + "/remove.lua"}, 0, &l))
		if !errors.Is(err, ark.ErrNotInstalled) || !strings.Contains(err.Error(), "/nonexistent/restore.lua") {
			t.Fatalf("restore error = %v, want ErrNotInstalled naming the file", err)
		}
	})
	t.Run("syntax error is misconfigured", func(t *testing.T) {
		bad := writeScripts(t, map[string]string{"restore.lua": "if then", "remove.lua": ""})
		var l logs
		_, err := g.Restore(ctx, request(map[string]string{"dir": bad}, 0, &l))
		if !errors.Is(err, ark.ErrMisconfigured) || !strings.Contains(err.Error(), bad+"/restore.lua") {
			t.Fatalf("restore error = %v, want ErrMisconfigured naming the file", err)
		}
	})
}
