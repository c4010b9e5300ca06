package kits

import (
	"log/slog"
	"sync"
	"time"
)

// EventKind says what happened to a kit.
type EventKind string

// Event kinds.
const (
	// KitStarted: Enable launched the kit's first process and checked it.
	KitStarted EventKind = "started"
	// KitCrashed: a process exited without being asked to (killed,
	// crashed, exited by itself, or killed by the Supervisor for not
	// answering). Status says how; NextTry when it will be relaunched.
	KitCrashed EventKind = "crashed"
	// KitRelaunched: a fresh process replaced one that exited.
	KitRelaunched EventKind = "relaunched"
	// KitLaunchFailed: a relaunch failed (binary missing or not the
	// pinned one, handshake failed, Info unreadable). Err says why;
	// NextTry when it will be tried again.
	KitLaunchFailed EventKind = "launch-failed"
	// KitChanged: a relaunched process's Info differs from the one the
	// kit was enabled with (Err is an *InfoChangedError). The process was
	// killed; the kit keeps trying with backoff, and the admin should
	// disable and enable it again.
	KitChanged EventKind = "changed"
	// KitExited: a process stopped because Disable or Stop asked it to.
	KitExited EventKind = "exited"
	// KitDisabled: Disable finished; the kit is forgotten.
	KitDisabled EventKind = "disabled"
	// KitOrphanKilled: New found a plugin process a previous daemon left
	// running and killed it.
	KitOrphanKilled EventKind = "orphan-killed"
)

// KitEvent is one thing that happened to a kit, for the daemon's event
// log.
type KitEvent struct {
	Time     time.Time // Config.Clock at the event
	Kit      string
	Kind     EventKind
	Pid      int       // the process concerned, 0 if none
	Status   string    // how the process ended ("signal: killed"), for crashed/exited
	Launches int       // processes started for the kit so far
	NextTry  time.Time // when the next launch is due, for crashed/launch-failed/changed
	Err      error     // what went wrong, for launch-failed/changed/crashed
}

// level is the log level of an event of kind k.
func (k EventKind) level() slog.Level {
	switch k {
	case KitCrashed, KitLaunchFailed, KitChanged:
		return slog.LevelError
	case KitOrphanKilled:
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// events delivers KitEvents to Config.OnEvent in the order they were
// emitted, one at a time, from a goroutine of its own: emitters never wait
// for OnEvent and may emit while holding their locks.
type events struct {
	on func(KitEvent)

	mu      sync.Mutex
	idle    *sync.Cond // signalled when the queue drained
	q       []KitEvent
	running bool
}

func newEvents(on func(KitEvent)) *events {
	e := &events{on: on}
	e.idle = sync.NewCond(&e.mu)
	return e
}

// emit queues ev for delivery. It never blocks on OnEvent.
func (e *events) emit(ev KitEvent) {
	if e.on == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.q = append(e.q, ev)
	if !e.running {
		e.running = true
		go e.deliver()
	}
}

func (e *events) deliver() {
	e.mu.Lock()
	for len(e.q) > 0 {
		ev := e.q[0]
		e.q = e.q[1:]
		e.mu.Unlock()
		e.on(ev)
		e.mu.Lock()
	}
	e.running = false
	e.idle.Broadcast()
	e.mu.Unlock()
}

// flush blocks until every event emitted so far was delivered.
func (e *events) flush() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for e.running {
		e.idle.Wait()
	}
}
