package sh

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"

	"mvdan.cc/sh/v3/expand"

	"github.com/ark-ha/ark/interpreters"
)

// scriptEnv is the environment the interpreter starts from: the
// Invocation's variables (all exported), plus the variables bash sets
// itself and mvdan.cc/sh does not. Those are not exported, as in bash,
// and a variable of the Invocation wins over them.
type scriptEnv struct {
	vars   expand.Environ
	start  time.Time
	static map[string]string
}

func newScriptEnv(environ []string, start time.Time) *scriptEnv {
	host, _ := os.Hostname()
	arch := map[string]string{"amd64": "x86_64", "arm64": "aarch64", "386": "i686", "arm": "armv7l"}[runtime.GOARCH]
	if arch == "" {
		arch = runtime.GOARCH
	}
	return &scriptEnv{
		vars:  expand.ListEnviron(environ...),
		start: start,
		static: map[string]string{
			"HOSTNAME": host,
			"OSTYPE":   "linux-gnu",
			"HOSTTYPE": arch,
			"MACHTYPE": arch + "-pc-linux-gnu",
		},
	}
}

// dynamic are the variables computed at each read.
var dynamic = []string{"SECONDS", "EPOCHSECONDS", "EPOCHREALTIME"}

func (e *scriptEnv) Get(name string) expand.Variable {
	if v := e.vars.Get(name); v.Declared() {
		return v
	}
	now := time.Now()
	switch name {
	case "SECONDS":
		return str(strconv.Itoa(int(now.Sub(e.start) / time.Second)))
	case "EPOCHSECONDS":
		return str(strconv.FormatInt(now.Unix(), 10))
	case "EPOCHREALTIME":
		return str(fmt.Sprintf("%d.%06d", now.Unix(), now.Nanosecond()/1000))
	}
	if s, ok := e.static[name]; ok {
		return str(s)
	}
	if name == "PATH" {
		// Like bash, a default search path when the environment has
		// none (not exported).
		return str(interpreters.DefaultPath)
	}
	return expand.Variable{}
}

func (e *scriptEnv) Each(f func(name string, vr expand.Variable) bool) {
	for name, s := range e.static {
		if !f(name, str(s)) {
			return
		}
	}
	for _, name := range append(dynamic, "PATH") {
		if !f(name, e.Get(name)) {
			return
		}
	}
	e.vars.Each(f) // last: its variables win
}

func str(s string) expand.Variable {
	return expand.Variable{Set: true, Kind: expand.String, Str: s}
}
