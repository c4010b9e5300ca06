package monitor

import "time"

// Clock is the time source of a [Scheduler]: the current time and a
// resettable timer. [RealClock] is the production one; tests use a fake
// (host/monitor/internal/fakeclock) whose time moves only when told to.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns an armed timer that fires once, after d.
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer with the semantics of [time.Timer] since Go
// 1.23: after Reset or Stop returns, no time from an earlier arming is
// received from C. Its methods may be called while another goroutine
// receives from C.
type Timer interface {
	// C returns the channel on which the timer delivers the time it fired.
	C() <-chan time.Time
	// Reset arms the timer to fire after d (at once if d <= 0), replacing
	// any earlier arming.
	Reset(d time.Duration)
	// Stop disarms the timer.
	Stop()
}

// RealClock returns the system clock: [time.Now] and [time.NewTimer]. Times
// it returns carry the monotonic reading, so schedules built on it are not
// moved by changes to the wall clock.
func RealClock() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }

func (t realTimer) Reset(d time.Duration) { t.t.Reset(d) }

func (t realTimer) Stop() { t.t.Stop() }
