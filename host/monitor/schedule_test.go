package monitor

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock whose time moves only by Advance.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	c  chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch, func() bool { return false }
	}
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), c: ch})
	return ch, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, t := range c.timers {
			if t.c == ch {
				c.timers = append(c.timers[:i], c.timers[i+1:]...)
				return true
			}
		}
		return false
	}
}

// armed reports whether the scheduler waits on a timer: it has taken in
// everything that happened and only time can move it now.
func (c *fakeClock) armed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers) > 0
}

// Advance moves time forward by d and fires the timers that fall due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var keep []fakeTimer
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.c <- c.now
		} else {
			keep = append(keep, t)
		}
	}
	c.timers = keep
	c.mu.Unlock()
}

// recorder records the due times of checks, and can hold checks until
// released to simulate slow ones.
type recorder struct {
	mu   sync.Mutex
	due  map[string][]time.Time
	hold chan struct{} // nil: checks return at once
	in   chan string
}

func (r *recorder) check(ctx context.Context, key string, due time.Time) {
	r.mu.Lock()
	r.due[key] = append(r.due[key], due)
	hold := r.hold
	r.mu.Unlock()
	r.in <- key
	if hold != nil {
		<-hold
	}
}

func (r *recorder) times(key string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.due[key]...)
}

var epoch = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

func setup(t *testing.T, jitter float64) (*Scheduler, *fakeClock, *recorder) {
	clock := &fakeClock{now: epoch}
	rec := &recorder{due: map[string][]time.Time{}, in: make(chan string, 1000)}
	s := New(Config{Check: rec.check, Clock: clock, Jitter: jitter, Rand: rand.New(rand.NewPCG(1, 2))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s, clock, rec
}

// step advances the clock by d and waits for n checks to start.
func step(t *testing.T, clock *fakeClock, rec *recorder, d time.Duration, n int) {
	t.Helper()
	if d > 0 {
		deadline := time.Now().Add(10 * time.Second)
		for !clock.armed() {
			if time.Now().After(deadline) {
				t.Fatal("the scheduler never waited on a timer")
			}
			time.Sleep(time.Millisecond)
		}
	}
	clock.Advance(d)
	for range n {
		select {
		case <-rec.in:
		case <-time.After(10 * time.Second):
			t.Fatalf("a check did not start after advancing %s", d)
		}
	}
}

func TestAnchoredNoDrift(t *testing.T) {
	s, clock, rec := setup(t, -1)
	s.Set("a", time.Second)
	// Run sees the key only after Set pokes it; the first slot is now.
	step(t, clock, rec, 0, 1)
	for range 5 {
		// The timer fires late (1.3s): due times stay on the grid.
		step(t, clock, rec, 1300*time.Millisecond, 1)
	}
	for i, d := range rec.times("a") {
		if off := d.Sub(epoch); off%time.Second != 0 {
			t.Errorf("check %d due at +%s: off the 1s grid", i, off)
		}
	}
}

func TestJitterSpreadsFirstRuns(t *testing.T) {
	s, clock, rec := setup(t, 0.5)
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	for _, k := range keys {
		s.Set(k, 10*time.Second)
	}
	step(t, clock, rec, 5*time.Second, len(keys))
	seen := map[time.Time]bool{}
	for _, k := range keys {
		d := rec.times(k)[0]
		if d.Before(epoch) || !d.Before(epoch.Add(5*time.Second)) {
			t.Errorf("%s first due at %s, want within the first 5s (half the interval)", k, d.Sub(epoch))
		}
		seen[d] = true
	}
	if len(seen) < 2 {
		t.Errorf("all first checks at the same instant: no jitter")
	}
}

func TestSlowCheckSkipsSlots(t *testing.T) {
	s, clock, rec := setup(t, -1)
	hold := make(chan struct{})
	rec.hold = hold
	s.Set("a", time.Second)
	step(t, clock, rec, 0, 1)
	// The check takes 3.5s: the slots at 1s, 2s and 3s are skipped, and
	// no second check of "a" starts meanwhile.
	for range 7 {
		clock.Advance(500 * time.Millisecond)
	}
	select {
	case <-rec.in:
		t.Fatal("a second check started while the first still ran")
	default:
	}
	rec.mu.Lock()
	rec.hold = nil
	rec.mu.Unlock()
	close(hold)
	// Wait for the scheduler to see the check end (it counts the skipped
	// slots then), so that the clock moves on only afterwards.
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Skipped == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	step(t, clock, rec, 500*time.Millisecond, 1)
	got := rec.times("a")
	if len(got) != 2 || !got[1].Equal(epoch.Add(4*time.Second)) {
		t.Errorf("due times %v, want the next after the slow check at +4s", got)
	}
	if st := s.Stats(); st.Skipped != 3 || st.Runs != 2 {
		t.Errorf("stats %+v, want 2 runs and 3 skipped", st)
	}
}

func TestSetReanchorsRemoveStops(t *testing.T) {
	s, clock, rec := setup(t, -1)
	s.Set("a", time.Second)
	step(t, clock, rec, 0, 1)
	step(t, clock, rec, time.Second, 1)
	s.Set("a", 5*time.Second) // re-anchored now: due at once, then every 5s
	step(t, clock, rec, 0, 1)
	step(t, clock, rec, 5*time.Second, 1)
	s.Remove("a")
	clock.Advance(time.Minute)
	select {
	case <-rec.in:
		t.Fatal("a check ran after Remove")
	case <-time.After(100 * time.Millisecond):
	}
	got := rec.times("a")
	if len(got) != 4 || got[3].Sub(got[2]) != 5*time.Second {
		t.Errorf("due times %v, want 1s then 5s apart", got)
	}
}
