package engines

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ark-ha/ark/interpreters"
)

// escape is an attempt to reach files or processes from a sandboxed
// script. The script gets env.TARGET (a path that must not come to exist)
// and env.VICTIM (a file that must stay as it is). It must fail with an
// error containing err, reported at the line marked ERROR-HERE; err ""
// means the script checks something itself and must succeed.
type escape struct {
	name string
	src  string
	err  string
}

var luaEscapes = []escape{
	{"io.open", `local f = io.open(env.TARGET, "w") -- ERROR-HERE
f:write("x")
f:close()`, "non-table object(nil)"},
	{"io.popen", `io.popen("touch " .. env.TARGET) -- ERROR-HERE`, "non-table object(nil)"},
	{"os.execute", `os.execute("touch " .. env.TARGET) -- ERROR-HERE`, "non-function object"},
	{"os.getenv", `log("info", "HOME", os.getenv("HOME")) -- ERROR-HERE`, "non-function object"},
	{"os.remove", `os.remove(env.VICTIM) -- ERROR-HERE`, "non-function object"},
	{"os.rename", `os.rename(env.VICTIM, env.TARGET) -- ERROR-HERE`, "non-function object"},
	{"os.exit", `os.exit(0) -- ERROR-HERE`, "non-function object"},
	{"os.tmpname", `os.tmpname() -- ERROR-HERE`, "non-function object"},
	{"load", `load(function() return nil end) -- ERROR-HERE`, "non-function object"},
	{"loadstring", `loadstring("x = 1")() -- ERROR-HERE`, "non-function object"},
	{"dofile", `dofile("/etc/passwd") -- ERROR-HERE`, "non-function object"},
	{"loadfile", `loadfile("/etc/passwd") -- ERROR-HERE`, "non-function object"},
	{"require", `require("io") -- ERROR-HERE`, "non-function object"},
	{"module", `module("x") -- ERROR-HERE`, "non-function object"},
	{"string.dump", `string.dump(function() end) -- ERROR-HERE`, "non-function object"},
	{"string method dump", `("x"):dump() -- ERROR-HERE`, "non-function object"},
	{"package.loadlib", `package.loadlib("libc.so.6", "system") -- ERROR-HERE`, "non-table object(nil)"},
	{"package.loaded", `package.loaded.io.open(env.TARGET, "w") -- ERROR-HERE`, "non-table object(nil)"},
	{"debug.getregistry", `debug.getregistry() -- ERROR-HERE`, "non-table object(nil)"},
	{"getfenv", `getfenv(0).io.open(env.TARGET, "w") -- ERROR-HERE`, "non-table object(nil)"},
	{"string metatable", `getmetatable("").__index.io.open(env.TARGET, "w") -- ERROR-HERE`, "non-table object(nil)"},
	{"channel", `channel.make() -- ERROR-HERE`, "non-table object(nil)"},
	// Walk everything reachable from the globals, the string metatable and
	// the function environments: nothing that touches files or processes
	// may be found, and os holds only the clock.
	{"reachable", `
local forbidden = {}
for _, k in ipairs({"io", "package", "debug", "channel", "execute", "getenv", "setenv",
    "remove", "rename", "tmpname", "setlocale", "exit", "open", "popen", "lines", "input",
    "output", "dump", "loadlib", "getregistry", "sethook", "getinfo", "getupvalue",
    "setupvalue", "load", "loadstring", "dofile", "loadfile", "require", "module",
    "collectgarbage", "_printregs"}) do
  forbidden[k] = true
end
local seen = {}
local function walk(v, path)
  if type(v) ~= "table" or seen[v] then return end
  seen[v] = true
  for k, x in pairs(v) do
    local p = path .. "." .. tostring(k)
    -- exit is the builtin (os.exit would end the daemon); table.remove
    -- removes from a table.
    if forbidden[k] and p ~= "_G.exit" and p ~= "_G.table.remove" then
      error("reachable: " .. p)
    end
    walk(x, p)
  end
  walk(getmetatable(v), path .. ".<metatable>")
end
walk(_G, "_G")
walk(getmetatable(""), "<string metatable>")
walk(getfenv(0), "<thread env>")
walk(getfenv(print), "<print env>")
local names = {}
for k in pairs(os) do names[#names + 1] = k end
table.sort(names)
if table.concat(names, " ") ~= "clock date difftime time" then
  error("os holds " .. table.concat(names, " "))
end
`, ""},
}

var starlarkEscapes = []escape{
	{"load", `load("x.star", "y")  # ERROR-HERE`, "load"},
	{"open", `open(env["TARGET"], "w")  # ERROR-HERE`, "undefined: open"},
	{"os.system", `os.system("touch " + env["TARGET"])  # ERROR-HERE`, "undefined: os"},
	{"exec", `exec("touch " + env["TARGET"])  # ERROR-HERE`, "undefined: exec"},
	{"__import__", `__import__("os")  # ERROR-HERE`, "undefined: __import__"},
	{"eval", `eval("1")  # ERROR-HERE`, "undefined: eval"},
	{"subprocess", `subprocess.run(["touch", env["TARGET"]])  # ERROR-HERE`, "undefined: subprocess"},
}

func TestSandbox(t *testing.T) {
	for lang, cases := range map[interpreters.Lang][]escape{
		interpreters.LangLua:      luaEscapes,
		interpreters.LangStarlark: starlarkEscapes,
	} {
		eng, err := For(lang)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/%s", lang, tc.name), func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				target := filepath.Join(dir, "created")
				victim := filepath.Join(dir, "victim")
				if err := os.WriteFile(victim, []byte("intact"), 0o644); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(dir, "escape"+exts[lang])
				if err := os.WriteFile(path, []byte(tc.src), 0o644); err != nil {
					t.Fatal(err)
				}
				s, err := interpreters.Load(path)
				if err != nil {
					t.Fatal(err)
				}
				var logs logSink
				inv := &interpreters.Invocation{
					Env: map[string]string{"TARGET": target, "VICTIM": victim, "HOME": "/root", "PATH": interpreters.DefaultPath},
					Log: logs.add,
				}
				res := interpreters.Execute(context.Background(), eng, s, inv,
					interpreters.Options{Timeout: time.Minute, Grace: 500 * time.Millisecond})

				if tc.err == "" {
					if res.Status != 0 || res.Err != nil {
						t.Errorf("status %d, error %v; want success", res.Status, res.Err)
					}
				} else {
					if res.Status == 0 || res.Err == nil {
						t.Fatalf("status %d, error %v; want a failure containing %q", res.Status, res.Err, tc.err)
					}
					if !strings.Contains(res.Err.Error(), tc.err) {
						t.Errorf("error %q does not contain %q", res.Err, tc.err)
					}
					if prefix := fmt.Sprintf("%s:%d:", path, errorHere(t, path)); !strings.HasPrefix(res.Err.Error(), prefix) {
						t.Errorf("error %q does not begin with %q", res.Err, prefix)
					}
				}
				if _, err := os.Stat(target); err == nil {
					t.Errorf("the script created %s", target)
				}
				if b, err := os.ReadFile(victim); err != nil || string(b) != "intact" {
					t.Errorf("the script changed %s: %q, %v", victim, b, err)
				}
				for _, l := range logs.script() {
					if strings.Contains(l.msg, "/root") {
						t.Errorf("the script read the environment through a side door: %v", l)
					}
				}
			})
		}
	}
}

// TestStarlarkCheckRejectsLoad: load is refused before anything runs.
func TestStarlarkCheckRejectsLoad(t *testing.T) {
	eng, err := For(interpreters.LangStarlark)
	if err != nil {
		t.Fatal(err)
	}
	s := &interpreters.Script{Path: "a.star", Lang: interpreters.LangStarlark,
		Source: []byte("x = 1\nload(\"lib.star\", \"f\")\nload(\"other.star\", \"g\")\n")}
	_, err = eng.Check(s)
	if err == nil {
		t.Fatal("Check accepted load statements")
	}
	for _, want := range []string{"a.star:2:1: load(\"lib.star\")", "a.star:3:1: load(\"other.star\")"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Check error %q does not contain %q", err, want)
		}
	}
}
