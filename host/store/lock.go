package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrLocked is wrapped by Open's error when another File, in this process
// or another, has the directory open.
var ErrLocked = errors.New("state dir is locked")

// lockedError names the directory and who holds it.
type lockedError struct {
	dir    string
	holder string // program name, "" when unknown
	pid    int    // 0 when unknown
}

func (e *lockedError) Error() string {
	if e.pid == 0 {
		return fmt.Sprintf("state dir %s is in use by another process", e.dir)
	}
	return fmt.Sprintf("state dir %s is in use by %s pid %d", e.dir, e.holder, e.pid)
}

func (e *lockedError) Unwrap() error { return ErrLocked }

// acquire takes an exclusive flock on dir/arkd.lock and records "PID
// HOLDER" in it. A flock belongs to the open file description, so a
// second acquire in the same process conflicts too; the kernel drops it
// when the holder dies, so a stale pid in the file never blocks anyone.
// The descriptor is close-on-exec: plugins and actions do not inherit it.
func acquire(dir, holder string) (*os.File, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state dir lock: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err != unix.EINTR {
			break
		}
	}
	if err == unix.EWOULDBLOCK {
		e := &lockedError{dir: dir}
		if b, rerr := os.ReadFile(path); rerr == nil {
			e.pid, e.holder = parseHolder(string(b))
		}
		f.Close()
		return nil, e
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("state dir lock %s: %w", path, err)
	}
	rec := fmt.Sprintf("%d %s\n", os.Getpid(), holder)
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(rec), 0)
	}
	if err != nil {
		release(f)
		return nil, fmt.Errorf("state dir lock %s: %w", path, err)
	}
	return f, nil
}

// parseHolder reads "PID HOLDER"; pid is 0 when the record is missing or
// malformed (a holder that has not written it yet).
func parseHolder(s string) (pid int, holder string) {
	p, holder, ok := strings.Cut(strings.TrimSpace(s), " ")
	pid, err := strconv.Atoi(p)
	if !ok || err != nil || pid <= 0 || holder == "" {
		return 0, ""
	}
	return pid, holder
}

// release empties the record, so that nobody reads a dead holder's pid,
// and drops the lock.
func release(f *os.File) {
	f.Truncate(0)
	f.Close()
}
