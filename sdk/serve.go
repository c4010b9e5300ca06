package sdk

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/ark-ha/ark/plugins"
	"github.com/ark-ha/ark/sdk/ark"
)

// Serve serves rt as an ARK plugin to the host that started this process
// and blocks until the host stops it; it never returns normally. Run
// directly (not by a host) it prints a short explanation and exits 1.
//
// Serve is meant to be the whole of a plugin's main: it ignores SIGINT
// and SIGPIPE for the life of the process and replaces the default slog
// logger with one the host reads.
func Serve(rt ark.ResourceType) {
	stderr := os.Stderr // go-plugin redirects os.Stderr once serving
	ignoreSignals()
	slog.SetDefault(slog.New(newHostHandler(stderr)))
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: plugins.HandshakeConfig(),
		Plugins:         plugins.PluginSet(rt, plugins.ClientOptions{}),
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:       "ark-plugin",
			Level:      hclog.Debug,
			Output:     stderr,
			JSONFormat: true,
		}),
	})
}

// ignoreSignals keeps SIGINT and SIGPIPE from killing the plugin. It uses
// signal.Notify rather than signal.Ignore: an ignored signal stays ignored
// in the commands the plugin runs (exec keeps SIG_IGN), and commands such
// as `yes | head` rely on dying of SIGPIPE.
func ignoreSignals() {
	ch := make(chan os.Signal, 16)
	signal.Notify(ch, os.Interrupt, syscall.SIGPIPE)
	go func() {
		for range ch {
		}
	}()
}

// hclogTime is the timestamp layout go-plugin parses in a plugin's JSON
// log lines.
const hclogTime = "2006-01-02T15:04:05.000000Z07:00"

// newHostHandler returns a slog handler writing JSON lines in the form
// go-plugin's host parses (@timestamp, @level, @message), so the host logs
// them with their level and attributes.
func newHostHandler(w io.Writer) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format(hclogTime))
			case slog.LevelKey:
				return slog.String("@level", hclogLevel(a.Value.Any().(slog.Level)))
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			}
			return a
		},
	})
}

func hclogLevel(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}

// Logf sends one line to the host's log of the running action, at level
// (slog.LevelInfo, ...). It does nothing when req has no Log function
// (outside a host). Safe for concurrent use.
func Logf(req *ark.Request, level slog.Level, format string, args ...any) {
	if req == nil || req.Log == nil {
		return
	}
	req.Log(ark.LogLine{Time: time.Now(), Level: level, Message: fmt.Sprintf(format, args...)})
}
