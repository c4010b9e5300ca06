package monitor

import (
	"container/heap"
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// CheckFunc runs one check of key, due at due. It may block; the
// Scheduler never runs two checks of one key at once.
type CheckFunc func(ctx context.Context, key string, due time.Time)

// Clock is the time source of a Scheduler; RealClock in production, a
// fake in tests.
type Clock interface {
	Now() time.Time
	// NewTimer returns a channel that receives once d has passed, and a
	// function that stops it.
	NewTimer(d time.Duration) (<-chan time.Time, func() bool)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// RealClock returns the system clock.
func RealClock() Clock { return realClock{} }

// DefaultJitter is the fraction of its interval over which a key's first
// check is spread, so that many resources defined at once do not check
// in lockstep.
const DefaultJitter = 0.1

// Config configures a Scheduler. Check is required.
type Config struct {
	Check  CheckFunc
	Clock  Clock      // default RealClock()
	Jitter float64    // default DefaultJitter; negative: none
	Rand   *rand.Rand // for the phase offsets; default seeded from the clock
}

// Stats counts a Scheduler's checks.
type Stats struct {
	Runs    int `json:"runs"`    // checks started
	Skipped int `json:"skipped"` // slots skipped because the key's previous check still ran
	// LatenessP50 and LatenessP99 are percentiles of how late the last
	// lateSamples checks started after their due time.
	LatenessP50 time.Duration `json:"lateness_p50"`
	LatenessP99 time.Duration `json:"lateness_p99"`
}

// lateSamples is how many recent latenesses Stats computes from.
const lateSamples = 8192

// Scheduler runs a check per key at the key's interval. Due times are
// anchored (start + offset + k*interval), so slow checks and late timers
// never make them drift; a slot whose key is still being checked is
// skipped. One timer serves every key (a min-heap of due times). Safe
// for concurrent use.
type Scheduler struct {
	cfg Config

	mu    sync.Mutex
	keys  map[string]*entry
	due   dueHeap
	wake  chan struct{}
	stats Stats
	late  []time.Duration // ring of the last lateSamples latenesses
}

type entry struct {
	key      string
	interval time.Duration
	anchor   time.Time
	next     time.Time
	running  bool
	index    int // in the heap; -1 when not in it
	gen      int // bumped by Set and Remove: a check of an old generation does not reschedule
}

// New returns a Scheduler; it checks nothing until Run.
func New(cfg Config) *Scheduler {
	if cfg.Clock == nil {
		cfg.Clock = RealClock()
	}
	if cfg.Jitter == 0 {
		cfg.Jitter = DefaultJitter
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(uint64(cfg.Clock.Now().UnixNano()), 0))
	}
	return &Scheduler{cfg: cfg, keys: map[string]*entry{}, wake: make(chan struct{}, 1)}
}

// Set starts checking key every interval, or changes its interval (which
// re-anchors it). Setting the same interval again changes nothing.
func (s *Scheduler) Set(key string, interval time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.keys[key]
	if ok && e.interval == interval {
		return
	}
	if !ok {
		e = &entry{key: key, index: -1}
		s.keys[key] = e
	}
	e.gen++
	e.interval = interval
	var off time.Duration
	if s.cfg.Jitter > 0 {
		if span := int64(float64(interval) * s.cfg.Jitter); span > 0 {
			off = time.Duration(s.cfg.Rand.Int64N(span))
		}
	}
	e.anchor = s.cfg.Clock.Now().Add(off)
	e.next = e.anchor
	if !e.running {
		s.push(e)
	}
	s.poke()
}

// Remove stops checking key; a check in flight finishes.
func (s *Scheduler) Remove(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.keys[key]
	if !ok {
		return
	}
	delete(s.keys, key)
	e.gen++
	if e.index >= 0 {
		heap.Remove(&s.due, e.index)
	}
}

// Stats returns the counts so far and the recent lateness.
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	st := s.stats
	late := slices.Clone(s.late)
	s.mu.Unlock()
	if len(late) > 0 {
		slices.Sort(late)
		st.LatenessP50 = late[len(late)*50/100]
		st.LatenessP99 = late[len(late)*99/100]
	}
	return st
}

func (s *Scheduler) push(e *entry) {
	if e.index < 0 {
		heap.Push(&s.due, e)
	} else {
		heap.Fix(&s.due, e.index)
	}
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run checks keys as they fall due until ctx ends, then waits for the
// checks in flight (which see ctx cancelled) and returns.
func (s *Scheduler) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		s.mu.Lock()
		now := s.cfg.Clock.Now()
		for len(s.due) > 0 && !s.due[0].next.After(now) {
			e := heap.Pop(&s.due).(*entry)
			e.running = true
			if len(s.late) < lateSamples {
				s.late = append(s.late, now.Sub(e.next))
			} else {
				s.late[s.stats.Runs%lateSamples] = now.Sub(e.next)
			}
			s.stats.Runs++
			due, gen := e.next, e.gen
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.cfg.Check(ctx, e.key, due)
				s.finished(e, gen)
			}()
		}
		var timer <-chan time.Time
		stop := func() bool { return false }
		if len(s.due) > 0 {
			timer, stop = s.cfg.Clock.NewTimer(s.due[0].next.Sub(now))
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			stop()
			return
		case <-timer:
		case <-s.wake:
			stop()
		}
	}
}

// finished schedules e's next slot: the first one on its anchored grid
// after now, counting the slots its check overran.
func (s *Scheduler) finished(e *entry, gen int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.running = false
	if e.gen != gen {
		// Set re-anchored it while the check ran (Remove: it is gone).
		if s.keys[e.key] == e {
			s.push(e)
			s.poke()
		}
		return
	}
	now := s.cfg.Clock.Now()
	next := e.next.Add(e.interval)
	if !next.After(now) {
		n := now.Sub(e.anchor)/e.interval + 1
		skipped := int(n) - int(e.next.Sub(e.anchor)/e.interval) - 1
		s.stats.Skipped += skipped
		next = e.anchor.Add(n * e.interval)
	}
	e.next = next
	s.push(e)
	s.poke()
}

type dueHeap []*entry

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *dueHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*h = old[:len(old)-1]
	return e
}
