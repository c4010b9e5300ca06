package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"
)

// Names of the history's files in its directory.
const (
	CurrentFile  = "events.jsonl"
	PreviousFile = "events.1.jsonl"
)

// DefaultMax is the number of events kept when Options.Max is 0.
const DefaultMax = 10000

var (
	// ErrInvalid marks an event Append refuses (no kind, an unknown
	// kind or level); it is not recorded.
	ErrInvalid = errors.New("invalid event")
	// ErrClosed is returned by Append after Close.
	ErrClosed = errors.New("event log is closed")
)

// Options configures Open.
type Options struct {
	// Max is how many events are kept, on disk and in memory; DefaultMax
	// when 0, at least 2.
	Max int
	// Clock gives the time of events recorded without one; time.Now
	// when nil.
	Clock func() time.Time
	// Node fills Event.Node when an event is recorded without one.
	Node string
}

// Log is a node's bounded event history. It is safe for concurrent use.
//
// Events go to CurrentFile, one JSON object a line. Once it holds Max/2
// events it is renamed to PreviousFile (replacing the one before) and a
// new CurrentFile begins; memory holds the events of both files, so at most
// Max events exist on disk and in memory. (If Max was lowered between two
// runs, the old files may hold more until they have rotated out.)
type Log struct {
	dir     string
	path    string // dir/CurrentFile
	oldPath string // dir/PreviousFile
	half    int
	clock   func() time.Time
	node    string
	skipped int

	mu      sync.Mutex
	prev    []Event  // the events of PreviousFile, oldest first
	cur     []Event  // the events of CurrentFile, oldest first
	seq     uint64   // the last Seq given
	evicted uint64   // the highest Seq dropped from memory
	f       *os.File // CurrentFile, nil until reopened after a failure
	size    int64    // f's length
	torn    bool     // f ends with part of a line
	wake    chan struct{}
	closed  bool
	done    chan struct{} // closed by Close
	subs    sync.WaitGroup
}

// Open opens the history in dir, creating dir (mode 0700) if missing, and
// reads the events kept there into memory. Lines that do not decode (a
// line torn by a crash), or whose Seq does not follow the line before, are
// skipped and counted (see Skipped); a torn last line is cut from
// CurrentFile so that appends start on a new line. Open fails only on an
// invalid option or when dir or its files cannot be read; a CurrentFile
// that cannot be opened for writing is reported by Append instead.
func Open(dir string, opts Options) (*Log, error) {
	switch {
	case opts.Max == 0:
		opts.Max = DefaultMax
	case opts.Max < 2:
		return nil, fmt.Errorf("event log: Max is %d, must be at least 2", opts.Max)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("event log: %w", err)
	}
	l := &Log{
		dir:     dir,
		path:    filepath.Join(dir, CurrentFile),
		oldPath: filepath.Join(dir, PreviousFile),
		half:    opts.Max / 2,
		clock:   opts.Clock,
		node:    opts.Node,
		wake:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	prev, _, err := l.read(l.oldPath)
	if err != nil {
		return nil, err
	}
	cur, good, err := l.read(l.path)
	if err != nil {
		return nil, err
	}
	// Keep Seq increasing across the two files too.
	var last uint64
	if len(prev) > 0 {
		last = prev[len(prev)-1].Seq
	}
	i := 0
	for i < len(cur) && cur[i].Seq <= last {
		i++
	}
	l.skipped += i
	cur = cur[i:]
	if len(cur) > 0 {
		last = cur[len(cur)-1].Seq
	}
	l.seq = last
	// Bound memory, the oldest out first.
	if n := len(prev) + len(cur) - opts.Max; n > 0 {
		drop := min(n, len(prev))
		l.evict(prev[:drop])
		prev = prev[drop:]
		l.evict(cur[:n-drop])
		cur = cur[n-drop:]
	}
	l.prev, l.cur = prev, cur

	// Cut a torn last line, so that the next event starts a line; if
	// that fails, reopen sees it and the next event starts with a
	// newline instead.
	if fi, err := os.Stat(l.path); err == nil && fi.Size() > good {
		os.Truncate(l.path, good)
	}
	// A file that cannot be opened for writing (a full or read-only
	// disk) does not stop the log: Append tries again and reports it.
	l.reopen()
	return l, nil
}

// read decodes the events in path (none if it does not exist), skipping
// and counting lines that do not decode or do not increase Seq. good is
// the length of the file's whole lines.
func (l *Log) read(path string) (evs []Event, good int64, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("event log: %w", err)
	}
	var last uint64
	for len(b) > 0 {
		line, rest, whole := bytes.Cut(b, []byte{'\n'})
		b = rest
		if whole {
			good += int64(len(line)) + 1
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e Event
		if json.Unmarshal(line, &e) != nil || e.Seq <= last {
			l.skipped++
			continue
		}
		last = e.Seq
		evs = append(evs, e)
	}
	return evs, good, nil
}

// Skipped returns how many lines Open could not use: torn or corrupt
// lines, or lines whose Seq did not follow the line before.
func (l *Log) Skipped() int { return l.skipped }

// Append records e and returns it as recorded. It sets Seq and, when
// zero, Time (from Options.Clock), Node (Options.Node) and Level (error for
// KindError, warn for KindWarning, info otherwise); Time loses its
// monotonic clock reading, as it would on disk. e is copied: the caller
// may reuse it.
//
// Append writes one line to CurrentFile (not synced: Close syncs, and
// every rotation) and wakes the subscribers; it never waits for one.
// An event Append cannot write is still recorded in memory and delivered
// to subscribers; the error then names the file and wraps the cause: a
// full disk loses history, never the daemon. Append fails with
// ErrInvalid for an event without a known Kind or with an unknown Level,
// and with ErrClosed after Close; such events are not recorded.
func (l *Log) Append(e Event) (Event, error) {
	if !slices.Contains(kinds, e.Kind) {
		return e, fmt.Errorf("%w: kind %q", ErrInvalid, e.Kind)
	}
	switch e.Level {
	case "":
		e.Level = defaultLevel(e.Kind)
	case LevelInfo, LevelWarn, LevelError:
	default:
		return e, fmt.Errorf("%w: level %q", ErrInvalid, e.Level)
	}
	if e.Node == "" {
		e.Node = l.node
	}
	e = e.clone()

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return e, ErrClosed
	}
	if e.Time.IsZero() {
		e.Time = l.clock()
	}
	e.Time = e.Time.Round(0)
	l.seq++
	e.Seq = l.seq

	var errs []error
	if len(l.cur) >= l.half {
		errs = append(errs, l.rotate())
	}
	l.cur = append(l.cur, e)
	errs = append(errs, l.write(e))
	close(l.wake)
	l.wake = make(chan struct{})
	return e.clone(), errors.Join(errs...)
}

// evict notes that evs leave memory.
func (l *Log) evict(evs []Event) {
	if len(evs) > 0 {
		l.evicted = max(l.evicted, evs[len(evs)-1].Seq)
	}
}

// rotate makes the current events the previous ones, in memory and on
// disk. Memory rotates even when the disk fails, so that it stays
// bounded; the file then goes on growing until a rotation succeeds.
func (l *Log) rotate() error {
	l.evict(l.prev)
	l.prev = l.cur
	if n := len(l.prev) - l.half; n > 0 { // Max was lowered
		l.evict(l.prev[:n])
		l.prev = l.prev[n:]
	}
	l.cur = make([]Event, 0, l.half)

	if l.f != nil {
		l.f.Sync()
	}
	if err := os.Rename(l.path, l.oldPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("rotate event log %s: %w", l.path, err)
	}
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	return l.reopen()
}

// reopen opens CurrentFile for appending after a rotation or a failure.
func (l *Log) reopen() error {
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("event log %s: %w", l.path, err)
	}
	fi, err := f.Stat()
	last := []byte{'\n'}
	if err == nil && fi.Size() > 0 {
		_, err = f.ReadAt(last, fi.Size()-1)
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("event log %s: %w", l.path, err)
	}
	l.f, l.size, l.torn = f, fi.Size(), last[0] != '\n'
	return nil
}

// write appends e's line to CurrentFile. After a failed write the file is
// cut back to its last whole line if it can be, and closed; the next
// write reopens it and, if it still ends with part of a line, starts with
// a newline so that the torn line stays a line of its own, skipped by
// Open.
func (l *Log) write(e Event) error {
	if l.f == nil {
		if err := l.reopen(); err != nil {
			return err
		}
	}
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("event %d: %w", e.Seq, err)
	}
	line = append(line, '\n')
	if l.torn {
		line = append([]byte{'\n'}, line...)
	}
	n, err := l.f.Write(line)
	if err != nil {
		if n > 0 {
			l.f.Truncate(l.size)
		}
		l.f.Close()
		l.f = nil
		return fmt.Errorf("write event %d to %s: %w", e.Seq, l.path, err)
	}
	l.size += int64(n)
	l.torn = false
	return nil
}

// Since returns copies of the events held with Time >= t and Seq >
// afterSeq, oldest first. A zero t and afterSeq return all.
func (l *Log) Since(t time.Time, afterSeq uint64) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	for _, part := range [][]Event{l.prev, l.cur} {
		for _, e := range part[after(part, afterSeq):] {
			if !e.Time.Before(t) {
				out = append(out, e.clone())
			}
		}
	}
	return out
}

// Tail returns copies of the last n events held, oldest first.
func (l *Log) Tail(n int) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	n = max(0, min(n, len(l.prev)+len(l.cur)))
	out := make([]Event, 0, n)
	if k := n - len(l.cur); k > 0 {
		for _, e := range l.prev[len(l.prev)-k:] {
			out = append(out, e.clone())
		}
	}
	for _, e := range l.cur[len(l.cur)-min(n, len(l.cur)):] {
		out = append(out, e.clone())
	}
	return out
}

// LastSeq returns the Seq of the last event recorded, 0 if none.
func (l *Log) LastSeq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq
}

// after returns the index of the first event of evs with Seq > seq.
func after(evs []Event, seq uint64) int {
	return sort.Search(len(evs), func(i int) bool { return evs[i].Seq > seq })
}

// Close syncs and closes the file, ends every subscription and waits for
// their goroutines to finish. Append fails after Close; Since and Tail
// still answer from memory. Close is idempotent.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	var err error
	if l.f != nil {
		err = l.f.Sync()
		if cerr := l.f.Close(); err == nil {
			err = cerr
		}
		l.f = nil
	}
	l.mu.Unlock()
	l.subs.Wait()
	if err != nil {
		return fmt.Errorf("close event log %s: %w", l.path, err)
	}
	return nil
}
