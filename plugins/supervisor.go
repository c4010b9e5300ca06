package plugins

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ark-ha/ark/sdk/ark"
)

// Supervisor runs one plugin binary on demand: it launches the process on
// the first call and launches a fresh one on the next call after the
// previous process exited (crashed, was killed) or stopped answering. A
// call in flight when the process dies still fails, with an *ExitError;
// the host decides what to do about that call, the Supervisor only
// guarantees the next one a live process.
//
// It implements ark.ResourceType and is safe for concurrent use. The
// plugin manager keeps one per enabled kit; the conformance harness uses
// one per binary under test.
type Supervisor struct {
	cfg LaunchConfig

	mu       sync.Mutex
	cur      *Plugin
	launches int
	closed   bool
}

var _ ark.ResourceType = (*Supervisor)(nil)

// NewSupervisor returns a Supervisor for cfg. It launches nothing yet.
func NewSupervisor(cfg LaunchConfig) *Supervisor {
	return &Supervisor{cfg: cfg}
}

// ErrClosed is returned by calls on a closed Supervisor.
var ErrClosed = errors.New("plugin supervisor is closed")

// Plugin returns the running plugin, launching a fresh process if there is
// none or the last one exited. It blocks while launching.
func (s *Supervisor) Plugin(ctx context.Context) (*Plugin, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("plugin %s: %w", s.cfg.Path, ErrClosed)
	}
	if s.cur != nil && !s.cur.Exited() {
		return s.cur, nil
	}
	if s.cur != nil {
		s.cur.Kill() // already gone: releases what go-plugin holds
		s.cur = nil
	}
	p, err := Launch(ctx, s.cfg)
	if err != nil {
		return nil, err
	}
	s.cur = p
	s.launches++
	return p, nil
}

// Launches returns how many processes the Supervisor has started.
func (s *Supervisor) Launches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.launches
}

// Stop stops the current process (see Plugin.Stop) and refuses further
// calls.
func (s *Supervisor) Stop(ctx context.Context) error {
	s.mu.Lock()
	p := s.cur
	s.cur, s.closed = nil, true
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.Stop(ctx)
}

// after inspects the error of a call made on p. A process that exited is
// forgotten; one that missed a deadline is pinged, and killed if it does
// not answer either, so that the next call starts a fresh one instead of
// waiting on a frozen one.
func (s *Supervisor) after(p *Plugin, err error) {
	if err == nil {
		return
	}
	switch {
	case errors.Is(err, ErrExited):
	case errors.Is(err, context.DeadlineExceeded):
		if p.Ping(context.Background()) == nil {
			return
		}
	default:
		return
	}
	s.mu.Lock()
	if s.cur == p {
		s.cur = nil
	}
	s.mu.Unlock()
	p.Kill()
}

// Ping checks that the current plugin answers, launching one if needed.
func (s *Supervisor) Ping(ctx context.Context) error {
	p, err := s.Plugin(ctx)
	if err != nil {
		return err
	}
	err = p.Ping(ctx)
	s.after(p, err)
	return err
}

// Info implements ark.ResourceType.
func (s *Supervisor) Info(ctx context.Context) (ark.Info, error) {
	p, err := s.Plugin(ctx)
	if err != nil {
		return ark.Info{}, err
	}
	info, err := p.rt.Info(ctx)
	s.after(p, err)
	return info, err
}

// Validate implements ark.ResourceType.
func (s *Supervisor) Validate(ctx context.Context, params map[string]string) error {
	p, err := s.Plugin(ctx)
	if err != nil {
		return err
	}
	err = p.rt.Validate(ctx, params)
	s.after(p, err)
	return err
}

// Restore implements ark.ResourceType.
func (s *Supervisor) Restore(ctx context.Context, req *ark.Request) (ark.Result, error) {
	return s.run(ctx, ark.Restore, req)
}

// Remove implements ark.ResourceType.
func (s *Supervisor) Remove(ctx context.Context, req *ark.Request) (ark.Result, error) {
	return s.run(ctx, ark.Remove, req)
}

// QuickCheck implements ark.ResourceType.
func (s *Supervisor) QuickCheck(ctx context.Context, req *ark.Request) (ark.Result, error) {
	return s.run(ctx, ark.QuickCheck, req)
}

// Recover implements ark.ResourceType.
func (s *Supervisor) Recover(ctx context.Context, req *ark.Request) (ark.Result, error) {
	return s.run(ctx, ark.Recover, req)
}

func (s *Supervisor) run(ctx context.Context, a ark.Action, req *ark.Request) (ark.Result, error) {
	p, err := s.Plugin(ctx)
	if err != nil {
		tag := ""
		if req != nil {
			tag = " " + req.Tag
		}
		return ark.Result{}, fmt.Errorf("%s%s: %w", a, tag, err)
	}
	res, err := p.rt.run(ctx, a, req)
	s.after(p, err)
	return res, err
}
