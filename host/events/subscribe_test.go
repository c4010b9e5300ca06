package events

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -rewrite.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *rewrite {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -rewrite to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -rewrite updates it):\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

// deadline bounds every wait on a subscription.
const deadline = 10 * time.Second

// recv receives one event from ch, failing the test if none comes or ch
// is closed.
func recv(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed")
		}
		return e
	case <-time.After(deadline):
		t.Fatal("no event within the deadline")
	}
	panic("unreachable")
}

// closed waits for ch to be closed, failing the test if an event comes
// instead or it stays open.
func closed(t *testing.T, ch <-chan Event) {
	t.Helper()
	select {
	case e, ok := <-ch:
		if ok {
			t.Fatalf("got %v, want the subscription closed", e)
		}
	case <-time.After(deadline):
		t.Fatal("subscription still open after the deadline")
	}
}

// drained reads ch until it is closed, failing the test if it stays
// open.
func drained(t *testing.T, ch <-chan Event) {
	t.Helper()
	timeout := time.After(deadline)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("subscription still open after the deadline")
		}
	}
}

func TestSubscribeReplay(t *testing.T) {
	// Each case: 12 events in a log of Max 10 (6..12 held), subscribe,
	// append 13 and 14.
	tests := []struct {
		name  string
		after uint64
		want  []uint64 // replayed, then 13 and 14 appended live
	}{
		{"everything held", 0, span(6, 14)},
		{"older than held: no warning", 3, span(6, 14)},
		{"from the middle", 9, span(10, 14)},
		{"from the last", 12, span(13, 14)},
		{"from the future", 13, span(14, 14)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := open(t, t.TempDir(), Options{Max: 10})
			appendN(t, l, 12)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch := l.Subscribe(ctx, tt.after)
			appendN(t, l, 2)
			var got []uint64
			for len(got) < len(tt.want) {
				e := recv(t, ch)
				if e.Kind == KindWarning {
					t.Fatalf("unexpected warning %v", e)
				}
				got = append(got, e.Seq)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSubscribeNoGapNoDup: subscribers that join while several goroutines
// append receive every event after their starting point exactly once, in
// order.
func TestSubscribeNoGapNoDup(t *testing.T) {
	const appenders, each = 8, 250
	const total = appenders * each
	l := open(t, t.TempDir(), Options{Max: 2 * total})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	type sub struct {
		after uint64
		ch    <-chan Event
	}
	subs := make(chan sub, 100)
	var wg sync.WaitGroup
	for a := range appenders {
		wg.Go(func() {
			for i := range each {
				if _, err := l.Append(Event{Kind: KindState, Tag: "r", Message: "x"}); err != nil {
					t.Error(err)
				}
				if a == 0 && i%25 == 0 {
					// Join at the newest event, or a little before it.
					after := l.LastSeq()
					if i%50 == 0 {
						after -= min(after, 7)
					}
					subs <- sub{after, l.Subscribe(ctx, after)}
				}
			}
		})
	}
	subs <- sub{0, l.Subscribe(ctx, 0)}
	wg.Wait()
	close(subs)

	var check sync.WaitGroup
	for s := range subs {
		check.Go(func() {
			next := s.after + 1
			for next <= total {
				select {
				case e, ok := <-s.ch:
					if !ok {
						t.Errorf("subscriber after %d: closed at %d", s.after, next)
						return
					}
					if e.Seq != next {
						t.Errorf("subscriber after %d: got seq %d, want %d", s.after, e.Seq, next)
						return
					}
					next++
				case <-time.After(deadline):
					t.Errorf("subscriber after %d: stuck at %d", s.after, next)
					return
				}
			}
		})
	}
	check.Wait()
}

// TestSubscribeSlow: a subscriber that does not read does not block
// Append; once it has fallen behind the history it gets a warning and its
// channel closes, after events with no gap.
func TestSubscribeSlow(t *testing.T) {
	l := open(t, t.TempDir(), Options{Max: 10, Node: "node1"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := l.Subscribe(ctx, 0)
	fast := l.Subscribe(ctx, 0)
	for range 30 {
		appendN(t, l, 1)
		if e := recv(t, fast); e.Seq != l.LastSeq() {
			t.Fatalf("fast subscriber got %d, want %d", e.Seq, l.LastSeq())
		}
	}
	var next uint64 = 1
	for {
		e := recv(t, ch)
		if e.Kind == KindWarning {
			if e.Seq != 0 || e.Level != LevelWarn || e.Node != "node1" ||
				!strings.Contains(e.Message, "events from seq "+strconv.FormatUint(next, 10)+" on were rotated out") ||
				!strings.Contains(e.Message, "subscribe again after seq "+strconv.FormatUint(next-1, 10)) {
				t.Errorf("warning %+v", e)
			}
			break
		}
		if e.Seq != next {
			t.Fatalf("got %d, want %d", e.Seq, next)
		}
		next++
	}
	t.Logf("slow subscriber: %d events, then dropped", next-1)
	closed(t, ch)
}

func TestSubscribeEnds(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	appendN(t, l, 3)

	ctx, cancel := context.WithCancel(context.Background())
	ch := l.Subscribe(ctx, 0)
	recv(t, ch)
	cancel()
	drained(t, ch)

	blocked := l.Subscribe(context.Background(), 0) // never read
	idle := l.Subscribe(context.Background(), 3)    // waiting for events
	done := make(chan error)
	go func() { done <- l.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(deadline):
		t.Fatal("Close waits for a subscriber")
	}
	closed(t, blocked)
	closed(t, idle)
	closed(t, l.Subscribe(context.Background(), 0))
}
