package events

import (
	"context"
	"fmt"
)

// batch bounds how many events a subscriber copies out of the history at
// a time.
const batch = 64

// Subscribe streams events: first those held with Seq > afterSeq, oldest
// first, then every event appended later, in order, none missing and none
// twice. The channel is unbuffered. It is closed soon after ctx ends
// (an event already being handed over may still arrive first) and before
// Close returns; events not received by then are not delivered.
//
// A subscriber never slows Append: its buffer is the history itself.
// One that falls so far behind that events it has not received yet are
// rotated out of memory (at least Max/2 events behind) receives a final
// event of KindWarning and Level warn, with Seq 0 and a message naming the
// first lost Seq, and its channel is closed; it may subscribe again after
// the last Seq it received, knowing what it missed.
func (l *Log) Subscribe(ctx context.Context, afterSeq uint64) <-chan Event {
	ch := make(chan Event)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		close(ch)
		return ch
	}
	// Owed: every event held now with Seq > afterSeq, and every event
	// appended from now on. Events evicted before now are not owed.
	next := max(afterSeq, l.evicted) + 1
	l.subs.Add(1)
	go l.serve(ctx, ch, next)
	return ch
}

// serve delivers to ch the events with Seq >= next, as they come.
func (l *Log) serve(ctx context.Context, ch chan<- Event, next uint64) {
	defer l.subs.Done()
	defer close(ch)
	send := func(e Event) bool {
		select { // ending wins over a receiver that is ready too
		case <-ctx.Done():
			return false
		case <-l.done:
			return false
		default:
		}
		select {
		case ch <- e:
			return true
		case <-ctx.Done():
		case <-l.done:
		}
		return false
	}
	for {
		l.mu.Lock()
		if l.evicted >= next {
			l.mu.Unlock()
			send(Event{Time: l.clock().Round(0), Node: l.node, Kind: KindWarning, Level: LevelWarn,
				Message: fmt.Sprintf("events dropped: this subscriber fell behind and events from seq %d on were "+
					"rotated out before it read them; subscribe again after seq %d", next, next-1)})
			return
		}
		evs := l.from(next, batch)
		wake := l.wake
		l.mu.Unlock()

		for _, e := range evs {
			if !send(e) {
				return
			}
			next = e.Seq + 1
		}
		if len(evs) > 0 {
			continue
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return
		case <-l.done:
			return
		}
	}
}

// from returns copies of at most n held events with Seq >= seq. l.mu is
// held.
func (l *Log) from(seq uint64, n int) []Event {
	var out []Event
	for _, part := range [][]Event{l.prev, l.cur} {
		for _, e := range part[after(part, seq-1):] {
			if len(out) == n {
				return out
			}
			out = append(out, e.clone())
		}
	}
	return out
}
