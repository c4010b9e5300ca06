package plugins

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// levelTrace is the slog level hclog's Trace maps to.
const levelTrace = slog.LevelDebug - 4

// hclogAdapter is an hclog.Logger writing to a *slog.Logger: go-plugin
// logs through hclog, including every line the plugin writes to stderr
// (hclog JSON lines keep their level and fields).
type hclogAdapter struct {
	l     *slog.Logger
	name  string
	args  []any
	level *slog.LevelVar // hclog's SetLevel; nil = whatever l enables
}

func newHCLog(l *slog.Logger) hclog.Logger { return &hclogAdapter{l: l} }

var _ hclog.Logger = (*hclogAdapter)(nil)

func toSlog(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return levelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (a *hclogAdapter) enabled(l slog.Level) bool {
	if a.level != nil && l < a.level.Level() {
		return false
	}
	return a.l.Enabled(context.Background(), l)
}

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	l := toSlog(level)
	if !a.enabled(l) {
		return
	}
	attrs := make([]any, 0, len(a.args)+len(args)+2)
	if a.name != "" {
		attrs = append(attrs, "logger", a.name)
	}
	attrs = append(attrs, a.args...)
	for i := 0; i+1 < len(args); i += 2 {
		if k, ok := args[i].(string); ok && k == "timestamp" {
			continue // go-plugin adds the plugin's own time; slog has its own
		}
		attrs = append(attrs, args[i], args[i+1])
	}
	if len(args)%2 == 1 {
		attrs = append(attrs, "EXTRA_VALUE", args[len(args)-1])
	}
	a.l.Log(context.Background(), l, msg, attrs...)
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }
func (a *hclogAdapter) IsTrace() bool                 { return a.enabled(levelTrace) }
func (a *hclogAdapter) IsDebug() bool                 { return a.enabled(slog.LevelDebug) }
func (a *hclogAdapter) IsInfo() bool                  { return a.enabled(slog.LevelInfo) }
func (a *hclogAdapter) IsWarn() bool                  { return a.enabled(slog.LevelWarn) }
func (a *hclogAdapter) IsError() bool                 { return a.enabled(slog.LevelError) }
func (a *hclogAdapter) ImpliedArgs() []any            { return a.args }
func (a *hclogAdapter) Name() string                  { return a.name }

func (a *hclogAdapter) With(args ...any) hclog.Logger {
	b := *a
	b.args = append(append([]any(nil), a.args...), args...)
	return &b
}

func (a *hclogAdapter) Named(name string) hclog.Logger {
	b := *a
	if b.name != "" {
		name = b.name + "." + name
	}
	b.name = name
	return &b
}

func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	b := *a
	b.name = name
	return &b
}

func (a *hclogAdapter) SetLevel(level hclog.Level) {
	if a.level == nil {
		a.level = new(slog.LevelVar)
	}
	a.level.Set(toSlog(level))
}

func (a *hclogAdapter) GetLevel() hclog.Level {
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if a.enabled(toSlog(l)) {
			return l
		}
	}
	return hclog.Off
}

func (a *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

func (a *hclogAdapter) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	infer := opts != nil && (opts.InferLevels || opts.InferLevelsWithTimestamp)
	return &lineWriter{line: func(s string) {
		level, msg := hclog.Info, s
		if infer {
			level, msg = inferLevel(s)
		}
		a.Log(level, msg)
	}}
}

// inferLevel reads the "[ERR] ..." style prefixes of standard loggers.
func inferLevel(s string) (hclog.Level, string) {
	for _, p := range []struct {
		prefix string
		level  hclog.Level
	}{
		{"[TRACE]", hclog.Trace}, {"[DEBUG]", hclog.Debug}, {"[INFO]", hclog.Info},
		{"[WARN]", hclog.Warn}, {"[ERR]", hclog.Error}, {"[ERROR]", hclog.Error},
	} {
		if i := strings.Index(s, p.prefix); i >= 0 {
			return p.level, strings.TrimSpace(s[i+len(p.prefix):])
		}
	}
	return hclog.Info, s
}

// lineWriter calls line for every complete line written to it; a final
// partial line is kept until the next newline.
type lineWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	line func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		i := bytes.IndexByte(w.buf.Bytes(), '\n')
		if i < 0 {
			return len(p), nil
		}
		s := strings.TrimRight(string(w.buf.Next(i+1)), "\r\n")
		if s != "" {
			w.line(s)
		}
	}
}
