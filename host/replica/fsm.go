package replica

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/ark-ha/ark/host/store"
)

// fsm is raft's state machine: a store.Data changed by Data.Apply, one
// JSON-encoded store.Op per log entry.
type fsm struct {
	onApply func(index uint64, op store.Op)

	mu    sync.RWMutex
	data  store.Data
	index uint64        // the last command entry applied, or the restored snapshot's
	tick  chan struct{} // closed (and replaced) whenever index moves
}

func newFSM(onApply func(uint64, store.Op)) *fsm {
	return &fsm{onApply: onApply, data: store.Data{}.Clone(), tick: make(chan struct{})}
}

// snapshotFile is what a snapshot holds.
type snapshotFile struct {
	// Index is the last command entry the data includes.
	Index uint64     `json:"index"`
	Data  store.Data `json:"data"`
}

// Apply implements raft.FSM. It returns nil or the error of Data.Apply
// (wrapping store.ErrInvalid), which the leader's ApplyFuture carries
// back to Replica.Apply. OnApply is called after the lock is released.
func (f *fsm) Apply(l *raft.Log) any {
	var op store.Op
	err := json.Unmarshal(l.Data, &op)
	if err != nil {
		err = fmt.Errorf("%w: log entry %d does not decode: %v", store.ErrInvalid, l.Index, err)
	}
	f.mu.Lock()
	if err == nil {
		err = f.data.Apply(op)
	}
	f.advance(l.Index)
	f.mu.Unlock()
	// An empty Op never reaches the log (Replica.Apply keeps it out), so
	// that OnApply with an empty Op means a restore; an entry that is
	// empty anyway is skipped to keep that promise.
	if err == nil && f.onApply != nil && !op.Empty() {
		f.onApply(l.Index, op)
	}
	if err != nil {
		return err
	}
	return nil
}

// advance records that everything up to index is applied; f.mu is held.
func (f *fsm) advance(index uint64) {
	if index > f.index {
		f.index = index
	}
	close(f.tick)
	f.tick = make(chan struct{})
}

// read returns a deep copy of the state.
func (f *fsm) read() store.Data {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.data.Clone()
}

// applied returns the index of the last entry applied.
func (f *fsm) applied() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.index
}

// waitApplied waits until the entry at index is applied or ctx is done.
func (f *fsm) waitApplied(ctx context.Context, index uint64) error {
	for {
		f.mu.RLock()
		done, tick := f.index >= index, f.tick
		f.mu.RUnlock()
		if done {
			return nil
		}
		select {
		case <-tick:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Snapshot implements raft.FSM: the state is encoded at once (it is
// small), Persist only writes it.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	b, err := json.Marshal(snapshotFile{Index: f.index, Data: f.data})
	f.mu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("encode snapshot: %w", err)
	}
	return fsmSnapshot(b), nil
}

// Restore implements raft.FSM: the state is replaced by the snapshot's,
// then OnApply is told with the snapshot's index and an empty Op.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var s snapshotFile
	if err := json.NewDecoder(rc).Decode(&s); err != nil {
		return fmt.Errorf("decode snapshot: %w", err)
	}
	f.mu.Lock()
	f.data = s.Data.Clone()
	f.index = s.Index
	f.advance(s.Index)
	f.mu.Unlock()
	if f.onApply != nil {
		f.onApply(s.Index, store.Op{})
	}
	return nil
}

type fsmSnapshot []byte

func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (fsmSnapshot) Release() {}
