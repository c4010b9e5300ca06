package main

import (
	"context"
	"sync"
	"time"
)

// later runs the second announcement burst of each VIP in the background,
// after restore has returned, and cancels it when the VIP is removed: a
// gratuitous ARP for an address this node no longer holds would steal it
// from the node that took it over.
type later struct {
	mu      sync.Mutex
	seq     uint64
	pending map[string]pendingBurst // by VIP
	wg      sync.WaitGroup
}

type pendingBurst struct {
	id     uint64
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine has ended
}

// schedule runs fn(ctx) after delay unless cancel(key) or a newer
// schedule of key comes first. fn should check ctx before acting.
func (l *later) schedule(key string, delay time.Duration, fn func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	l.mu.Lock()
	if l.pending == nil {
		l.pending = map[string]pendingBurst{}
	}
	if old, ok := l.pending[key]; ok {
		old.cancel()
	}
	l.seq++
	id := l.seq
	done := make(chan struct{})
	l.pending[key] = pendingBurst{id: id, cancel: cancel, done: done}
	l.mu.Unlock()

	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer close(done)
		defer l.forget(key, id)
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn(ctx)
	}()
}

// forget drops key's entry if it is still burst id.
func (l *later) forget(key string, id uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.pending[key]; ok && p.id == id {
		p.cancel()
		delete(l.pending, key)
	}
}

// cancel stops key's pending burst, if any, and reports whether there was
// one. It returns once the burst's goroutine has ended, so that after it
// no packet of the burst is sent.
func (l *later) cancel(key string) bool {
	l.mu.Lock()
	p, ok := l.pending[key]
	if ok {
		p.cancel()
		delete(l.pending, key)
	}
	l.mu.Unlock()
	if ok {
		<-p.done
	}
	return ok
}

// wait blocks until no burst is pending or running (for tests).
func (l *later) wait() { l.wg.Wait() }
