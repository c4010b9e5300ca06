package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// probes remembers the write probe running for each resource. A probe on
// a hung filesystem can block in the kernel for ever; quickCheck leaves it
// behind at probe_timeout, and later quickChecks must see that it is still
// stuck rather than start another one that would hang as well.
type probes struct {
	mu      sync.Mutex
	running map[string]*probe // by mountpoint
}

type probe struct {
	path    string
	started time.Time
	done    chan struct{} // closed when the probe returns
	err     error         // valid once done is closed
}

// probeName is the hidden file quickCheck writes in the mountpoint.
func probeName(tag string) string {
	safe := strings.Map(func(r rune) rune {
		if r == '/' || r == 0 || r < ' ' {
			return '_'
		}
		return r
	}, tag)
	return ".ark-probe-" + safe
}

// writeProbe creates, writes, fsyncs and removes the probe file: it proves
// that the filesystem takes writes down to the device.
func writeProbe(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, werr := fmt.Fprintf(f, "ark quickCheck probe %s\n", time.Now().Format(time.RFC3339Nano))
	serr := f.Sync()
	cerr := f.Close()
	rerr := os.Remove(path)
	for _, err := range []error{werr, serr, cerr, rerr} {
		if err != nil {
			return err
		}
	}
	return nil
}

// errProbeStuck is returned while an earlier probe has not come back.
type errProbeStuck struct {
	path    string
	started time.Time
}

func (e *errProbeStuck) Error() string {
	return fmt.Sprintf("the write probe %s started at %s (%s ago) has not returned: the filesystem hangs",
		e.path, e.started.Format(time.RFC3339), time.Since(e.started).Round(time.Millisecond))
}

// errProbeTimeout is returned when the probe does not finish in time.
type errProbeTimeout struct {
	path    string
	timeout time.Duration
}

func (e *errProbeTimeout) Error() string {
	return fmt.Sprintf("the write probe %s did not finish within probe_timeout %s: the filesystem hangs", e.path, e.timeout)
}

// check runs the write probe in dir for the resource tag, waiting at most
// timeout. A probe left behind by an earlier call is waited for while it
// is younger than timeout, and reported as stuck once it is older; no
// second probe is started beside it.
func (p *probes) check(ctx context.Context, dir, tag string, timeout time.Duration) error {
	path := filepath.Join(dir, probeName(tag))
	p.mu.Lock()
	if p.running == nil {
		p.running = map[string]*probe{}
	}
	if old := p.running[path]; old != nil {
		p.mu.Unlock()
		left := timeout - time.Since(old.started)
		if left <= 0 {
			return &errProbeStuck{path: path, started: old.started}
		}
		// A probe an earlier quickCheck gave up on when its context ended:
		// give it the rest of its time.
		select {
		case <-old.done:
		case <-time.After(left):
			return &errProbeStuck{path: path, started: old.started}
		case <-ctx.Done():
			return ctx.Err()
		}
		p.mu.Lock()
	}
	pr := &probe{path: path, started: time.Now(), done: make(chan struct{})}
	p.running[path] = pr
	p.mu.Unlock()

	go func() {
		pr.err = writeProbe(path)
		p.mu.Lock()
		if p.running[path] == pr {
			delete(p.running, path)
		}
		p.mu.Unlock()
		close(pr.done)
	}()
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	select {
	case <-pr.done:
		if pr.err != nil {
			return fmt.Errorf("write probe %s: %w", path, pr.err)
		}
		return nil
	case <-tm.C:
		return &errProbeTimeout{path: path, timeout: timeout}
	case <-ctx.Done():
		return ctx.Err()
	}
}
