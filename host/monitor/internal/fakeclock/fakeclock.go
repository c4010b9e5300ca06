// Package fakeclock is a [monitor.Clock] for tests: its time moves only
// when the test says so, and moving it waits until whoever owns a timer it
// fired has taken the tick in (re-armed or stopped the timer), so a test
// driving a scheduler is deterministic without sleeping.
//
// The contract it relies on: the owner of a timer calls Reset or Stop on it
// after each tick it receives (the monitor [monitor.Scheduler] always does).
package fakeclock

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ark-ha/ark/host/monitor"
)

// settleLimit bounds how long (real time) a fired timer may wait for its
// owner; it detects hangs and is no speed requirement.
const settleLimit = 10 * time.Second

// Clock is a fake [monitor.Clock]. Now, NewTimer and the timers' methods are
// safe for concurrent use; Advance, Jump and Settle fail the test and must
// be called from the test's goroutine.
type Clock struct {
	tb      testing.TB
	mu      sync.Mutex
	now     time.Time
	timers  []*timer
	changed chan struct{} // closed and replaced when a timer changes state
}

type state int

const (
	idle  state = iota // stopped, or never armed
	armed              // waiting for its deadline
	fired              // ticked; the owner has not re-armed or stopped it yet
)

type timer struct {
	c     *Clock
	ch    chan time.Time
	at    time.Time
	state state
}

var _ monitor.Clock = (*Clock)(nil)

// New returns a fake clock reading start.
func New(tb testing.TB, start time.Time) *Clock {
	return &Clock{tb: tb, now: start, changed: make(chan struct{})}
}

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer armed to fire after d.
func (c *Clock) NewTimer(d time.Duration) monitor.Timer {
	t := &timer{c: c, ch: make(chan time.Time, 1)}
	c.mu.Lock()
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	t.Reset(d)
	return t
}

// Deadlines returns the deadlines of the armed timers, earliest first.
func (c *Clock) Deadlines() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Time
	for _, t := range c.timers {
		if t.state == armed {
			out = append(out, t.at)
		}
	}
	slices.SortFunc(out, time.Time.Compare)
	return out
}

// Advance moves the time forward by d as if it passed continuously: it
// settles, then steps to each armed deadline up to now+d in turn, fires that
// timer and settles again, and finally sets the time to now+d.
func (c *Clock) Advance(d time.Duration) {
	c.tb.Helper()
	c.Settle()
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *timer
		for _, t := range c.timers {
			if t.state == armed && !t.at.After(target) && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		if next == nil {
			c.now = target
			c.mu.Unlock()
			return
		}
		if next.at.After(c.now) {
			c.now = next.at
		}
		next.fireLocked()
		c.mu.Unlock()
		c.Settle()
	}
}

// Jump moves the time forward by d at once, as a stalled process or a
// suspended machine sees it: every timer whose deadline has passed fires
// once, at the new time. It settles before and after.
func (c *Clock) Jump(d time.Duration) {
	c.tb.Helper()
	c.Settle()
	c.mu.Lock()
	c.now = c.now.Add(d)
	for _, t := range c.timers {
		if t.state == armed && !t.at.After(c.now) {
			t.fireLocked()
		}
	}
	c.mu.Unlock()
	c.Settle()
}

// Settle waits until every fired timer has been re-armed or stopped by its
// owner, failing the test if that takes longer than 10 s of real time.
func (c *Clock) Settle() {
	c.tb.Helper()
	limit := time.NewTimer(settleLimit)
	defer limit.Stop()
	for {
		c.mu.Lock()
		pending := slices.ContainsFunc(c.timers, func(t *timer) bool { return t.state == fired })
		changed := c.changed
		c.mu.Unlock()
		if !pending {
			return
		}
		select {
		case <-changed:
		case <-limit.C:
			c.tb.Fatalf("fakeclock: a fired timer was not re-armed or stopped within %v", settleLimit)
		}
	}
}

func (c *Clock) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Reset(d time.Duration) {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	t.drain()
	t.at = c.now.Add(d)
	if d <= 0 {
		t.fireLocked()
		return
	}
	t.state = armed
	c.notifyLocked()
}

func (t *timer) Stop() {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	t.drain()
	t.state = idle
	c.notifyLocked()
}

// drain drops a tick not yet received, as time.Timer does since Go 1.23.
func (t *timer) drain() {
	select {
	case <-t.ch:
	default:
	}
}

func (t *timer) fireLocked() {
	t.drain()
	t.ch <- t.c.now
	t.state = fired
	t.c.notifyLocked()
}
