package lua

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ark-ha/ark/interpreters"
	"github.com/ark-ha/ark/interpreters/internal/enginetest"
)

const path = "/scripts/test.lua"

// run runs src with the Lua engine directly (no Execute).
func run(t *testing.T, ctx context.Context, src string, env map[string]string) (interpreters.Outcome, *enginetest.Sink) {
	t.Helper()
	return enginetest.Run(t, ctx, New(), path, src, env)
}

func TestExitStatus(t *testing.T) {
	tests := []struct {
		src    string
		status int
	}{
		{"exit()", 0},
		{"exit(true)", 0},
		{"exit(false)", 1},
		{"exit(3)", 3},
		{"exit(3.9)", 3},
		{"exit(259)", 3},
		{"exit(-1)", 255},
		{"local x = 1", 0},
		{"return 5", 0}, // a chunk's return value is not its status
		{"coroutine.wrap(function() exit(6) end)()", 6},
		{"coroutine.resume(coroutine.create(function() exit(6) end))\nlog('info', 'X', 'not reached')", 6},
		{"retry(3, 0, function() exit(8) end)", 8},
	}
	for _, tt := range tests {
		out, _ := run(t, context.Background(), tt.src, nil)
		if out.Status != tt.status || out.Err != nil {
			t.Errorf("%s: status %d, err %v; want %d, nil", tt.src, out.Status, out.Err, tt.status)
		}
	}
}

func TestExitBadArgument(t *testing.T) {
	out, _ := run(t, context.Background(), `exit("three")`, nil)
	if out.Status != 1 || out.Err == nil || !strings.Contains(out.Err.Error(), "exit status must be a number or a boolean") {
		t.Errorf("status %d, err %v", out.Status, out.Err)
	}
}

// exit cannot be swallowed by pcall: the script stops at the next
// instruction and runs no further command.
func TestExitThroughPcall(t *testing.T) {
	target := filepath.Join(t.TempDir(), "created")
	out, logs := run(t, context.Background(), `
print(pcall(exit, 4))
run("touch", env.TARGET)
log("info", "AFTER", "not reached")
`, map[string]string{"TARGET": target, "PATH": interpreters.DefaultPath})
	if out.Status != 4 || out.Err != nil {
		t.Errorf("status %d, err %v; want 4, nil", out.Status, out.Err)
	}
	if _, err := os.Stat(target); err == nil {
		t.Errorf("a command ran after exit")
	}
	if strings.Contains(logs.String(), "AFTER") || strings.Contains(logs.String(), "stdout") {
		t.Errorf("the script went on after exit:\n%s", logs)
	}
}

func TestRuntimeErrorPosition(t *testing.T) {
	tests := []struct{ src, want string }{
		{"\nerror('boom')", path + ":2: boom"},
		{"\n\nerror('boom', 0)", path + ":3: boom"},
		{"error({})", path + ":1: table: "},
		{"local t = nil\nlocal x = t.y", path + ":2: attempt to index"},
		{"state('web')", path + ":1: state web: no host to ask"},
		{"sleep('x')", path + ":1: bad argument #1 to sleep"},
		{"run()", path + ":1: bad argument #1 to run"},
		{"retry(3, 0, function() error('inside') end)", path + ":1: inside"},
	}
	for _, tt := range tests {
		out, _ := run(t, context.Background(), tt.src, nil)
		if out.Status != 1 || out.Err == nil || !strings.HasPrefix(out.Err.Error(), tt.want) {
			t.Errorf("%q: status %d, err %v; want 1, %q...", tt.src, out.Status, out.Err, tt.want)
		}
	}
}

// A non-tail recursion overflows the call stack: an error, not a hang or
// an exhausted daemon.
func TestDeepRecursion(t *testing.T) {
	for _, src := range []string{
		"local function f() return 1 + f() end\nf()",
		"local function f(n) local t = {n, n, n} return f(n + 1) + 1 end\nf(1)",
	} {
		out, _ := run(t, context.Background(), src, nil)
		if out.Status != 1 || out.Err == nil || !strings.Contains(out.Err.Error(), "stack overflow") ||
			!strings.HasPrefix(out.Err.Error(), path+":1:") {
			t.Errorf("%q: status %d, err %v; want 1, %s:1: stack overflow", src, out.Status, out.Err, path)
		}
	}
}

// Exhausting the data stack is an error too, not a panic of the daemon nor
// minutes spent growing the stack.
func TestRegistryOverflow(t *testing.T) {
	for _, src := range []string{
		"local t = {}\nfor i = 1, 2000000 do t[i] = i end\nprint(select('#', unpack(t)))",
		"local function f(...) return 1 + f(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, ...) end\nf()",
	} {
		out, _ := run(t, context.Background(), src, nil)
		if out.Status != 1 || out.Err == nil || !strings.Contains(out.Err.Error(), "overflow") {
			t.Errorf("%q: status %d, err %v; want 1, overflow", src, out.Status, out.Err)
		}
	}
}

// Run returns once ctx is done, whatever the script is doing.
func TestCancel(t *testing.T) {
	for _, src := range []string{
		"while true do end",
		"local function f(n) return f(n + 1) end\nf(1)",                     // tail call: no stack growth
		"local co = coroutine.wrap(function() while true do end end)\nco()", // inside a coroutine
		"while true do pcall(function() while true do end end) end",         // pcall cannot hold it
		"retry(1000000, 0, function() local i = 0 while i < 1e5 do i = i + 1 end return false end)",
		"sleep(3600)",
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		out, _ := run(t, ctx, src, nil)
		cancel()
		if !errors.Is(out.Err, context.DeadlineExceeded) || out.Status != interpreters.StatusTimedOut {
			t.Errorf("%q: status %d, err %v; want %d, deadline exceeded", src, out.Status, out.Err, interpreters.StatusTimedOut)
		}
	}
}

func TestScriptEnvironment(t *testing.T) {
	out, logs := run(t, context.Background(), `
print(arg[0], #arg, arg[1], arg[2])
print(env.X, env.MISSING)
env.X = "changed"
local _, o = run("/bin/sh", "-c", "echo $X")
print(o)
print(1, true, nil, 2.5)
`, map[string]string{"X": "x-value", "PATH": interpreters.DefaultPath})
	if out.Status != 0 || out.Err != nil {
		t.Fatalf("status %d, err %v", out.Status, out.Err)
	}
	want := strings.Join([]string{
		"stdout " + path + "\t2\t-t\tweb",
		"stdout x-value\tnil",
		"stdout x-value\n", // commands see inv.Env, not the script's table
		"stdout 1\ttrue\tnil\t2.5",
	}, "\n")
	if logs.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", logs, want)
	}
}

func TestCheck(t *testing.T) {
	tests := []struct{ src, err string }{
		{"#!/usr/bin/env lua\nexit(0)\n", ""},
		{"local x = 1\nx = = 2\n", path + ":2:"},
		{"if true then\n", path + ":2: "},
		{"local t = {}\nfor i = 1, 10 do\n  t[i] = i\nend\nbreak\n", path + ":5:"},
	}
	for _, tt := range tests {
		s := &interpreters.Script{Path: path, Source: []byte(tt.src), Lang: interpreters.LangLua}
		_, err := New().Check(s)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("Check(%q) = %v, want nil", tt.src, err)
		case tt.err != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.err)):
			t.Errorf("Check(%q) = %v, want an error beginning with %q", tt.src, err, tt.err)
		}
		if tt.err != "" {
			out, _ := run(t, context.Background(), tt.src, nil)
			if out.Status != StatusSyntaxError || out.Err == nil {
				t.Errorf("Run(%q) = %d, %v; want %d and the syntax error", tt.src, out.Status, out.Err, StatusSyntaxError)
			}
		}
	}
}

// Every Run has its own state: globals and the string metatable do not
// leak from one run to the next.
func TestIsolation(t *testing.T) {
	out, _ := run(t, context.Background(), `leaked = 1; getmetatable("").__index.upper = nil`, nil)
	if out.Err != nil {
		t.Fatal(out.Err)
	}
	out, logs := run(t, context.Background(), `print(leaked, ("x"):upper())`, nil)
	if out.Err != nil || logs.String() != "stdout nil\tX" {
		t.Errorf("err %v, output %q", out.Err, logs)
	}
}
