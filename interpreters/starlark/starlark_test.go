package starlark

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ark-ha/ark/interpreters"
	"github.com/ark-ha/ark/interpreters/internal/enginetest"
)

const path = "/scripts/test.star"

// run runs src with the Starlark engine directly (no Execute).
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
		{"exit(True)", 0},
		{"exit(False)", 1},
		{"exit(3)", 3},
		{"exit(259)", 3},
		{"exit(-1)", 255},
		{"x = 1", 0},
		{"def f():\n    exit(4)\nretry(3, 0, f)", 4}, // from inside a builtin's callback
		{"[exit(5) for x in range(3)]", 5},
	}
	for _, tt := range tests {
		out, _ := run(t, context.Background(), tt.src, nil)
		if out.Status != tt.status || out.Err != nil {
			t.Errorf("%s: status %d, err %v; want %d, nil", tt.src, out.Status, out.Err, tt.status)
		}
	}
}

func TestRuntimeErrorPosition(t *testing.T) {
	tests := []struct{ src, want string }{
		{"\nfail('boom')", path + ":2:5: fail: boom"},
		{"exit('three')", path + ":1:5: exit: status must be an int or a bool"},
		{"x = {}\ny = x['k']", path + ":2:6: key \"k\" not in dict"},
		{"state('web')", path + ":1:6: state web: no host to ask"},
		{"sleep('x')", path + ":1:6: sleep: want a number of seconds"},
		{"run()", path + ":1:4: run: missing command"},
		{"run('echo', None)", path + ":1:4: run: argument 2 is a NoneType"},
		{"def f():\n    fail('inside')\nretry(3, 0, f)", path + ":2:9: fail: inside"},
		{"env['X'] = 'y'", path + ":1:4: cannot insert into frozen hash table"},
		{"argv.append('x')", path + ":1:12: append: cannot append to frozen list"},
	}
	for _, tt := range tests {
		out, _ := run(t, context.Background(), tt.src, nil)
		if out.Status != 1 || out.Err == nil || !strings.HasPrefix(out.Err.Error(), tt.want) {
			t.Errorf("%q: status %d, err %v; want 1, %q...", tt.src, out.Status, out.Err, tt.want)
		}
	}
}

func TestDeepRecursion(t *testing.T) {
	out, _ := run(t, context.Background(), "def f():\n    return 1 + f()\nf()", nil)
	if out.Status != 1 || out.Err == nil || !strings.Contains(out.Err.Error(), "stack overflow") ||
		!strings.HasPrefix(out.Err.Error(), path+":") {
		t.Errorf("status %d, err %v; want 1, stack overflow", out.Status, out.Err)
	}
}

// Run returns once ctx is done, whatever the script is doing.
func TestCancel(t *testing.T) {
	for _, src := range []string{
		"while True:\n    pass",
		"def busy():\n    for i in range(100000):\n        pass\n    return False\nretry(1000000, 0, busy)",
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
print(argv[0], len(argv), argv[1:])
print(env["X"], env.get("MISSING"), "PATH" in env)
s = set([1, 2])
x = 1
x = 2
if x == 2:
    print(sorted(s), x)
`, map[string]string{"X": "x-value", "PATH": interpreters.DefaultPath})
	if out.Status != 0 || out.Err != nil {
		t.Fatalf("status %d, err %v", out.Status, out.Err)
	}
	want := strings.Join([]string{
		"stdout " + path + " 3 [\"-t\", \"web\"]",
		"stdout x-value None True",
		"stdout [1, 2] 2",
	}, "\n")
	if logs.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", logs, want)
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		src  string
		errs []string
	}{
		{"#!/usr/bin/env starlark\nexit(0)\n", nil},
		{"x = 1\nx = = 2\n", []string{path + ":2:5:"}},
		{"def f():\n  return undefined_a\nundefined_b()\n", []string{
			path + ":2:10: undefined: undefined_a", path + ":3:1: undefined: undefined_b"}},
		{"load('lib.star', 'f')\n", []string{path + `:1:1: load("lib.star") is not available`}},
	}
	for _, tt := range tests {
		s := &interpreters.Script{Path: path, Source: []byte(tt.src), Lang: interpreters.LangStarlark}
		_, err := New().Check(s)
		if tt.errs == nil {
			if err != nil {
				t.Errorf("Check(%q) = %v, want nil", tt.src, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("Check(%q) = nil, want errors %q", tt.src, tt.errs)
			continue
		}
		for _, want := range tt.errs {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Check(%q) = %v, want it to contain %q", tt.src, err, want)
			}
		}
		if !strings.HasPrefix(err.Error(), tt.errs[0]) {
			t.Errorf("Check(%q) = %v, want it to begin with %q", tt.src, err, tt.errs[0])
		}
		out, _ := run(t, context.Background(), tt.src, nil)
		if out.Status != StatusSyntaxError || out.Err == nil {
			t.Errorf("Run(%q) = %d, %v; want %d and the error", tt.src, out.Status, out.Err, StatusSyntaxError)
		}
	}
}
