package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden files in testdata/")

// binDir holds ark-generic and ark-echo built for this test run: the
// harness runs the real plugin process, and the example scripts find
// ark-echo on their PATH because the plugin puts its own directory first.
var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "arkctl-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	for name, pkg := range map[string]string{"ark-generic": "../../../builtin-arks/generic", "ark-echo": "../../../examples/echo-service"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", name, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func arkctl(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestExamplesPass(t *testing.T) {
	for _, lang := range []string{"bash", "lua", "starlark"} {
		t.Run(lang, func(t *testing.T) {
			out, stderr, code := arkctl(t, "ark", "test", "--plugin", filepath.Join(binDir, "ark-generic"), "../../../examples/"+lang)
			if code != exitOK {
				t.Fatalf("exit %d, want 0\n%s%s", code, out, stderr)
			}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
				if !strings.HasPrefix(line, "PASS") && !strings.HasPrefix(line, "summary: PASS") {
					t.Errorf("not a PASS line: %s", line)
				}
			}
			for _, step := range []string{"restore again", "quickCheck after kill", "recover", "leftovers"} {
				if !strings.Contains(out, "PASS  "+step) {
					t.Errorf("no PASS for %q:\n%s", step, out)
				}
			}
		})
	}
}

func TestBrokenExampleFails(t *testing.T) {
	out, stderr, code := arkctl(t, "ark", "test", "--plugin", filepath.Join(binDir, "ark-generic"), "../../../examples/broken")
	if code != exitFailed {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, stderr)
	}
	if !regexp.MustCompile(`(?m)^FAIL  restore again +restore started a second instance while the first was running: new processes \d+ \(sleep 100000\)`).MatchString(out) {
		t.Errorf("the report does not name the second instance:\n%s", out)
	}
}

// normalize removes what changes between runs: pids and the checkout path.
func normalize(s string) string {
	wd, _ := os.Getwd()
	root := filepath.Dir(filepath.Dir(filepath.Dir(wd)))
	s = strings.ReplaceAll(s, root, "ROOT")
	return regexp.MustCompile(`\b(killed|processes|pid) \d+`).ReplaceAllString(s, "$1 PID")
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *rewrite {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -rewrite to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -rewrite updates it):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestGoldenOutput(t *testing.T) {
	plugin := filepath.Join(binDir, "ark-generic")
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"lua-report.txt", []string{"ark", "test", "--plugin", plugin, "../../../examples/lua"}, exitOK},
		{"broken-report.txt", []string{"ark", "test", "--plugin", plugin, "../../../examples/broken"}, exitFailed},
		{"ark-test-help.txt", []string{"ark", "test", "--help"}, exitOK},
		{"usage.txt", []string{"help"}, exitOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, code := arkctl(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, out, stderr)
			}
			golden(t, tt.name, normalize(out))
		})
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "start.sh")
	if err := os.WriteFile(script, []byte("exit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "Usage:"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"no scripts", []string{"ark", "test"}, "give a directory of scripts"},
		{"bad timeout action", []string{"ark", "test", "--timeout", "start=1s", dir}, `unknown action "start"`},
		{"bad timeout value", []string{"ark", "test", "--timeout", "restore=soon", dir}, "not a duration"},
		{"bad param", []string{"ark", "test", "--param", "novalue", dir}, `"novalue" is not KEY=VALUE`},
		{"file not named after an action", []string{"ark", "test", script}, "name it restore*, remove*, quickCheck* or recover*"},
		{"no such file", []string{"ark", "test", filepath.Join(dir, "restore.sh"), filepath.Join(dir, "remove.sh")}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, code := arkctl(t, tt.args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d\n%s%s", code, exitUsage, out, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.want)
			}
		})
	}
}

func TestStaticChecksFailBeforeRunning(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"restore.lua": "if then\n",
		"remove.lua":  "exit(0)\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, _, code := arkctl(t, "ark", "test", "--plugin", filepath.Join(binDir, "ark-generic"), dir)
	if code != exitFailed {
		t.Fatalf("exit %d, want 1:\n%s", code, out)
	}
	if !strings.Contains(out, "FAIL  syntax") || !strings.Contains(out, dir+"/restore.lua:1") {
		t.Errorf("no syntax FAIL naming restore.lua:1:\n%s", out)
	}
	if strings.Contains(out, "validate") {
		t.Errorf("scripts that do not parse must not run:\n%s", out)
	}
}
