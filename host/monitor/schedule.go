package monitor

import (
	"container/heap"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// DefaultJitter is the [Config.Jitter] used when it is zero: first runs are
// spread over a tenth of each key's interval, enough to keep a thousand
// resources set at the same moment (a node joining) from checking in the
// same millisecond, small enough that a newly set key is checked soon.
const DefaultJitter = 0.1

// CheckFunc is the check a [Scheduler] runs: key is the key it was set for
// and due the slot of the schedule this run is for (not when it started:
// now minus due is the scheduler's lateness). ctx is the one passed to
// [Scheduler.Run]; it is not cancelled by [Scheduler.Remove]. A CheckFunc
// runs in its own goroutine, concurrently with the checks of other keys but
// never with another check of the same key; it should return when ctx ends.
type CheckFunc func(ctx context.Context, key string, due time.Time)

// Config configures a [Scheduler].
type Config struct {
	// Check is run for each key at each of its slots. Required.
	Check CheckFunc
	// Clock is the time source; nil means RealClock().
	Clock Clock
	// Jitter is the fraction of a key's interval over which its first run is
	// spread: the offset of a key's schedule is uniform in
	// [0, Jitter*interval). Zero (or NaN) means DefaultJitter; a negative value means
	// no jitter (offset 0); values above 1 mean 1.
	Jitter float64
	// Rand draws the offsets; nil means a randomly seeded source. The
	// scheduler serializes its use.
	Rand *rand.Rand
}

// Stats are a scheduler's totals since [New], and how late it has been
// recently.
type Stats struct {
	// Runs counts checks started.
	Runs int `json:"runs"`
	// Skipped counts slots that had no check: the key's previous check was
	// still running at the slot's due time, or the scheduler woke up only
	// after the following slot was already due (a stalled process, a
	// suspended machine).
	Skipped int `json:"skipped"`
	// InFlight is the number of checks running now.
	InFlight int `json:"in_flight"`
	// Keys is the number of keys set.
	Keys int `json:"keys"`
	// LatenessP50 and LatenessP99 are percentiles of how late the scheduler
	// started its last 8192 checks: from the slot's due time to the moment
	// it handed the check to its goroutine. On the real clock they include
	// the Go runtime's timer resolution (up to about 1 ms).
	LatenessP50 time.Duration `json:"lateness_p50"`
	LatenessP99 time.Duration `json:"lateness_p99"`
}

// lateSamples is how many recent latenesses Stats computes from.
const lateSamples = 8192

// Scheduler runs a check for many keys (resource tags), each at its own
// interval. Key k set at time start with interval iv and offset o (see
// [Config.Jitter]) has slots due at start+o+n*iv for n = 0, 1, 2, ...: the
// grid is anchored, so neither the duration of checks nor a late timer makes
// it drift. At each slot the check runs in a new goroutine, unless the key's
// previous check is still running: then the slot is skipped (counted in
// [Stats]) and the next slot of the grid is the next chance. If the
// scheduler wakes up after several slots of a key have passed, it runs the
// latest of them and counts the others as skipped; it never runs a burst of
// late checks.
//
// One timer serves all keys (a min-heap of due times), so ten thousand keys
// cost one wakeup per distinct due time and nothing in between.
//
// Set, Remove and Stats may be called from any goroutine, including from a
// check, before, during and after Run.
type Scheduler struct {
	check  CheckFunc
	clock  Clock
	jitter float64

	mu       sync.Mutex
	rand     *rand.Rand
	timer    Timer
	keys     map[string]*entry
	queue    dueQueue
	busy     map[string]bool // keys with a check in flight
	runs     int
	skipped  int
	inFlight int
	late     []time.Duration // ring of the last lateSamples latenesses
	running  bool            // Run is running

	wg sync.WaitGroup // checks in flight
}

// entry is one key's schedule: slot n is due at anchor + n*interval.
type entry struct {
	key      string
	interval time.Duration
	anchor   time.Time
	slot     int64     // the next slot
	due      time.Time // when slot is due
	index    int       // in the queue
}

// New returns a scheduler with no keys; it checks nothing until [Scheduler.Run]
// is called. It panics if cfg.Check is nil.
func New(cfg Config) *Scheduler {
	if cfg.Check == nil {
		panic("monitor.New: Config.Check is nil")
	}
	s := &Scheduler{
		check:  cfg.Check,
		clock:  cfg.Clock,
		jitter: cfg.Jitter,
		rand:   cfg.Rand,
		keys:   make(map[string]*entry),
		busy:   make(map[string]bool),
	}
	if s.clock == nil {
		s.clock = RealClock()
	}
	switch {
	case s.jitter == 0, math.IsNaN(s.jitter):
		s.jitter = DefaultJitter
	case s.jitter < 0:
		s.jitter = 0
	case s.jitter > 1:
		s.jitter = 1
	}
	if s.rand == nil {
		s.rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	s.timer = s.clock.NewTimer(time.Hour)
	s.timer.Stop()
	return s
}

// Set starts scheduling key at interval, or changes its interval. Either
// way the key's grid is anchored anew: a fresh random offset o, first slot
// due at now+o. Set with the key's current interval does nothing (the grid
// stays), so it may be repeated freely. A check of key in flight is not
// affected, and the new grid's slots skip while it runs. Set does not
// block on checks; it panics if interval is not positive.
func (s *Scheduler) Set(key string, interval time.Duration) {
	if interval <= 0 {
		panic(fmt.Sprintf("monitor: Set %q: interval %v is not positive", key, interval))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.keys[key]
	if e != nil && e.interval == interval {
		return
	}
	now := s.clock.Now()
	var offset time.Duration
	if n := int64(s.jitter * float64(interval)); n > 0 {
		offset = time.Duration(s.rand.Int64N(n))
	}
	fresh := e == nil
	if fresh {
		e = &entry{key: key}
		s.keys[key] = e
	}
	e.interval = interval
	e.anchor = now.Add(offset)
	e.slot = 0
	e.due = e.anchor
	if fresh {
		heap.Push(&s.queue, e)
	} else {
		heap.Fix(&s.queue, e.index)
	}
	s.rearmLocked(now)
}

// Remove stops scheduling key; a key not set is ignored. A check of key in
// flight is neither waited for nor cancelled: it finishes, and if key is
// set again meanwhile, the new schedule's slots skip until it has.
func (s *Scheduler) Remove(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.keys[key]
	if e == nil {
		return
	}
	delete(s.keys, key)
	heap.Remove(&s.queue, e.index)
	s.rearmLocked(s.clock.Now())
}

// Stats returns the scheduler's totals.
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	st := Stats{Runs: s.runs, Skipped: s.skipped, InFlight: s.inFlight, Keys: len(s.keys)}
	late := slices.Clone(s.late)
	s.mu.Unlock()
	if len(late) > 0 {
		slices.Sort(late)
		st.LatenessP50 = percentile(late, 50)
		st.LatenessP99 = percentile(late, 99)
	}
	return st
}

// Run runs checks as they fall due and blocks until ctx ends; then it waits
// for the checks in flight (which see ctx end) to return, and returns. Slots
// that fell due before Run was called are handled as a late wakeup (the
// latest runs, the others are skipped). Run may be called again after it
// returned; it panics if called while it runs.
func (s *Scheduler) Run(ctx context.Context) {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		panic("monitor: Scheduler.Run called while it runs")
	}
	s.running = true
	s.mu.Unlock()
	defer func() {
		s.wg.Wait()
		s.mu.Lock()
		s.running = false
		s.mu.Unlock()
	}()
	for ctx.Err() == nil {
		s.mu.Lock()
		s.dispatchLocked(ctx, s.clock.Now())
		s.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-s.timer.C():
		}
	}
}

// dispatchLocked starts or skips every slot due at now and rearms the timer
// for the earliest slot left.
func (s *Scheduler) dispatchLocked(ctx context.Context, now time.Time) {
	for len(s.queue) > 0 {
		e := s.queue[0]
		if e.due.After(now) {
			break
		}
		// The latest slot due at or before now runs; earlier ones are late.
		late := int64(now.Sub(e.due) / e.interval)
		s.skipped += int(late)
		due := e.due.Add(time.Duration(late) * e.interval)
		if s.busy[e.key] {
			s.skipped++
		} else {
			s.recordLocked(now.Sub(due))
			s.startLocked(ctx, e.key, due)
		}
		e.slot += late + 1
		e.due = e.anchor.Add(time.Duration(e.slot) * e.interval)
		heap.Fix(&s.queue, 0)
	}
	s.rearmLocked(now)
}

func (s *Scheduler) startLocked(ctx context.Context, key string, due time.Time) {
	s.busy[key] = true
	s.inFlight++
	s.runs++
	s.wg.Go(func() {
		defer func() {
			s.mu.Lock()
			delete(s.busy, key)
			s.inFlight--
			s.mu.Unlock()
		}()
		s.check(ctx, key, due)
	})
}

// percentile returns the p-th percentile of sorted by the nearest-rank
// method.
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100 // ceil(n*p/100)
	return sorted[max(i-1, 0)]
}

func (s *Scheduler) recordLocked(late time.Duration) {
	if len(s.late) < lateSamples {
		s.late = append(s.late, late)
	} else {
		s.late[s.runs%lateSamples] = late
	}
}

// rearmLocked points the timer at the earliest due slot, or stops it.
func (s *Scheduler) rearmLocked(now time.Time) {
	if len(s.queue) == 0 {
		s.timer.Stop()
		return
	}
	s.timer.Reset(s.queue[0].due.Sub(now))
}

// dueQueue is a min-heap of entries by due time (container/heap).
type dueQueue []*entry

func (q dueQueue) Len() int           { return len(q) }
func (q dueQueue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }

func (q dueQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index = i
	q[j].index = j
}

func (q *dueQueue) Push(x any) {
	e := x.(*entry)
	e.index = len(*q)
	*q = append(*q, e)
}

func (q *dueQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}
