package daemon

import (
	"context"
	"slices"
	"sync"
)

// tagLocks gives each resource one token: whoever holds it is the only
// one running actions on that resource. Operations take the tokens of
// every resource they touch, in sorted order, so two operations never
// deadlock and never interleave on a resource (two concurrent starts of
// one hierarchy cannot both run its restore).
type tagLocks struct {
	mu sync.Mutex
	ch map[string]chan struct{}
}

func newTagLocks() *tagLocks { return &tagLocks{ch: map[string]chan struct{}{}} }

func (l *tagLocks) token(tag string) chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.ch[tag]
	if !ok {
		c = make(chan struct{}, 1)
		l.ch[tag] = c
	}
	return c
}

// lock takes the tokens of tags (blocking) and returns the function that
// gives them back; on ctx's end it gives back what it took and fails.
func (l *tagLocks) lock(ctx context.Context, tags []string) (func(), error) {
	tags = slices.Clone(tags)
	slices.Sort(tags)
	tags = slices.Compact(tags)
	var held []chan struct{}
	unlock := func() {
		for _, c := range held {
			<-c
		}
	}
	for _, t := range tags {
		c := l.token(t)
		select {
		case c <- struct{}{}:
			held = append(held, c)
		case <-ctx.Done():
			unlock()
			return nil, ctx.Err()
		}
	}
	return unlock, nil
}

// tryLock takes tag's token if it is free.
func (l *tagLocks) tryLock(tag string) (func(), bool) {
	c := l.token(tag)
	select {
	case c <- struct{}{}:
		return func() { <-c }, true
	default:
		return nil, false
	}
}
