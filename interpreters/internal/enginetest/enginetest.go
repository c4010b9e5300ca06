// Package enginetest holds what the engines' own tests share: a log sink
// and a way to run a script on one engine without Execute. Test code only.
package enginetest

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/ark-ha/ark/interpreters"
	"github.com/ark-ha/ark/sdk/ark"
)

// Sink collects log lines as "CODE message"; safe for concurrent use.
type Sink struct {
	mu    sync.Mutex
	lines []string
}

// Add records one line; pass it as Invocation.Log.
func (s *Sink) Add(l ark.LogLine) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, l.Code+" "+l.Message)
}

// String returns the lines joined by newlines.
func (s *Sink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

// Run runs src as the script at path with eng directly (no Execute), with
// args -t web and env (PATH only when nil).
func Run(t *testing.T, ctx context.Context, eng interpreters.Engine, path, src string, env map[string]string) (interpreters.Outcome, *Sink) {
	t.Helper()
	logs := &Sink{}
	if env == nil {
		env = map[string]string{"PATH": interpreters.DefaultPath}
	}
	inv := &interpreters.Invocation{Args: []string{"-t", "web"}, Env: env, Log: logs.Add}
	s := &interpreters.Script{Path: path, Source: []byte(src), Lang: eng.Lang()}
	return eng.Run(ctx, s, inv), logs
}
