package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/ark-ha/ark/sdk/ark"
)

// DefaultStartTimeout bounds a plugin's start when LaunchConfig sets none.
const DefaultStartTimeout = 30 * time.Second

// LaunchConfig says which plugin binary to run and how.
type LaunchConfig struct {
	// Path of the plugin binary; a bare name is looked up in PATH.
	Path string
	// Args are passed to the binary.
	Args []string
	// SHA256, if set, pins the binary: the hex sha256 of the file must
	// match or Launch refuses to run it.
	SHA256 string
	// Env is added to the host's environment for the plugin process; it
	// wins over the host's values.
	Env []string
	// Logger receives the plugin's log output (its hclog/slog JSON lines
	// keep their level and fields), its stdout and stderr, and go-plugin's
	// own messages. Default slog.Default().
	Logger *slog.Logger
	// StartTimeout bounds the start and handshake; ctx's deadline bounds
	// it too. Default DefaultStartTimeout.
	StartTimeout time.Duration
	// Client configures the connection; its Name defaults to Path.
	Client ClientOptions
}

// ErrChecksumMismatch matches, under errors.Is, the error of a Launch
// refused because the binary is not the pinned one.
var ErrChecksumMismatch = errors.New("plugin checksum mismatch")

// ChecksumError reports a binary whose sha256 is not the pinned one.
type ChecksumError struct {
	Path      string
	Want, Got string // hex sha256: pinned, actual
}

// Error names the binary and both hashes.
func (e *ChecksumError) Error() string {
	return fmt.Sprintf("plugin %s: checksum mismatch: pinned sha256 %s, binary has sha256 %s", e.Path, e.Want, e.Got)
}

// Is matches ErrChecksumMismatch.
func (e *ChecksumError) Is(target error) bool { return target == ErrChecksumMismatch }

// FileSHA256 returns the hex sha256 of the file at path, the form
// LaunchConfig.SHA256 pins.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Plugin is one running plugin process. Its ResourceType is valid until
// the process exits; start a new Plugin (or use a Supervisor) after that.
type Plugin struct {
	path   string
	pid    int
	cmd    *exec.Cmd
	client *plugin.Client
	rt     *Client

	stopOnce sync.Once
}

// Launch starts the plugin binary cfg.Path, performs the go-plugin
// handshake and returns the running plugin. It blocks until the plugin
// answered the handshake, StartTimeout passed or ctx's deadline passed.
//
// With cfg.SHA256 set, the file is hashed before it runs and a mismatch
// is refused with a *ChecksumError naming both hashes; go-plugin checks
// the hash again right before exec.
//
// The process runs in its own process group, so a Ctrl-C meant for the
// host does not reach it: the host stops it with Stop or Kill.
func Launch(ctx context.Context, cfg LaunchConfig) (*Plugin, error) {
	if cfg.Path == "" {
		return nil, errors.New("launch plugin: no path")
	}
	path, err := exec.LookPath(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("launch plugin %s: %w", cfg.Path, err)
	}
	if path, err = filepath.Abs(path); err != nil {
		return nil, fmt.Errorf("launch plugin %s: %w", cfg.Path, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("launch plugin %s: %w", path, err)
	}
	var secure *plugin.SecureConfig
	want := strings.ToLower(strings.TrimSpace(cfg.SHA256))
	if want != "" {
		sum, err := hex.DecodeString(want)
		if err != nil || len(sum) != sha256.Size {
			return nil, fmt.Errorf("launch plugin %s: pinned sha256 %q is not 64 hex digits", path, cfg.SHA256)
		}
		got, err := FileSHA256(path)
		if err != nil {
			return nil, fmt.Errorf("launch plugin %s: %w", path, err)
		}
		if got != want {
			return nil, &ChecksumError{Path: path, Want: want, Got: got}
		}
		secure = &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("plugin", path)
	start := cfg.StartTimeout
	if start <= 0 {
		start = DefaultStartTimeout
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < start {
		start = time.Until(d)
	}

	cmd := exec.Command(path, cfg.Args...)
	cmd.Env = append(os.Environ(), cfg.Env...)
	ownProcessGroup(cmd)

	p := &Plugin{path: path, cmd: cmd}
	opts := cfg.Client
	if opts.Name == "" {
		opts.Name = path
	}
	opts.ExitStatus = p.ExitStatus
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:     HandshakeConfig(),
		Plugins:             PluginSet(nil, opts),
		Cmd:                 cmd,
		SkipHostEnv:         true, // cmd.Env has it, with cfg.Env winning
		SecureConfig:        secure,
		AllowedProtocols:    []plugin.Protocol{plugin.ProtocolGRPC},
		GRPCBrokerMultiplex: true, // lets the plugin dial host services at any time
		StartTimeout:        start,
		Logger:              newHCLog(logger),
		SyncStdout:          &lineWriter{line: func(s string) { logger.Info(s, "stream", "stdout") }},
		SyncStderr:          &lineWriter{line: func(s string) { logger.Warn(s, "stream", "stderr") }},
	})
	p.client = client
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			got, _ := FileSHA256(path)
			return nil, &ChecksumError{Path: path, Want: want, Got: got}
		}
		return nil, fmt.Errorf("launch plugin %s: %w", path, err)
	}
	raw, err := rpc.Dispense(PluginName)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("launch plugin %s: %w", path, err)
	}
	p.rt = raw.(*Client)
	p.pid = cmd.Process.Pid
	return p, nil
}

// ResourceType returns the plugin's resource type (its *Client).
func (p *Plugin) ResourceType() ark.ResourceType { return p.rt }

// Client returns the connection to the plugin.
func (p *Plugin) Client() *Client { return p.rt }

// Path returns the absolute path of the binary.
func (p *Plugin) Path() string { return p.path }

// Pid returns the process id.
func (p *Plugin) Pid() int { return p.pid }

// Exited reports whether the process has exited (crashed, killed or
// stopped). Calls in flight when it exits fail with an *ExitError.
func (p *Plugin) Exited() bool { return p.client.Exited() }

// Done is closed when the process has exited.
func (p *Plugin) Done() <-chan struct{} { return p.rt.done }

// ExitStatus describes how the process ended ("signal: killed", "exit
// status 2"), or returns "" while it runs.
func (p *Plugin) ExitStatus() string {
	select {
	case <-p.rt.done:
	default:
		return ""
	}
	if st := p.cmd.ProcessState; st != nil {
		return st.String()
	}
	return ""
}

// Ping checks that the plugin answers; see Client.Ping.
func (p *Plugin) Ping(ctx context.Context) error { return p.rt.Ping(ctx) }

// Kill kills the process at once (SIGKILL, which also ends a stopped or
// frozen plugin) and blocks until it is gone and its resources released.
// Actions in flight fail with an *ExitError. Idempotent.
func (p *Plugin) Kill() {
	p.rt.Close()
	_ = p.cmd.Process.Kill() // ErrProcessDone when already gone
	p.stop()
}

// Stop asks the plugin to exit, and kills it when it has not exited by
// the time ctx ends. It blocks until the process is gone. Idempotent.
func (p *Plugin) Stop(ctx context.Context) error {
	p.rt.Close()
	done := make(chan struct{})
	go func() {
		p.stop()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		_ = p.cmd.Process.Kill()
		<-done
		return fmt.Errorf("stop plugin %s: killed: %w", p.path, ctx.Err())
	}
}

// stop runs go-plugin's shutdown (graceful, then SIGKILL after 2 s) once;
// other callers wait for it.
func (p *Plugin) stop() {
	p.stopOnce.Do(p.client.Kill)
}
