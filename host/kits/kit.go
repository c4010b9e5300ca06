package kits

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ark-ha/ark/host/model"
	"github.com/ark-ha/ark/plugins"
	"github.com/ark-ha/ark/sdk/ark"
)

// kit is one enabled kit: a plugins.Supervisor for its binary, plus what
// the Supervisor does not do: relaunch proactively with backoff, check
// every new process (pin, Info), keep its pid record, report events.
//
// The Supervisor also relaunches by itself when a call finds the process
// gone; that only happens when a process dies between ready and the
// Supervisor's own check, and the watcher adopts such a process (records
// it, checks its Info) as soon as it notices the old one exited.
type kit struct {
	m    *Manager
	spec model.Kit
	sup  *plugins.Supervisor
	rt   *resourceType
	info ark.Info // read at Enable; immutable

	launchMu sync.Mutex // one launch at a time, by the watcher or a call

	mu        sync.Mutex
	cur       *plugins.Plugin // the last process adopted
	curGone   bool            // cur's exit has been accounted for
	startedAt time.Time       // when cur was adopted
	launches  int
	failures  int // consecutive
	lastErr   error
	nextTry   time.Time
	stopErr   error // ErrDisabled or ErrStopped once stopping

	ctx    context.Context // the watcher's; cancelled by stop
	cancel context.CancelFunc
	wake   chan struct{} // cap 1: a call launched a process
	done   chan struct{} // closed when the watcher returned
}

func newKit(m *Manager, spec model.Kit) *kit {
	k := &kit{
		m:    m,
		spec: spec,
		sup: plugins.NewSupervisor(plugins.LaunchConfig{
			Path:   spec.Path,
			SHA256: spec.SHA256, // every launch, first or not, checks the pin
			Logger: m.log.With("kit", spec.Name),
		}),
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	k.rt = &resourceType{k: k}
	k.ctx, k.cancel = context.WithCancel(context.Background())
	return k
}

// run adopts the first process p with its checked info and starts the
// watcher.
func (k *kit) run(p *plugins.Plugin, info ark.Info) {
	k.info = info
	k.mu.Lock()
	k.cur, k.startedAt, k.launches = p, k.m.cfg.Clock(), 1
	k.m.emit(KitEvent{Kit: k.spec.Name, Kind: KitStarted, Pid: p.Pid(), Launches: 1})
	k.mu.Unlock()
	go k.watch()
}

// record writes p's pid record. Failing to is logged, not fatal: the
// plugin works, only its cleanup after a daemon crash is at risk.
func (k *kit) record(p *plugins.Plugin) {
	rec := newRecord(k.spec.Name, k.spec.Path, p.Pid(), k.m.cfg.Clock())
	if err := k.m.rec.write(rec); err != nil {
		k.m.log.Error("plugin left without a pid record: a daemon crash would orphan it", "kit", k.spec.Name, "pid", p.Pid(), "err", err)
	}
}

// exited reports whether p's process has exited. It uses Done rather than
// Exited, so that p.ExitStatus is known once it returns true.
func exited(p *plugins.Plugin) bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}

// noteExitLocked accounts for the exit of p, once: a crash event, the
// failure count, the next launch time. Stop accounts for exits it caused
// itself. k.mu is held.
func (k *kit) noteExitLocked(p *plugins.Plugin) {
	if p != k.cur || k.curGone || k.stopErr != nil {
		return
	}
	k.curGone = true
	status := p.ExitStatus()
	if err := k.m.rec.remove(k.spec.Name, p.Pid()); err != nil {
		k.m.log.Warn("remove pid record", "kit", k.spec.Name, "err", err)
	}
	now := k.m.cfg.Clock()
	if now.Sub(k.startedAt) >= k.m.cfg.StableAfter {
		k.failures = 0
	}
	k.failures++
	k.lastErr = fmt.Errorf("plugin pid %d exited unexpectedly (%s)", p.Pid(), status)
	k.nextTry = now.Add(k.m.cfg.Backoff(k.failures))
	k.m.emit(KitEvent{Kit: k.spec.Name, Kind: KitCrashed, Pid: p.Pid(), Status: status,
		Launches: k.launches, NextTry: k.nextTry, Err: k.lastErr})
}

// backoffLocked returns the error of a call refused until nextTry, or nil
// when a launch may be tried now. k.mu is held.
func (k *kit) backoffLocked() error {
	now := k.m.cfg.Clock()
	if !now.Before(k.nextTry) {
		return nil
	}
	return &BackoffError{Kit: k.spec.Name, Failures: k.failures, Retry: k.nextTry, Now: now, Last: k.lastErr}
}

// ready makes sure a process runs for a call: it returns at once when one
// does, launches one when none does and no backoff forbids it, and fails
// fast otherwise. It blocks only while launching.
func (k *kit) ready(ctx context.Context) error {
	k.mu.Lock()
	if err := k.stopErr; err != nil {
		k.mu.Unlock()
		return fmt.Errorf("kit %s: %w", k.spec.Name, err)
	}
	if k.cur != nil && !k.curGone {
		if !exited(k.cur) {
			k.mu.Unlock()
			return nil
		}
		k.noteExitLocked(k.cur)
	}
	err := k.backoffLocked()
	k.mu.Unlock()
	if err != nil {
		return err
	}
	return k.launch(ctx)
}

// launch starts a fresh process unless one runs, backoff forbids it or the
// kit is stopping, and checks it: the pin (by Launch), then that its Info
// is the one the kit was enabled with. A failure counts towards backoff
// and is reported, unless ctx ended (the caller gave up: not the plugin's
// fault). It blocks while launching.
func (k *kit) launch(ctx context.Context) error {
	k.launchMu.Lock()
	defer k.launchMu.Unlock()
	k.mu.Lock()
	if err := k.stopErr; err != nil {
		k.mu.Unlock()
		return fmt.Errorf("kit %s: %w", k.spec.Name, err)
	}
	if k.cur != nil && !k.curGone {
		if !exited(k.cur) {
			k.mu.Unlock()
			return nil // launched meanwhile
		}
		k.noteExitLocked(k.cur)
	}
	if err := k.backoffLocked(); err != nil {
		k.mu.Unlock()
		return err
	}
	k.mu.Unlock()

	p, err := k.sup.Plugin(ctx)
	if err != nil {
		return k.failed(ctx, KitLaunchFailed, 0, err)
	}
	k.mu.Lock()
	k.launches++
	k.mu.Unlock()
	k.record(p)
	kind := KitLaunchFailed
	info, err := p.Client().Info(ctx)
	if err != nil {
		err = fmt.Errorf("kit %s: %w", k.spec.Name, err)
	} else if changes := infoChanges(k.info, info); len(changes) > 0 {
		kind, err = KitChanged, &InfoChangedError{Kit: k.spec.Name, Changes: changes}
	}
	if err != nil {
		p.Kill()
		_ = k.m.rec.remove(k.spec.Name, p.Pid())
		return k.failed(ctx, kind, p.Pid(), err)
	}
	k.mu.Lock()
	if err := k.stopErr; err != nil {
		k.mu.Unlock()
		return fmt.Errorf("kit %s: %w", k.spec.Name, err) // stop stops p
	}
	k.cur, k.curGone, k.startedAt = p, false, k.m.cfg.Clock()
	k.m.emit(KitEvent{Kit: k.spec.Name, Kind: KitRelaunched, Pid: p.Pid(), Launches: k.launches})
	k.mu.Unlock()
	select {
	case k.wake <- struct{}{}:
	default:
	}
	return nil
}

// failed accounts for a failed launch and returns err.
func (k *kit) failed(ctx context.Context, kind EventKind, pid int, err error) error {
	if ctx.Err() != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stopErr != nil {
		return err
	}
	k.failures++
	k.lastErr = err
	k.nextTry = k.m.cfg.Clock().Add(k.m.cfg.Backoff(k.failures))
	k.m.emit(KitEvent{Kit: k.spec.Name, Kind: kind, Pid: pid, Launches: k.launches, NextTry: k.nextTry, Err: err})
	return err
}

// watch relaunches the plugin in the background: it waits for the current
// process to exit, accounts for it, waits out the backoff and launches a
// fresh one, until stop.
func (k *kit) watch() {
	defer close(k.done)
	for {
		k.mu.Lock()
		p, gone, next := k.cur, k.curGone, k.nextTry
		k.mu.Unlock()
		if p != nil && !gone {
			select {
			case <-p.Done():
				k.mu.Lock()
				k.noteExitLocked(p)
				k.mu.Unlock()
				continue
			case <-k.ctx.Done():
				return
			}
		}
		// The clock may be a fake one: the timer only says when to look
		// at it again.
		if d := next.Sub(k.m.cfg.Clock()); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-k.wake:
			case <-k.ctx.Done():
				t.Stop()
				return
			}
			t.Stop()
			continue
		}
		_ = k.launch(k.ctx) // a failure is accounted for and reported
		if k.ctx.Err() != nil {
			return
		}
	}
}

// stop stops the plugin and the watcher; calls fail with reason from now
// on. It blocks until the process is gone; an error means it had to be
// killed. Later calls wait for the first to finish.
func (k *kit) stop(ctx context.Context, reason error) error {
	k.mu.Lock()
	if k.stopErr != nil {
		k.mu.Unlock()
		<-k.done
		return nil
	}
	k.stopErr = reason
	k.mu.Unlock()
	k.cancel()
	err := k.sup.Stop(ctx)
	k.launchMu.Lock() // a launch in flight has ended
	k.launchMu.Unlock()
	<-k.done

	k.mu.Lock()
	if p := k.cur; p != nil && !k.curGone {
		k.curGone = true
		k.m.emit(KitEvent{Kit: k.spec.Name, Kind: KitExited, Pid: p.Pid(), Status: p.ExitStatus(), Launches: k.launches})
	}
	k.mu.Unlock()
	if rerr := k.m.rec.remove(k.spec.Name, 0); rerr != nil {
		k.m.log.Warn("remove pid record", "kit", k.spec.Name, "err", rerr)
	}
	return err
}

func (k *kit) launchCount() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.launches
}

func (k *kit) status() Status {
	k.mu.Lock()
	defer k.mu.Unlock()
	st := Status{
		Kit:      k.spec,
		Version:  k.info.Version,
		Launches: k.launches,
		Failures: k.failures,
	}
	if k.cur != nil && !k.curGone && !exited(k.cur) {
		st.Running, st.Pid = true, k.cur.Pid()
	} else {
		st.NextTry = k.nextTry
	}
	if k.lastErr != nil {
		st.LastError = k.lastErr.Error()
	}
	return st
}

// resourceType is the ark.ResourceType of a kit: each call goes to the
// kit's current process through its Supervisor, after ready.
type resourceType struct{ k *kit }

var _ ark.ResourceType = (*resourceType)(nil)

// Info returns the Info read at Enable.
func (t *resourceType) Info(context.Context) (ark.Info, error) {
	t.k.mu.Lock()
	err := t.k.stopErr
	t.k.mu.Unlock()
	if err != nil {
		return ark.Info{}, fmt.Errorf("info: kit %s: %w", t.k.spec.Name, err)
	}
	return cloneInfo(t.k.info), nil
}

// Validate implements ark.ResourceType.
func (t *resourceType) Validate(ctx context.Context, params map[string]string) error {
	if err := t.k.ready(ctx); err != nil {
		return fmt.Errorf("validate: %w", err)
	}
	return t.k.sup.Validate(ctx, params)
}

// Restore implements ark.ResourceType.
func (t *resourceType) Restore(ctx context.Context, req *ark.Request) (ark.Result, error) {
	return t.run(ctx, ark.Restore, req, t.k.sup.Restore)
}

// Remove implements ark.ResourceType.
func (t *resourceType) Remove(ctx context.Context, req *ark.Request) (ark.Result, error) {
	return t.run(ctx, ark.Remove, req, t.k.sup.Remove)
}

// QuickCheck implements ark.ResourceType.
func (t *resourceType) QuickCheck(ctx context.Context, req *ark.Request) (ark.Result, error) {
	return t.run(ctx, ark.QuickCheck, req, t.k.sup.QuickCheck)
}

// Recover implements ark.ResourceType.
func (t *resourceType) Recover(ctx context.Context, req *ark.Request) (ark.Result, error) {
	return t.run(ctx, ark.Recover, req, t.k.sup.Recover)
}

func (t *resourceType) run(ctx context.Context, a ark.Action, req *ark.Request,
	call func(context.Context, *ark.Request) (ark.Result, error)) (ark.Result, error) {
	if err := t.k.ready(ctx); err != nil {
		tag := ""
		if req != nil {
			tag = " " + req.Tag
		}
		return ark.Result{}, fmt.Errorf("%s%s: %w", a, tag, err)
	}
	return call(ctx, req)
}
