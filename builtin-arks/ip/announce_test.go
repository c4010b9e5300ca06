package main

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestLaterRuns: a scheduled burst runs once after its delay.
func TestLaterRuns(t *testing.T) {
	var l later
	var n atomic.Int32
	l.schedule("vip", 10*time.Millisecond, func(context.Context) { n.Add(1) })
	l.wait()
	if n.Load() != 1 {
		t.Fatalf("ran %d times, want 1", n.Load())
	}
	if l.cancel("vip") {
		t.Error("a burst that ran is still pending")
	}
}

// TestLaterCancel: remove cancels the pending burst: it never runs.
func TestLaterCancel(t *testing.T) {
	var l later
	var n atomic.Int32
	l.schedule("vip", time.Hour, func(context.Context) { n.Add(1) })
	if !l.cancel("vip") {
		t.Fatal("cancel found nothing pending")
	}
	l.wait()
	if n.Load() != 0 {
		t.Fatal("a cancelled burst ran")
	}
}

// TestLaterReplace: a second restore replaces the pending burst of the
// same address instead of adding one; other addresses are left alone.
func TestLaterReplace(t *testing.T) {
	var l later
	var first, second, other atomic.Int32
	l.schedule("vip", time.Hour, func(context.Context) { first.Add(1) })
	l.schedule("vip", time.Millisecond, func(context.Context) { second.Add(1) })
	l.schedule("other", time.Millisecond, func(context.Context) { other.Add(1) })
	l.wait()
	if first.Load() != 0 || second.Load() != 1 || other.Load() != 1 {
		t.Fatalf("runs: first %d, second %d, other %d; want 0, 1, 1", first.Load(), second.Load(), other.Load())
	}
}

// TestLaterCancelWaits: cancel returns only once a running burst has
// stopped, so that no packet follows a remove.
func TestLaterCancelWaits(t *testing.T) {
	var l later
	started := make(chan struct{})
	var finished atomic.Bool
	l.schedule("vip", 0, func(ctx context.Context) {
		close(started)
		<-ctx.Done()
		time.Sleep(10 * time.Millisecond)
		finished.Store(true)
	})
	<-started
	l.cancel("vip")
	if !finished.Load() {
		t.Fatal("cancel returned while the burst was still running")
	}
}
