package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// levelTrace is where raft's TRACE messages go: below slog's DEBUG, so a
// handler at DEBUG leaves them out.
const levelTrace = slog.LevelDebug - 4

// raftInfoKept lists the INFO messages of raft that stay at INFO: the
// leadership changes. Every other INFO of raft (snapshots, pipelines,
// peers...) is logged at DEBUG, raft being chatty.
var raftInfoKept = map[string]bool{
	"entering leader state":    true,
	"entering candidate state": true,
}

// raftLogEvery is how often one message of raft at INFO or above, about
// one peer, is logged: a node down makes raft repeat the same error
// several times a second. The line that ends a quiet period says how many
// were left out.
const raftLogEvery = 30 * time.Second

// raftLogAlways lists the messages never left out.
var raftLogAlways = map[string]bool{"entering leader state": true}

// peerKeys are the arguments of raft's messages that name a peer: the
// same message about another peer is another message.
var peerKeys = map[string]bool{"peer": true, "target": true, "server-id": true, "from": true, "candidate": true}

// hclogAdapter is an hclog.Logger that writes to an slog.Logger, so that
// raft logs where the rest of the daemon does.
type hclogAdapter struct {
	log   *slog.Logger
	name  string
	args  []any
	limit *limiter
}

var _ hclog.Logger = (*hclogAdapter)(nil)

func newHclog(l *slog.Logger) *hclogAdapter {
	return &hclogAdapter{log: l, limit: &limiter{seen: map[string]*limited{}}}
}

// limiter lets one message through per raftLogEvery and key.
type limiter struct {
	mu   sync.Mutex
	seen map[string]*limited
}

type limited struct {
	last       time.Time
	suppressed int
}

// allow reports whether the message with key is logged now and how many
// were left out since the last one.
func (l *limiter) allow(key string, now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.seen[key]
	if e == nil {
		e = &limited{}
		l.seen[key] = e
	} else if now.Sub(e.last) < raftLogEvery {
		e.suppressed++
		return false, 0
	}
	n := e.suppressed
	e.last, e.suppressed = now, 0
	return true, n
}

// slogLevel maps an hclog level and message to the slog level it is
// logged at.
func slogLevel(level hclog.Level, msg string) slog.Level {
	switch level {
	case hclog.Trace:
		return levelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Info, hclog.DefaultLevel, hclog.NoLevel:
		if raftInfoKept[msg] {
			return slog.LevelInfo
		}
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off {
		return
	}
	args = fixArgs(args)
	l := slogLevel(level, msg)
	if closedConn(args) {
		// Raft's connections closed by our own Close.
		l = slog.LevelDebug
	}
	ctx := context.Background()
	if !a.log.Enabled(ctx, l) {
		return
	}
	all := make([]any, 0, len(a.args)+len(args)+4)
	if a.name != "" {
		all = append(all, "raft_logger", a.name)
	}
	all = append(all, a.args...)
	all = append(all, args...)
	if l >= slog.LevelInfo && !raftLogAlways[msg] {
		key := msg
		for i := 0; i+1 < len(args); i += 2 {
			if k, _ := args[i].(string); peerKeys[k] {
				key += fmt.Sprintf("\x00%v", args[i+1])
			}
		}
		ok, n := a.limit.allow(key, time.Now())
		if !ok {
			return
		}
		if n > 0 {
			all = append(all, "repeats_left_out", n)
		}
	}
	a.log.Log(ctx, l, msg, all...)
}

// closedConn reports whether an "error" argument says a connection was
// closed on this side.
func closedConn(args []any) bool {
	for i := 0; i+1 < len(args); i += 2 {
		if k, _ := args[i].(string); k == "error" {
			if err, ok := args[i+1].(error); ok && errors.Is(err, net.ErrClosed) {
				return true
			}
		}
	}
	return false
}

// fixArgs turns hclog's key/value list into slog's: keys become strings
// and a missing last value is marked, as hclog does.
func fixArgs(args []any) []any {
	if len(args) == 0 {
		return nil
	}
	out := make([]any, 0, len(args)+1)
	for i := 0; i < len(args); i += 2 {
		k, ok := args[i].(string)
		if !ok {
			if s, isS := args[i].(interface{ String() string }); isS {
				k = s.String()
			} else {
				k = "EXTRA_VALUE_AT_END"
				out = append(out, k, args[i])
				continue
			}
		}
		if i+1 < len(args) {
			v := args[i+1]
			if f, ok := v.(hclog.Format); ok && len(f) > 0 {
				if fs, ok := f[0].(string); ok {
					v = fmt.Sprintf(fs, f[1:]...)
				}
			}
			out = append(out, k, v)
		} else {
			out = append(out, "EXTRA_VALUE_AT_END", k)
		}
	}
	return out
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *hclogAdapter) enabled(l slog.Level) bool { return a.log.Enabled(context.Background(), l) }

func (a *hclogAdapter) IsTrace() bool { return a.enabled(levelTrace) }
func (a *hclogAdapter) IsDebug() bool { return a.enabled(slog.LevelDebug) }
func (a *hclogAdapter) IsInfo() bool  { return a.enabled(slog.LevelDebug) } // raft's INFO is our DEBUG
func (a *hclogAdapter) IsWarn() bool  { return a.enabled(slog.LevelWarn) }
func (a *hclogAdapter) IsError() bool { return a.enabled(slog.LevelError) }

func (a *hclogAdapter) ImpliedArgs() []any { return a.args }

func (a *hclogAdapter) With(args ...any) hclog.Logger {
	c := *a
	c.args = append(append([]any(nil), a.args...), fixArgs(args)...)
	return &c
}

func (a *hclogAdapter) Name() string { return a.name }

func (a *hclogAdapter) Named(name string) hclog.Logger {
	c := *a
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	c := *a
	c.name = name
	return &c
}

// SetLevel does nothing: the slog handler decides what is logged.
func (a *hclogAdapter) SetLevel(hclog.Level) {}

// GetLevel reports the lowest hclog level the slog handler lets through.
func (a *hclogAdapter) GetLevel() hclog.Level {
	switch {
	case a.IsTrace():
		return hclog.Trace
	case a.IsDebug():
		return hclog.Debug
	case a.IsWarn():
		return hclog.Warn
	case a.IsError():
		return hclog.Error
	}
	return hclog.Off
}

func (a *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

func (a *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		a.Info(string(bytes.TrimRight(p, "\n")))
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
