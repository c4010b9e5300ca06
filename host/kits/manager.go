package kits

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ark-ha/ark/host/model"
	"github.com/ark-ha/ark/plugins"
	"github.com/ark-ha/ark/sdk/ark"
)

// Defaults of Config.
const (
	// MaxBackoff caps DefaultBackoff.
	MaxBackoff = 30 * time.Second
	// DefaultStableAfter is Config.StableAfter's default.
	DefaultStableAfter = time.Minute
	// orphanGrace is the time an orphaned plugin gets between SIGTERM and
	// SIGKILL.
	orphanGrace = 2 * time.Second
	// cleanupTimeout bounds the stop of a plugin Enable refused.
	cleanupTimeout = 5 * time.Second
)

// DefaultBackoff is the delay before relaunching a plugin after its n-th
// consecutive failure: none after the first, then 1s, 2s, 4s, ... up to
// MaxBackoff.
func DefaultBackoff(failures int) time.Duration {
	if failures <= 1 {
		return 0
	}
	if failures-2 >= 5 { // 1s<<5 = 32s
		return MaxBackoff
	}
	return min(time.Second<<(failures-2), MaxBackoff)
}

// Config configures a Manager. Only StateDir is required.
type Config struct {
	// Logger receives the manager's messages and the plugins' own log
	// output, tagged with "kit". Default slog.Default().
	Logger *slog.Logger
	// StateDir is where the pid records of running plugins are kept
	// (StateDir/plugins/NAME.pid), so that the next daemon can kill the
	// plugins this one leaves behind if it is killed. Required; created if
	// missing.
	StateDir string
	// Backoff is the delay before relaunching a plugin after its n-th
	// consecutive failure (crash or failed launch), n >= 1. It should grow
	// with n: a Backoff that is always 0 relaunches a plugin that crashes
	// at start in a loop. Default DefaultBackoff.
	Backoff func(failures int) time.Duration
	// StableAfter is how long a process must have run for its crash to
	// count as a first failure again (resetting the count of consecutive
	// failures). Default DefaultStableAfter.
	StableAfter time.Duration
	// Clock tells the time of events, backoff deadlines and process
	// lifetimes. Default time.Now.
	Clock func() time.Time
	// OnEvent, if set, receives every KitEvent (started, crashed,
	// relaunched, launch-failed, changed, exited, disabled,
	// orphan-killed). It is called from a goroutine of the Manager's, one
	// event at a time in the order they happened, never while the Manager
	// holds a lock: it may call the Manager, except Stop, which waits for
	// OnEvent to return.
	OnEvent func(KitEvent)
}

// Manager runs the plugin process of every enabled kit. It is safe for
// concurrent use.
//
// Enable, Disable and Stop are serialized with each other (they are admin
// operations); Type, Schema and List never wait for them, nor for a plugin
// launch.
type Manager struct {
	cfg  Config
	log  *slog.Logger
	rec  records
	ev   *events
	lock *os.File // flock on the records directory, held until Stop

	opMu sync.Mutex // serializes Enable, Disable and Stop

	mu      sync.Mutex
	kits    map[string]*kit
	stopped bool
}

// New returns a Manager with no kit enabled. Before returning it kills
// the plugin processes a previous daemon left running, as recorded under
// StateDir: only a process whose pid, start time and executable all match
// its record (a pid since reused by another process is left alone), with
// SIGTERM and SIGKILL after a short grace; it blocks until they are gone.
// Each is logged and reported as a KitOrphanKilled event.
//
// The Manager locks StateDir/plugins until Stop (or until the process
// dies): New fails if another Manager, in this process or another, holds
// it, since each would take the other's plugins for orphans. It also fails
// if StateDir is not set or its plugins directory cannot be created.
func New(cfg Config) (*Manager, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("kits: Config.StateDir is required (pid records of running plugins)")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.StableAfter <= 0 {
		cfg.StableAfter = DefaultStableAfter
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	dir := filepath.Join(cfg.StateDir, "plugins")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("kits: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("kits: %w", err)
	}
	m := &Manager{
		cfg:  cfg,
		log:  cfg.Logger,
		rec:  records{dir: dir},
		ev:   newEvents(cfg.OnEvent),
		lock: lock,
		kits: map[string]*kit{},
	}
	for _, r := range m.rec.reapOrphans(m.log, orphanGrace) {
		m.ev.emit(KitEvent{Time: cfg.Clock(), Kit: r.Kit, Kind: KitOrphanKilled, Pid: r.Pid})
	}
	return m, nil
}

// Enable launches kit k's plugin, checks it and keeps it running until
// Disable or Stop. It blocks until the plugin answered (bounded by ctx and
// the plugin start timeout) and returns its Info.
//
// It refuses, leaving nothing running: a kit without a sha256 pin; a
// binary whose sha256 is not the pinned one (a *plugins.ChecksumError
// naming both hashes; errors.Is(err, plugins.ErrChecksumMismatch)); a
// plugin whose Info fails Info.Check; a plugin providing another resource
// type than k.Name (a *TypeMismatchError naming both; ErrTypeMismatch). Enabling a kit already
// enabled with the same path and pin returns its Info and does nothing;
// with another path or pin it fails with ErrAlreadyEnabled. After Stop it
// fails with ErrStopped.
func (m *Manager) Enable(ctx context.Context, k model.Kit) (ark.Info, error) {
	if err := checkName(k.Name); err != nil {
		return ark.Info{}, fmt.Errorf("enable kit: %w", err)
	}
	if k.Path == "" {
		return ark.Info{}, fmt.Errorf("enable kit %s: no plugin path", k.Name)
	}
	if strings.TrimSpace(k.SHA256) == "" {
		return ark.Info{}, fmt.Errorf("enable kit %s: %s is not pinned (no sha256): pin it with `arkctl kit enable`", k.Name, k.Path)
	}
	m.opMu.Lock()
	defer m.opMu.Unlock()
	m.mu.Lock()
	stopped, old := m.stopped, m.kits[k.Name]
	m.mu.Unlock()
	if stopped {
		return ark.Info{}, fmt.Errorf("enable kit %s: %w", k.Name, ErrStopped)
	}
	if old != nil {
		if old.spec.Path == k.Path && strings.EqualFold(strings.TrimSpace(old.spec.SHA256), strings.TrimSpace(k.SHA256)) {
			return cloneInfo(old.info), nil
		}
		return ark.Info{}, fmt.Errorf("enable kit %s: %w with %s (sha256 %s), not %s (sha256 %s): disable it first",
			k.Name, ErrAlreadyEnabled, old.spec.Path, old.spec.SHA256, k.Path, k.SHA256)
	}
	kt, err := m.start(ctx, k)
	if err != nil {
		m.log.Warn("enable kit refused", "kit", k.Name, "path", k.Path, "err", err)
		return ark.Info{}, err
	}
	m.mu.Lock()
	m.kits[k.Name] = kt
	m.mu.Unlock()
	return cloneInfo(kt.info), nil
}

// Disable stops kit name's plugin and forgets the kit: the process is
// asked to exit and killed if it has not by the time ctx ends (or after
// go-plugin's own grace when ctx has no deadline). It blocks until the
// process is gone. Calls in flight fail with a *plugins.ExitError; calls
// through a ResourceType obtained earlier fail with ErrDisabled. It fails
// with ErrNotEnabled for an unknown kit, and reports an error (the kit
// being disabled anyway) when the plugin had to be killed.
func (m *Manager) Disable(ctx context.Context, name string) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	m.mu.Lock()
	k := m.kits[name]
	delete(m.kits, name)
	m.mu.Unlock()
	if k == nil {
		return fmt.Errorf("disable kit %s: %w", name, ErrNotEnabled)
	}
	err := k.stop(ctx, ErrDisabled)
	m.emit(KitEvent{Kit: name, Kind: KitDisabled, Launches: k.launchCount()})
	if err != nil {
		return fmt.Errorf("disable kit %s: %w", name, err)
	}
	return nil
}

// Type returns the resource type of kit name, or false when no such kit
// is enabled (or the Manager is stopped). It does not block.
//
// The ResourceType stays valid across plugin crashes: each call goes to
// the kit's current process (launching one if none runs and no backoff is
// in the way); a call in flight when the process dies fails with a
// *plugins.ExitError (errors.Is(err, plugins.ErrExited)), never hangs; a
// call made while the kit backs off after failures fails at once with a
// *BackoffError saying when the next launch is due. Errors of the resource
// type itself come back unchanged. Info answers from the Info read at
// Enable (every relaunch is checked to give the same). After Disable or
// Stop, calls fail with ErrDisabled or ErrStopped.
func (m *Manager) Type(name string) (ark.ResourceType, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := m.kits[name]
	if k == nil || m.stopped {
		return nil, false
	}
	return k.rt, true
}

// Schema returns the Info kit name's plugin gave when it was enabled, or
// false when no such kit is enabled. It does not block and does not call
// the plugin. It makes the Manager a source of schemas for resource
// validation (interface{ Schema(string) (ark.Info, bool) }).
func (m *Manager) Schema(name string) (ark.Info, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := m.kits[name]
	if k == nil || m.stopped {
		return ark.Info{}, false
	}
	return cloneInfo(k.info), true
}

// Status is a snapshot of one enabled kit, for `arkctl kit list`.
type Status struct {
	Kit      model.Kit `json:"kit"`
	Version  string    `json:"version"`       // Info.Version
	Pid      int       `json:"pid,omitempty"` // the running process, 0 if none
	Launches int       `json:"launches"`      // processes started since Enable
	Running  bool      `json:"running"`
	// Failures counts consecutive failures (crashes and failed
	// launches); it restarts from 0 after a process ran StableAfter.
	Failures int `json:"failures"`
	// LastError is the last failure ("" if none); it stays after a
	// successful relaunch, for the record.
	LastError string `json:"last_error,omitempty"`
	// NextTry is when the next launch is due while not Running; zero
	// while Running.
	NextTry time.Time `json:"next_try,omitzero"`
}

// List returns the status of every enabled kit, sorted by name. It does
// not block on launches or calls.
func (m *Manager) List() []Status {
	m.mu.Lock()
	ks := make([]*kit, 0, len(m.kits))
	for _, k := range m.kits {
		ks = append(ks, k)
	}
	m.mu.Unlock()
	sort.Slice(ks, func(i, j int) bool { return ks[i].spec.Name < ks[j].spec.Name })
	out := make([]Status, len(ks))
	for i, k := range ks {
		out[i] = k.status()
	}
	return out
}

// Stop stops every kit's plugin in parallel, as Disable does (gracefully,
// killed when ctx ends), and blocks until they are gone and every event
// was delivered to OnEvent. From then on Enable fails with ErrStopped,
// Type and Schema report no kit, and calls through ResourceTypes obtained
// earlier fail with ErrStopped, and the state directory is unlocked for
// another Manager. It returns the errors of the plugins that had to be
// killed. Idempotent.
func (m *Manager) Stop(ctx context.Context) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	m.mu.Lock()
	m.stopped = true
	ks := make([]*kit, 0, len(m.kits))
	for _, k := range m.kits {
		ks = append(ks, k)
	}
	m.kits = map[string]*kit{}
	m.mu.Unlock()
	errs := make([]error, len(ks))
	var wg sync.WaitGroup
	for i, k := range ks {
		wg.Go(func() {
			if err := k.stop(ctx, ErrStopped); err != nil {
				errs[i] = fmt.Errorf("stop kit %s: %w", k.spec.Name, err)
			}
		})
	}
	wg.Wait()
	m.ev.flush()
	if m.lock != nil {
		_ = m.lock.Close()
		m.lock = nil
	}
	return errors.Join(errs...)
}

// PinKit returns the kit named name whose plugin is the binary at path as
// it is now: its absolute path and sha256. It does not run the binary
// (Enable does). It fails if name is not a valid kit name or path is not
// a regular executable file. For `arkctl kit enable`.
func PinKit(name, path string) (model.Kit, error) {
	if err := checkName(name); err != nil {
		return model.Kit{}, fmt.Errorf("pin kit: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return model.Kit{}, fmt.Errorf("pin kit %s: %w", name, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return model.Kit{}, fmt.Errorf("pin kit %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return model.Kit{}, fmt.Errorf("pin kit %s: %s is not a regular file", name, abs)
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return model.Kit{}, fmt.Errorf("pin kit %s: %s is not executable", name, abs)
	}
	sum, err := plugins.FileSHA256(abs)
	if err != nil {
		return model.Kit{}, fmt.Errorf("pin kit %s: %w", name, err)
	}
	return model.Kit{Name: name, Path: abs, SHA256: sum}, nil
}

// checkName accepts the names a kit (a resource type) may have: they name
// its pid record file too.
func checkName(name string) error {
	if name == "" {
		return errors.New("kit name is empty")
	}
	for i, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			i > 0 && (c == '_' || c == '-' || c == '.')
		if !ok {
			return fmt.Errorf("kit name %q: use letters, digits, '_', '-' and '.', starting with a letter or digit", name)
		}
	}
	return nil
}

// start launches the first process of kit spec and checks it; on any
// failure it stops what it started.
func (m *Manager) start(ctx context.Context, spec model.Kit) (*kit, error) {
	k := newKit(m, spec)
	p, err := k.sup.Plugin(ctx)
	if err != nil {
		return nil, fmt.Errorf("enable kit %s: %w", spec.Name, err)
	}
	k.record(p)
	info, err := p.Client().Info(ctx)
	if err == nil {
		err = info.Check()
	}
	if err == nil && info.Type != spec.Name {
		err = &TypeMismatchError{Kit: spec.Name, Path: p.Path(), Type: info.Type}
	}
	if err != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		_ = k.sup.Stop(sctx)
		_ = m.rec.remove(spec.Name, p.Pid())
		return nil, fmt.Errorf("enable kit %s: %w", spec.Name, err)
	}
	k.run(p, info)
	return k, nil
}

// emit logs ev and queues it for OnEvent. It stamps ev.Time.
func (m *Manager) emit(ev KitEvent) {
	ev.Time = m.cfg.Clock()
	attrs := []any{"kit", ev.Kit, "event", string(ev.Kind)}
	if ev.Pid != 0 {
		attrs = append(attrs, "pid", ev.Pid)
	}
	if ev.Status != "" {
		attrs = append(attrs, "status", ev.Status)
	}
	if ev.Launches != 0 {
		attrs = append(attrs, "launches", ev.Launches)
	}
	if !ev.NextTry.IsZero() {
		attrs = append(attrs, "next_try", ev.NextTry, "in", ev.NextTry.Sub(ev.Time).Round(time.Millisecond))
	}
	if ev.Err != nil {
		attrs = append(attrs, "err", ev.Err)
	}
	m.log.Log(context.Background(), ev.Kind.level(), eventMessages[ev.Kind], attrs...)
	m.ev.emit(ev)
}

var eventMessages = map[EventKind]string{
	KitStarted:      "kit plugin started",
	KitCrashed:      "kit plugin exited unexpectedly",
	KitRelaunched:   "kit plugin relaunched",
	KitLaunchFailed: "kit plugin launch failed",
	KitChanged:      "kit plugin changed under the daemon: refused",
	KitExited:       "kit plugin stopped",
	KitDisabled:     "kit disabled",
	KitOrphanKilled: "killed kit plugin left running by a previous daemon",
}

// cloneInfo returns a copy of info sharing nothing mutable with it.
func cloneInfo(info ark.Info) ark.Info {
	info.Params = append([]ark.ParamSpec(nil), info.Params...)
	info.Actions = append([]ark.Action(nil), info.Actions...)
	if info.DefaultTimeouts != nil {
		t := make(map[ark.Action]time.Duration, len(info.DefaultTimeouts))
		for a, d := range info.DefaultTimeouts {
			t[a] = d
		}
		info.DefaultTimeouts = t
	}
	return info
}
