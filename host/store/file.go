package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Names of the files File keeps in its directory.
const (
	StateFile = "state.json"
	LockFile  = "arkd.lock"
)

// formatVersion is the version of state.json's layout; a file of another
// version is refused rather than half understood.
const formatVersion = 1

// fileFormat is state.json's layout: Data's fields beside a version.
type fileFormat struct {
	Version int `json:"version"`
	Data
}

// Options configures Open.
type Options struct {
	// Holder names the program that takes the directory, recorded with
	// its pid in arkd.lock and shown to anyone who finds it taken;
	// "arkd" when empty.
	Holder string
}

// File is a Store kept in one directory on the local disk. It is safe for
// concurrent use. Reads never wait for the disk; Applies are written in
// the order they were applied, each write replacing state.json whole.
type File struct {
	dir  string
	path string // dir/state.json

	mu      sync.RWMutex // guards data, applied, closed
	data    Data
	applied uint64 // version of data: how many changes were applied
	closed  bool

	wmu      sync.Mutex // serialises writes; guards durable, lock
	durable  uint64     // version of data last written and synced
	lock     *os.File   // nil once released by Close
	lockPath string
}

var _ Store = (*File)(nil)

// Open takes the directory dir for this process and reads the state kept
// there. dir is created (mode 0700) if missing; a missing state.json is an
// empty state. Open fails with an error wrapping ErrLocked, naming the
// holder's pid, when another File (in this or another process) has dir
// open. A state.json that does not decode, or breaks the store's
// invariants, is an error naming the file and the place of the fault; the
// file is left as it is for the admin to inspect.
func Open(dir string, opts Options) (*File, error) {
	if opts.Holder == "" {
		opts.Holder = "arkd"
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	lock, err := acquire(dir, opts.Holder)
	if err != nil {
		return nil, err
	}
	f := &File{dir: dir, path: filepath.Join(dir, StateFile), lock: lock, lockPath: lock.Name()}
	f.data, err = load(f.path)
	if err != nil {
		release(lock)
		return nil, err
	}
	removeTemps(dir)
	return f, nil
}

// Read returns a deep copy of the state, with non-nil maps. It never waits
// for a write to the disk. Read after Close returns the last state.
func (f *File) Read() Data {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.data.Clone()
}

// Apply makes op's change (see Store.Apply) and writes the whole state to
// state.json. The change is applied as decoded from its JSON encoding,
// exactly as a replicated log's followers would apply it, so what Read
// returns is what a restart reads back (times lose their monotonic clock
// reading, for instance).
//
// The change is always kept in memory once valid. If it cannot be
// written (disk full, read-only file system) the error wraps ErrNotDurable
// and the cause and names the file; state.json keeps the last state that
// was written, and the next Apply or Flush writes again. An empty op
// writes pending changes only.
func (f *File) Apply(ctx context.Context, op Op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Over the wire and back: the in-memory state is what a restart
	// would decode, and nothing is shared with the caller.
	b, err := json.Marshal(op)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var dec Op
	if err := json.Unmarshal(b, &dec); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return ErrClosed
	}
	if err := f.data.Apply(dec); err != nil {
		f.mu.Unlock()
		return err
	}
	if !dec.Empty() {
		f.applied++
	}
	f.mu.Unlock()
	return f.flush()
}

// Flush writes changes that an earlier Apply could not make durable. It
// returns nil at once when there are none, an error wrapping
// ErrNotDurable when the write fails again, ErrClosed after Close. ctx is
// only checked before starting: a write to the disk is not interrupted.
func (f *File) Flush(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.RLock()
	closed := f.closed
	f.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	return f.flush()
}

// Close writes pending changes, if any, and releases the directory. Its
// error wraps ErrNotDurable if changes were lost. Close is idempotent.
func (f *File) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	err := f.flush()
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if f.lock != nil {
		release(f.lock)
		f.lock = nil
	}
	if errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}

// flush writes the latest state if it is newer than what is on disk.
func (f *File) flush() error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	f.mu.RLock()
	version := f.applied
	if version == f.durable {
		f.mu.RUnlock()
		return nil
	}
	b, err := json.MarshalIndent(fileFormat{Version: formatVersion, Data: f.data}, "", "\t")
	f.mu.RUnlock()
	if f.lock == nil {
		return fmt.Errorf("%w: %s is released: %w", ErrClosed, f.dir, ErrNotDurable)
	}
	if err == nil {
		err = writeAtomic(f.dir, StateFile, append(b, '\n'))
	}
	if err != nil {
		return fmt.Errorf("save %s: %w: %w", f.path, err, ErrNotDurable)
	}
	f.durable = version
	return nil
}

// load reads the state in path; a missing file is an empty state.
func load(path string) (Data, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Data{}.Clone(), nil
	}
	if err != nil {
		return Data{}, fmt.Errorf("read state: %w", err)
	}
	var ff fileFormat
	if err := json.Unmarshal(b, &ff); err != nil {
		return Data{}, fmt.Errorf("%s: %s (the file is kept as it is; restore or remove it)", path, describe(b, err))
	}
	if ff.Version != formatVersion {
		return Data{}, fmt.Errorf("%s: format version %d, this program reads version %d", path, ff.Version, formatVersion)
	}
	if err := ff.Data.verify(); err != nil {
		return Data{}, fmt.Errorf("%s: %w (the file is kept as it is; restore or remove it)", path, err)
	}
	return ff.Data.Clone(), nil
}

// describe says where in b a JSON decoding error happened.
func describe(b []byte, err error) string {
	// A SyntaxError's Offset is just past the bad byte, or the length of
	// b for a truncated file; an UnmarshalTypeError's is just past the
	// value of the wrong type.
	var off int64 = -1
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		off = syn.Offset
		if off > 0 && !strings.Contains(syn.Error(), "unexpected end") {
			off--
		}
	case errors.As(err, &typ):
		off = typ.Offset
	}
	if off < 0 || off > int64(len(b)) {
		return fmt.Sprintf("invalid JSON: %v", err)
	}
	before := b[:off]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("invalid JSON at line %d, column %d (byte offset %d): %v", line, col, off, err)
}

// writeAtomic replaces dir/name with b so that a crash at any point leaves
// either the old file or the new one, complete: b goes to a temporary file
// in dir, is synced, renamed over name, and the directory is synced.
func writeAtomic(dir, name string, b []byte) (err error) {
	tmp, err := os.CreateTemp(dir, tempPattern(name))
	if err != nil {
		return err
	}
	renamed := false
	defer func() {
		if !renamed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(b); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	renamed = true
	return syncDir(dir)
}

func tempPattern(name string) string { return "." + name + ".*.tmp" }

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeTemps deletes temporary files a crashed writer left in dir; the
// caller holds the directory's lock, so no writer is running.
func removeTemps(dir string) {
	names, _ := filepath.Glob(filepath.Join(dir, tempPattern(StateFile)))
	for _, n := range names {
		os.Remove(n)
	}
}
