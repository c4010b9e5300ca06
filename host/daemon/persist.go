package daemon

import (
	"context"

	"github.com/ark-ha/ark/host/events"
	"github.com/ark-ha/ark/host/model"
	"github.com/ark-ha/ark/host/store"
)

// persist records status changes durably and returns once they are
// written. Writers that arrive while a write is in progress are written
// together by the next one (group commit): bringing 10,000 resources up
// in parallel costs a few hundred writes of the state, not 20,000, and
// every state still reaches the disk before the daemon acts on it.
func (d *Daemon) persist(changes map[string]model.Status) {
	d.pmu.Lock()
	defer d.pmu.Unlock()
	if d.pending == nil {
		d.pending = map[string]model.Status{}
	}
	for t, st := range changes {
		d.pending[t] = st
	}
	want := d.written + 1 // the first write that starts after this call
	if d.writing {
		want++ // the write in progress started before: wait for the next
	}
	for d.written < want {
		if !d.writing {
			d.writeLocked()
			continue
		}
		d.pcond.Wait()
	}
}

// flush writes what is pending; the daemon calls it before closing the
// store.
func (d *Daemon) flush() {
	d.pmu.Lock()
	defer d.pmu.Unlock()
	for d.writing {
		d.pcond.Wait()
	}
	if len(d.pending) > 0 {
		d.writeLocked()
	}
}

// writeLocked writes the pending changes, releasing pmu meanwhile so that
// others can queue theirs.
func (d *Daemon) writeLocked() {
	d.writing = true
	op := store.Op{Status: map[string]model.Status{}}
	d.mu.Lock()
	for t, st := range d.pending {
		if d.graph.Resource(t) != nil { // undefined meanwhile: nothing to keep
			op.Status[t] = st
		}
	}
	d.mu.Unlock()
	d.pending = nil
	d.pmu.Unlock()
	err := d.store.Apply(context.Background(), op)
	if err != nil {
		d.log.Error("state not saved", "err", err)
		d.event(events.Event{Kind: events.KindError, Level: events.LevelError, Message: "state not saved (kept in memory): " + err.Error()})
	}
	d.pmu.Lock()
	d.writing = false
	d.written++
	d.pcond.Broadcast()
}
