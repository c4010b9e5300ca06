package monitor_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ark-ha/ark/host/monitor"
	"github.com/ark-ha/ark/host/monitor/internal/fakeclock"
)

var epoch = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

// at is the time d after epoch.
func at(d time.Duration) time.Time { return epoch.Add(d) }

// harness runs a Scheduler on a fake clock and records its checks. A check
// of a key with a gate blocks until the gate is closed (a slow check).
type harness struct {
	t   *testing.T
	clk *fakeclock.Clock
	s   *monitor.Scheduler

	mu       sync.Mutex
	calls    []call
	gates    map[string]chan struct{}
	active   map[string]int
	blocked  map[string]int // checks waiting at a gate, by key
	overlaps []string

	cancel  context.CancelFunc
	runDone chan struct{}
}

type call struct {
	key string
	due time.Time
	ctx context.Context
}

func newHarness(t *testing.T, jitter float64) *harness {
	h := &harness{
		t:       t,
		clk:     fakeclock.New(t, epoch),
		gates:   map[string]chan struct{}{},
		active:  map[string]int{},
		blocked: map[string]int{},
		runDone: make(chan struct{}),
	}
	h.s = monitor.New(monitor.Config{
		Check:  h.check,
		Clock:  h.clk,
		Jitter: jitter,
		Rand:   rand.New(rand.NewPCG(1, 2)),
	})
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() {
		defer close(h.runDone)
		h.s.Run(ctx)
	}()
	t.Cleanup(func() {
		h.mu.Lock()
		for k, g := range h.gates {
			close(g)
			delete(h.gates, k)
		}
		h.mu.Unlock()
		cancel()
		<-h.runDone
		if len(h.overlaps) > 0 {
			t.Errorf("checks overlapped for %v", h.overlaps)
		}
	})
	return h
}

func (h *harness) check(ctx context.Context, key string, due time.Time) {
	h.mu.Lock()
	h.calls = append(h.calls, call{key: key, due: due, ctx: ctx})
	h.active[key]++
	if h.active[key] > 1 {
		h.overlaps = append(h.overlaps, key)
	}
	gate := h.gates[key]
	if gate != nil {
		h.blocked[key]++
	}
	h.mu.Unlock()
	if gate != nil {
		<-gate
	}
	h.mu.Lock()
	h.active[key]--
	if gate != nil {
		h.blocked[key]--
	}
	h.mu.Unlock()
}

// hold makes the next checks of key block until release.
func (h *harness) hold(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gates[key] = make(chan struct{})
}

// release lets the held checks of key return and waits until the scheduler
// has seen them finish.
func (h *harness) release(key string) {
	h.t.Helper()
	h.mu.Lock()
	close(h.gates[key])
	delete(h.gates, key)
	h.mu.Unlock()
	h.waitFor("held checks pass the gate", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.blocked[key] == 0
	})
	h.settle()
}

// waitFor polls cond until it holds; the limit detects hangs only.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: not true after 10s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// settle waits until the scheduler has taken in the clock, every check it
// started has been called, and every check not held at a gate has
// returned: checks take no fake time unless held.
func (h *harness) settle() {
	h.t.Helper()
	h.clk.Settle()
	h.waitFor("checks called, and returned unless held", func() bool {
		st := h.s.Stats()
		h.mu.Lock()
		defer h.mu.Unlock()
		blocked := 0
		for _, n := range h.blocked {
			blocked += n
		}
		return len(h.calls) == st.Runs && st.InFlight == blocked
	})
}

// advance moves the fake time forward by d, stepping to each due time and
// settling there.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.settle()
	target := h.clk.Now().Add(d)
	for {
		next := h.clk.Deadlines()
		if len(next) == 0 || next[0].After(target) {
			break
		}
		h.clk.Advance(next[0].Sub(h.clk.Now()))
		h.settle()
	}
	h.clk.Advance(target.Sub(h.clk.Now()))
	h.settle()
}

func (h *harness) jump(d time.Duration) {
	h.t.Helper()
	h.clk.Jump(d)
	h.settle()
}

// dues returns the due times of key's checks as offsets from epoch.
func (h *harness) dues(key string) []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []time.Duration
	for _, c := range h.calls {
		if c.key == key {
			out = append(out, c.due.Sub(epoch))
		}
	}
	return out
}

// wantDues checks key's due times, given as offsets from epoch.
func (h *harness) wantDues(key string, want ...time.Duration) {
	h.t.Helper()
	if got := h.dues(key); !slices.Equal(got, want) {
		h.t.Errorf("%s due at %v, want %v", key, got, want)
	}
}

// wantNext checks the scheduler's one armed timer.
func (h *harness) wantNext(d time.Duration) {
	h.t.Helper()
	got := h.clk.Deadlines()
	if len(got) != 1 || !got[0].Equal(at(d)) {
		var offs []time.Duration
		for _, g := range got {
			offs = append(offs, g.Sub(epoch))
		}
		h.t.Errorf("armed timers at %v, want one at %v", offs, d)
	}
}

func (h *harness) wantStats(runs, skipped int) {
	h.t.Helper()
	if st := h.s.Stats(); st.Runs != runs || st.Skipped != skipped {
		h.t.Errorf("stats %+v, want %d runs and %d skipped", st, runs, skipped)
	}
}

const s1 = time.Second

// TestScheduleAnchored: due times stay on the grid start + k*interval
// whatever the checks take and however late the scheduler wakes.
func TestScheduleAnchored(t *testing.T) {
	h := newHarness(t, -1)
	h.s.Set("a", 10*s1)
	h.settle() // first slot is now (no jitter)
	h.wantDues("a", 0)
	h.wantNext(10 * s1)

	// A check taking 7 s does not push the next one to +27 s.
	h.hold("a")
	h.advance(10 * s1)
	h.advance(7 * s1)
	h.release("a")
	h.wantNext(20 * s1)
	h.advance(3 * s1)
	h.wantDues("a", 0, 10*s1, 20*s1)

	// The scheduler wakes 5 s late: it runs the +30 s slot, and the next
	// one is still at +40 s.
	h.jump(15 * s1)
	h.wantDues("a", 0, 10*s1, 20*s1, 30*s1)
	h.wantNext(40 * s1)
	if st := h.s.Stats(); st.LatenessP99 != 5*s1 {
		t.Errorf("lateness p99 %v, want 5s", st.LatenessP99)
	}

	// It wakes 20 s late (a suspended machine): the latest slot (+60 s)
	// runs, the two before it are skipped, none is run late in a burst.
	h.jump(25 * s1)
	h.wantDues("a", 0, 10*s1, 20*s1, 30*s1, 60*s1)
	h.wantNext(70 * s1)
	h.wantStats(5, 2)

	// Many steps later the grid has not moved.
	h.advance(1000 * s1)
	d := h.dues("a")
	for i, off := range d[5:] {
		if want := time.Duration(7+i) * 10 * s1; off != want {
			t.Fatalf("check %d due at %v, want %v (all: %v)", 5+i, off, want, d)
		}
	}
	h.wantStats(5+100, 2)
}

// TestScheduleJitter: first runs spread uniformly within Jitter*interval,
// later runs exactly one interval apart.
func TestScheduleJitter(t *testing.T) {
	const n = 500
	const iv = 10 * s1
	tests := []struct {
		name   string
		jitter float64
		bound  time.Duration // offsets are in [0, bound); 0: all exactly 0
	}{
		{"default", 0, time.Duration(monitor.DefaultJitter * float64(iv))},
		{"half", 0.5, iv / 2},
		{"above one", 3, iv},
		{"none", -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.jitter)
			for i := range n {
				h.s.Set(fmt.Sprintf("r%03d", i), iv)
			}
			h.advance(max(tt.bound-1, 0))
			h.wantStats(n, 0)
			first := map[string]time.Duration{}
			var offs []time.Duration
			for i := range n {
				k := fmt.Sprintf("r%03d", i)
				d := h.dues(k)
				if len(d) != 1 {
					t.Fatalf("%s due at %v, want one check so far", k, d)
				}
				first[k] = d[0]
				offs = append(offs, d[0])
			}
			slices.Sort(offs)
			if tt.bound == 0 {
				if offs[n-1] != 0 {
					t.Fatalf("offsets up to %v, want all 0", offs[n-1])
				}
			} else {
				if offs[0] < 0 || offs[n-1] >= tt.bound {
					t.Fatalf("offsets in [%v, %v], want within [0, %v)", offs[0], offs[n-1], tt.bound)
				}
				// Spread: the lowest and highest tenth of the range are used,
				// and hardly two keys share an offset.
				if offs[0] > tt.bound/10 || offs[n-1] < tt.bound*9/10 {
					t.Errorf("offsets in [%v, %v]: not spread over [0, %v)", offs[0], offs[n-1], tt.bound)
				}
				if distinct := len(slices.Compact(slices.Clone(offs))); distinct < n*9/10 {
					t.Errorf("%d distinct offsets for %d keys", distinct, n)
				}
			}
			h.advance(iv)
			for k, off := range first {
				h.wantDues(k, off, off+iv)
			}
			if len(h.clk.Deadlines()) != 1 {
				t.Errorf("%d timers armed for %d keys, want one", len(h.clk.Deadlines()), n)
			}
		})
	}
}

// TestScheduleNoOverlap: a slot that comes while the key's check still runs
// is skipped and counted; other keys' checks go on meanwhile.
func TestScheduleNoOverlap(t *testing.T) {
	h := newHarness(t, -1)
	h.hold("slow")
	h.s.Set("slow", s1)
	h.s.Set("fast", s1)
	h.settle()
	// The slow check takes 3.5 s: slots +1, +2 and +3 s are skipped.
	for range 7 {
		h.advance(s1 / 2)
	}
	h.wantDues("slow", 0)
	h.wantDues("fast", 0, s1, 2*s1, 3*s1)
	if st := h.s.Stats(); st.InFlight != 1 || st.Skipped != 3 {
		t.Errorf("stats %+v, want 1 in flight and 3 skipped", st)
	}
	h.release("slow")
	// The next slot on the grid after it finished.
	h.advance(s1 / 2)
	h.wantDues("slow", 0, 4*s1)
	h.wantDues("fast", 0, s1, 2*s1, 3*s1, 4*s1)
	h.wantStats(7, 3)
}

// TestScheduleSetReanchors: a new interval starts a new grid at Set; the
// same interval again keeps the grid.
func TestScheduleSetReanchors(t *testing.T) {
	h := newHarness(t, -1)
	h.s.Set("a", 10*s1)
	h.advance(13 * s1)
	h.wantDues("a", 0, 10*s1)
	h.s.Set("a", 4*s1) // at +13 s: first slot now, then every 4 s
	h.settle()
	h.advance(8 * s1)
	h.wantDues("a", 0, 10*s1, 13*s1, 17*s1, 21*s1)
	h.advance(s1)
	h.s.Set("a", 4*s1) // unchanged: the grid stays
	h.wantNext(25 * s1)

	// Re-anchored while a check runs: the new grid's slots skip until it
	// has finished.
	h.hold("a")
	h.advance(3 * s1) // +25 s: runs, held
	h.s.Set("a", 2*s1)
	h.settle() // +25 s is the new grid's first slot: skipped
	h.advance(2 * s1)
	h.wantDues("a", 0, 10*s1, 13*s1, 17*s1, 21*s1, 25*s1)
	h.wantStats(6, 2)
	h.release("a")
	h.advance(2 * s1)
	h.wantDues("a", 0, 10*s1, 13*s1, 17*s1, 21*s1, 25*s1, 29*s1)
}

// TestScheduleRemove: Remove stops further checks; a check in flight
// finishes, uncancelled.
func TestScheduleRemove(t *testing.T) {
	h := newHarness(t, -1)
	h.s.Set("a", 10*s1)
	h.s.Set("b", 10*s1)
	h.settle()
	h.s.Remove("a")
	h.s.Remove("never-set")
	h.advance(30 * s1)
	h.wantDues("a", 0)
	h.wantDues("b", 0, 10*s1, 20*s1, 30*s1)
	if st := h.s.Stats(); st.Keys != 1 {
		t.Errorf("%d keys, want 1", st.Keys)
	}

	h.hold("b")
	h.advance(10 * s1) // +40 s: runs, held
	h.s.Remove("b")
	if d := h.clk.Deadlines(); len(d) != 0 {
		t.Errorf("timers armed at %v with no key left", d)
	}
	h.mu.Lock()
	ctx := h.calls[len(h.calls)-1].ctx
	h.mu.Unlock()
	if ctx.Err() != nil {
		t.Error("Remove cancelled the check in flight")
	}
	// Set again while the old check runs: still no overlap.
	h.s.Set("b", 10*s1)
	h.settle()
	h.release("b")
	h.advance(10 * s1)
	h.wantDues("b", 0, 10*s1, 20*s1, 30*s1, 40*s1, 50*s1)
	h.wantStats(7, 1)
}

// TestScheduleRunWaits: Run returns once ctx ends and the checks in flight,
// which see ctx end, have returned.
func TestScheduleRunWaits(t *testing.T) {
	clk := fakeclock.New(t, epoch)
	entered := make(chan context.Context)
	release := make(chan struct{})
	var mu sync.Mutex
	finished := false
	s := monitor.New(monitor.Config{Clock: clk, Jitter: -1, Check: func(ctx context.Context, key string, due time.Time) {
		entered <- ctx
		<-ctx.Done()
		<-release
		mu.Lock()
		finished = true
		mu.Unlock()
	}})
	s.Set("a", s1) // before Run: fine
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		s.Run(ctx)
	}()
	checkCtx := <-entered
	cancel()
	<-checkCtx.Done()
	select {
	case <-runDone:
		t.Fatal("Run returned with a check in flight")
	default:
	}
	close(release)
	select {
	case <-runDone:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after ctx ended")
	}
	mu.Lock()
	defer mu.Unlock()
	if !finished {
		t.Error("Run returned before the check in flight")
	}
	if st := s.Stats(); st.InFlight != 0 || st.Runs != 1 {
		t.Errorf("stats %+v after Run, want 1 run, none in flight", st)
	}
}

func TestSchedulePanics(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	mustPanic("New without Check", func() { monitor.New(monitor.Config{}) })
	s := monitor.New(monitor.Config{Check: func(context.Context, string, time.Time) {}, Clock: fakeclock.New(t, epoch), Jitter: -1})
	mustPanic("Set with interval 0", func() { s.Set("a", 0) })
	mustPanic("Set with a negative interval", func() { s.Set("a", -s1) })

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	// Wait until Run runs: a key due now is dispatched by it.
	s.Set("x", s1)
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Runs == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Run did not start")
		}
		time.Sleep(100 * time.Microsecond)
	}
	mustPanic("Run while it runs", func() { s.Run(ctx) })
	cancel()
	<-done
	// Run may run again after it returned.
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	s.Run(ctx2)
}
