package events

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ark-ha/ark/host/model"
	"golang.org/x/sys/unix"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// clock returns a fake clock that starts at t0 and advances a second at
// each call.
func clock() func() time.Time {
	var mu sync.Mutex
	now := t0
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}
}

func open(t *testing.T, dir string, opts Options) *Log {
	t.Helper()
	if opts.Clock == nil {
		opts.Clock = clock()
	}
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// appendN appends n events with messages "m1".."mN" counted from the
// log's last Seq.
func appendN(t *testing.T, l *Log, n int) {
	t.Helper()
	for range n {
		if _, err := l.Append(Event{Kind: KindDaemon, Message: "m" + strconv.FormatUint(l.LastSeq()+1, 10)}); err != nil {
			t.Fatal(err)
		}
	}
}

// seqs returns the Seqs of evs.
func seqs(evs []Event) []uint64 {
	out := []uint64{}
	for _, e := range evs {
		out = append(out, e.Seq)
	}
	return out
}

// span returns [from, to].
func span(from, to uint64) []uint64 {
	out := []uint64{}
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// lines returns the number of lines in dir/name, 0 if it does not exist.
func lines(t *testing.T, dir, name string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte{'\n'})
}

func TestAppend(t *testing.T) {
	l := open(t, t.TempDir(), Options{Node: "node1"})
	status := 1
	in := Event{Kind: KindAction, Tag: "web", Action: "quickCheck", Status: &status, Output: []string{"a", "b"}}
	got, err := l.Append(in)
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.Seq, want.Time, want.Node, want.Level = 1, t0.Add(time.Second), "node1", LevelInfo
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Append returned\n%+v\nwant\n%+v", got, want)
	}
	// The log keeps its own copy.
	in.Output[0], *in.Status = "changed", 99
	got.Output[1] = "changed"
	if held := l.Tail(1)[0]; held.Output[0] != "a" || held.Output[1] != "b" || *held.Status != 1 {
		t.Errorf("the log shares memory with the caller: %+v", held)
	}

	tests := []struct {
		name string
		in   Event
		want Event // the fields Append sets
	}{
		{"defaults", Event{Kind: KindState}, Event{Seq: 2, Time: t0.Add(2 * time.Second), Node: "node1", Level: LevelInfo}},
		{"warning level", Event{Kind: KindWarning}, Event{Seq: 3, Time: t0.Add(3 * time.Second), Node: "node1", Level: LevelWarn}},
		{"error level", Event{Kind: KindError}, Event{Seq: 4, Time: t0.Add(4 * time.Second), Node: "node1", Level: LevelError}},
		{"given fields kept", Event{Kind: KindError, Level: LevelWarn, Node: "node2", Time: t0.Add(-time.Hour)},
			Event{Seq: 5, Time: t0.Add(-time.Hour), Node: "node2", Level: LevelWarn}},
		{"monotonic reading dropped", Event{Kind: KindKit, Time: t0.Add(time.Hour)},
			Event{Seq: 6, Time: t0.Add(time.Hour), Node: "node1", Level: LevelInfo}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.Append(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			g := Event{Seq: got.Seq, Time: got.Time, Node: got.Node, Level: got.Level}
			if !reflect.DeepEqual(g, tt.want) {
				t.Errorf("got %+v, want %+v", g, tt.want)
			}
		})
	}
	if e, _ := l.Append(Event{Kind: KindDaemon, Time: time.Now()}); e.Time != e.Time.Round(0) {
		t.Errorf("Time keeps its monotonic clock reading: %v", e.Time)
	}
}

func TestAppendRejects(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	tests := []struct {
		name string
		e    Event
		want string
	}{
		{"no kind", Event{Message: "x"}, `invalid event: kind ""`},
		{"unknown kind", Event{Kind: "path"}, `invalid event: kind "path"`},
		{"unknown level", Event{Kind: KindState, Level: "fatal"}, `invalid event: level "fatal"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := l.Append(tt.e); !errors.Is(err, ErrInvalid) || err.Error() != tt.want {
				t.Errorf("Append = %v, want %q", err, tt.want)
			}
		})
	}
	if n := len(l.Tail(10)); n != 0 || l.LastSeq() != 0 {
		t.Errorf("rejected events were recorded: %d held, last seq %d", n, l.LastSeq())
	}
	l.Close()
	if _, err := l.Append(Event{Kind: KindDaemon}); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestOpenOptions(t *testing.T) {
	for _, max := range []int{-1, 1} {
		if _, err := Open(t.TempDir(), Options{Max: max}); err == nil || !strings.Contains(err.Error(), "at least 2") {
			t.Errorf("Open with Max %d = %v", max, err)
		}
	}
	dir := filepath.Join(t.TempDir(), "new", "events")
	open(t, dir, Options{})
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("dir created with %v (%v), want 0700", fi.Mode(), err)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	appendN(t, l, 5)
	before := l.Since(time.Time{}, 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Since and Tail still answer after Close.
	if got := l.Tail(2); !reflect.DeepEqual(seqs(got), []uint64{4, 5}) {
		t.Errorf("Tail after Close = %v", seqs(got))
	}

	l = open(t, dir, Options{})
	if got := l.Since(time.Time{}, 0); !reflect.DeepEqual(got, before) {
		t.Errorf("after reopening:\n%v\nwant\n%v", got, before)
	}
	if l.Skipped() != 0 {
		t.Errorf("Skipped = %d", l.Skipped())
	}
	if e, _ := l.Append(Event{Kind: KindDaemon}); e.Seq != 6 {
		t.Errorf("Seq after a restart = %d, want 6", e.Seq)
	}
}

func TestRotation(t *testing.T) {
	tests := []struct {
		max, n           int
		wantHeld         []uint64
		wantPrev, wantCu int // lines in each file
	}{
		{max: 6, n: 3, wantHeld: span(1, 3), wantPrev: 0, wantCu: 3},
		{max: 6, n: 4, wantHeld: span(1, 4), wantPrev: 3, wantCu: 1},
		{max: 6, n: 6, wantHeld: span(1, 6), wantPrev: 3, wantCu: 3},
		{max: 6, n: 7, wantHeld: span(4, 7), wantPrev: 3, wantCu: 1},
		{max: 6, n: 20, wantHeld: span(16, 20), wantPrev: 3, wantCu: 2},
		{max: 7, n: 20, wantHeld: span(16, 20), wantPrev: 3, wantCu: 2},
		{max: 2, n: 5, wantHeld: span(4, 5), wantPrev: 1, wantCu: 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("max %d, %d events", tt.max, tt.n), func(t *testing.T) {
			dir := t.TempDir()
			l := open(t, dir, Options{Max: tt.max})
			appendN(t, l, tt.n)
			check := func(l *Log) {
				t.Helper()
				if got := seqs(l.Since(time.Time{}, 0)); !reflect.DeepEqual(got, tt.wantHeld) {
					t.Errorf("held %v, want %v", got, tt.wantHeld)
				}
				if p, c := lines(t, dir, PreviousFile), lines(t, dir, CurrentFile); p != tt.wantPrev || c != tt.wantCu {
					t.Errorf("files hold %d + %d lines, want %d + %d", p, c, tt.wantPrev, tt.wantCu)
				}
			}
			check(l)
			l.Close()
			check(open(t, dir, Options{Max: tt.max}))
		})
	}
}

// TestMaxLowered: files written with a larger Max are bounded in memory at
// once and on disk after rotating out.
func TestMaxLowered(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{Max: 100})
	appendN(t, l, 80) // 50 + 30
	l.Close()
	l = open(t, dir, Options{Max: 10})
	if got := seqs(l.Since(time.Time{}, 0)); !reflect.DeepEqual(got, span(71, 80)) {
		t.Errorf("held after lowering Max: %v", got)
	}
	appendN(t, l, 1)
	if got := seqs(l.Since(time.Time{}, 0)); !reflect.DeepEqual(got, span(76, 81)) {
		t.Errorf("held after a rotation: %v", got)
	}
	appendN(t, l, 5)
	if p, c := lines(t, dir, PreviousFile), lines(t, dir, CurrentFile); p != 5 || c != 1 {
		t.Errorf("files hold %d + %d lines, want 5 + 1", p, c)
	}
}

func TestDamagedFiles(t *testing.T) {
	line := func(seq int) string {
		return fmt.Sprintf(`{"seq":%d,"time":"2026-11-22T10:00:00Z","kind":"daemon","level":"info","message":"m%d"}`+"\n", seq, seq)
	}
	tests := []struct {
		name        string
		prev, cur   string
		wantHeld    []uint64
		wantSkipped int
		wantCur     string // CurrentFile's content after Open and one Append (Seq shown as NEXT)
	}{
		{name: "torn last line", cur: line(1) + line(2) + `{"seq":3,"ti`,
			wantHeld: span(1, 2), wantSkipped: 1, wantCur: line(1) + line(2) + "NEXT"},
		{name: "corrupt middle line", cur: line(1) + "garbage\n" + line(3),
			wantHeld: []uint64{1, 3}, wantSkipped: 1, wantCur: line(1) + "garbage\n" + line(3) + "NEXT"},
		{name: "seq going back", cur: line(1) + line(5) + line(4) + line(6),
			wantHeld: []uint64{1, 5, 6}, wantSkipped: 1, wantCur: line(1) + line(5) + line(4) + line(6) + "NEXT"},
		{name: "blank lines", cur: line(1) + "\n  \n" + line(2),
			wantHeld: span(1, 2), wantSkipped: 0, wantCur: line(1) + "\n  \n" + line(2) + "NEXT"},
		{name: "current behind previous", prev: line(1) + line(2) + line(3), cur: line(2) + line(4),
			wantHeld: []uint64{1, 2, 3, 4}, wantSkipped: 1, wantCur: line(2) + line(4) + "NEXT"},
		{name: "torn previous", prev: line(1) + `{"seq`, cur: line(2),
			wantHeld: span(1, 2), wantSkipped: 1, wantCur: line(2) + "NEXT"},
		{name: "only torn", cur: `{"seq":1`,
			wantHeld: []uint64{}, wantSkipped: 1, wantCur: "NEXT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range map[string]string{PreviousFile: tt.prev, CurrentFile: tt.cur} {
				if content != "" {
					if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			l := open(t, dir, Options{})
			if got := seqs(l.Since(time.Time{}, 0)); !reflect.DeepEqual(got, tt.wantHeld) {
				t.Errorf("held %v, want %v", got, tt.wantHeld)
			}
			if l.Skipped() != tt.wantSkipped {
				t.Errorf("Skipped = %d, want %d", l.Skipped(), tt.wantSkipped)
			}
			e, err := l.Append(Event{Kind: KindDaemon, Time: t0, Message: "next"})
			if err != nil {
				t.Fatal(err)
			}
			l.Close()
			next := fmt.Sprintf(`{"seq":%d,"time":"2026-11-22T10:00:00Z","kind":"daemon","level":"info","message":"next"}`+"\n", e.Seq)
			if b, _ := os.ReadFile(filepath.Join(dir, CurrentFile)); string(b) != strings.Replace(tt.wantCur, "NEXT", next, 1) {
				t.Errorf("%s:\n%s\nwant\n%s", CurrentFile, b, strings.Replace(tt.wantCur, "NEXT", next, 1))
			}
		})
	}
}

func TestSinceTail(t *testing.T) {
	l := open(t, t.TempDir(), Options{Max: 8})
	appendN(t, l, 10) // held: 5..10 at t0+5s..t0+10s
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tests := []struct {
		name string
		got  []Event
		want []uint64
	}{
		{"all", l.Since(time.Time{}, 0), span(5, 10)},
		{"since a time", l.Since(at(7), 0), span(7, 10)},
		{"since a time between", l.Since(at(7).Add(time.Millisecond), 0), span(8, 10)},
		{"after a seq", l.Since(time.Time{}, 8), span(9, 10)},
		{"both", l.Since(at(9), 6), span(9, 10)},
		{"after the last", l.Since(time.Time{}, 10), []uint64{}},
		{"in the future", l.Since(at(11), 0), []uint64{}},
		{"tail 3", l.Tail(3), span(8, 10)},
		{"tail across files", l.Tail(5), span(6, 10)},
		{"tail more than held", l.Tail(100), span(5, 10)},
		{"tail 0", l.Tail(0), []uint64{}},
		{"tail negative", l.Tail(-1), []uint64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := seqs(tt.got); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestFullDisk fills a real (tmpfs) disk under the log: Append reports
// the failure naming the file but keeps the event and delivers it; the
// file is never left with a partial line; once there is room again,
// appends reach the disk.
func TestFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: mounting a small tmpfs to fill it needs root")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=64k,mode=0700"); err != nil {
		t.Skipf("skipped: cannot mount a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
			unix.Unmount(dir, unix.MNT_DETACH)
		}
	})
	l := open(t, dir, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub := l.Subscribe(ctx, 0)

	// Events with 1000-byte lines of output, so that the last write is
	// partial.
	out := []string{strings.Repeat("x", 1000)}
	var failed []uint64
	for i := 0; len(failed) < 3; i++ {
		if i > 1000 {
			t.Fatal("the disk never filled")
		}
		e, err := l.Append(Event{Kind: KindAction, Tag: "web", Output: out})
		if err != nil {
			if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), filepath.Join(dir, CurrentFile)) {
				t.Fatalf("Append on a full disk = %v, want ENOSPC naming the file", err)
			}
			failed = append(failed, e.Seq)
		}
		if got := recv(t, sub); got.Seq != e.Seq {
			t.Fatalf("subscriber got %d, want %d", got.Seq, e.Seq)
		}
	}
	t.Logf("full at event %d: %v", failed[0], failed)
	if held := seqs(l.Tail(1)); held[0] != failed[2] {
		t.Errorf("the events that were not written are not held: tail %v", held)
	}
	b, _ := os.ReadFile(filepath.Join(dir, CurrentFile))
	if len(b) == 0 || b[len(b)-1] != '\n' {
		t.Errorf("%s does not end with a whole line", CurrentFile)
	}

	// Make room (the previous file is not there yet: remove what a
	// rotation would have), then append again.
	if err := os.Truncate(filepath.Join(dir, CurrentFile), 0); err != nil {
		t.Fatal(err)
	}
	e, err := l.Append(Event{Kind: KindDaemon, Message: "room again"})
	if err != nil {
		t.Fatalf("Append once there is room: %v", err)
	}
	l.Close()
	l2 := open(t, dir, Options{})
	if got := l2.Tail(5); len(got) != 1 || got[0].Seq != e.Seq || l2.Skipped() != 0 {
		t.Errorf("after reopening: %v, %d skipped", seqs(got), l2.Skipped())
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{300 * time.Microsecond, "300µs"},
		{time.Millisecond, "0.001s"},
		{200 * time.Millisecond, "0.2s"},
		{12345678 * time.Microsecond, "12.346s"},
		{59999 * time.Millisecond, "59.999s"},
		{time.Minute, "1m0s"},
		{125*time.Second + 400*time.Millisecond, "2m5s"},
		{time.Hour, "1h0m0s"},
	}
	for _, tt := range tests {
		if got := FormatDuration(tt.d); got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// String's golden output: go test -rewrite regenerates testdata/string.txt.
func TestString(t *testing.T) {
	st := func(n int) *int { return &n }
	ms := t0.Add(123 * time.Millisecond)
	tests := []struct {
		name string
		e    Event
	}{
		{"state change", Event{Time: ms, Node: "node1", Kind: KindState, Level: LevelError, Tag: "web-app", From: model.ISP, To: model.OSF, Message: "quickCheck failed"}},
		{"first state", Event{Time: ms, Node: "node1", Kind: KindState, Tag: "web-app", To: model.OSU, Message: "defined"}},
		{"action failed", Event{Time: ms, Node: "node1", Kind: KindAction, Level: LevelError, Tag: "web-app", Action: "quickCheck", Status: st(1), Duration: 200 * time.Millisecond, Message: "failed", Output: []string{"not listening"}}},
		{"action ok", Event{Time: ms, Node: "node2", Kind: KindAction, Tag: "web-ip", Action: "restore", Status: st(0), Duration: 1500 * time.Millisecond, Message: "ok"}},
		{"action timed out", Event{Time: ms, Node: "node1", Kind: KindAction, Level: LevelError, Tag: "db", Action: "remove", Duration: 2 * time.Minute, TimedOut: true, Message: "killed"}},
		{"no message", Event{Time: ms, Node: "node1", Kind: KindAction, Tag: "db", Action: "recover", Status: st(0)}},
		{"warning", Event{Time: ms, Node: "node1", Kind: KindWarning, Level: LevelWarn, Tag: "web-app", Action: "quickCheck", TimedOut: true, Message: "timed out, counted as a success"}},
		{"target", Event{Time: ms, Node: "node1", Kind: KindTarget, Tag: "web-app", Message: "target OFFLINE -> ONLINE"}},
		{"daemon", Event{Time: ms, Node: "node1", Kind: KindDaemon, Message: "arkd started: 2 adopted, 1 restored, 0 failed"}},
		{"no node", Event{Time: ms, Kind: KindError, Level: LevelError, Message: "state not saved"}},
		{"other zone", Event{Time: ms.In(time.FixedZone("JST", 9*3600)), Node: "node1", Kind: KindKit, Message: "kit ip started"}},
		{"control characters", Event{Time: ms, Node: "node1", Kind: KindConfig, Tag: "x\ty", Message: "line one\nline two\x1b[31m"}},
		{"dropped", Event{Time: ms, Kind: KindWarning, Level: LevelWarn, Message: "events dropped"}},
	}
	var b strings.Builder
	for _, tt := range tests {
		fmt.Fprintf(&b, "# %s\n%s\n", tt.name, tt.e)
		if s := tt.e.String(); strings.Contains(s, "\n") {
			t.Errorf("%s: String is not one line: %q", tt.name, s)
		}
	}
	golden(t, "string.txt", b.String())
}
