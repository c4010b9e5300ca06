//go:build linux

package monitor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// fallbackInterval is how often a watch polls when the kernel cannot give it
// a pidfd.
const fallbackInterval = 100 * time.Millisecond

// ProcessWatch reports the death of one process; [Watch] makes one. Its
// methods are safe for concurrent use.
type ProcessWatch struct {
	pid    int
	done   chan struct{} // closed when the process has died
	stop   chan struct{} // closed by Stop
	exited chan struct{} // closed when the watching goroutine has returned
	once   sync.Once
	file   *os.File    // the pidfd; nil when polling
	unhook func() bool // releases the context.AfterFunc; called by the goroutine
}

// Watch starts watching the process pid and returns at once; the process
// need not be a child of this one (it usually was started by a plugin), and
// it is never waited for (reaping it stays its parent's business).
//
// The process's identity is pinned when Watch returns: Watch opens a pidfd
// (pidfd_open(2)), which keeps referring to that process, so its death is
// reported even if the pid is reused by then. Watch cannot know whether pid
// already named some other process when it was called: call it promptly
// after reading the pid.
//
// Death is reported by closing [ProcessWatch.Done], within milliseconds:
// the pidfd becomes readable when the process exits, which the Go runtime
// poller (epoll) notices, so no thread is blocked and nothing polls. A zombie
// (exited, not yet reaped) counts as dead, so a zombie pid gives a watch
// whose Done closes at once.
//
// When the kernel has no pidfd_open (ENOSYS: Linux before 5.3; or EPERM from
// a seccomp filter that denies it), Watch falls back to polling every 100 ms:
// the process is dead when kill(pid, 0) fails with ESRCH, or when
// /proc/pid/stat is gone, shows a zombie, or shows a start time other than the
// one read when the watch began (the pid was reused). Without a readable
// /proc, only kill(pid, 0) is used, and neither zombies nor reuse are seen.
//
// Watch returns an error wrapping [ErrNoProcess] if pid names no process,
// and other errors (invalid pid, pidfd_open failure) naming the pid. The
// watch lasts until the process dies, [ProcessWatch.Stop] is called or ctx
// ends (which stops it as Stop does); the caller must end it one of these
// ways to release the pidfd and goroutine.
func Watch(ctx context.Context, pid int) (*ProcessWatch, error) {
	return watch(ctx, pid, watchOptions{})
}

// watchOptions is the test seam of [Watch]; the zero value is production.
type watchOptions struct {
	pidfdOpen func(pid, flags int) (int, error) // nil: unix.PidfdOpen
	ticks     <-chan time.Time                  // polling ticks; nil: every fallbackInterval
	readStat  func(pid int) (procStat, error)   // nil: readProcStat
}

func watch(ctx context.Context, pid int, opts watchOptions) (*ProcessWatch, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("watch pid %d: not a process id", pid)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("watch pid %d: %w", pid, err)
	}
	if opts.pidfdOpen == nil {
		opts.pidfdOpen = unix.PidfdOpen
	}
	if opts.readStat == nil {
		opts.readStat = readProcStat
	}
	w := &ProcessWatch{
		pid:    pid,
		done:   make(chan struct{}),
		stop:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	var run func()
	fd, err := opts.pidfdOpen(pid, 0)
	switch {
	case err == nil:
		// os.NewFile registers a non-blocking descriptor with the runtime
		// poller, which is what lets waitPidfd park instead of block.
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("watch pid %d: pidfd: %w", pid, err)
		}
		w.file = os.NewFile(uintptr(fd), fmt.Sprintf("pidfd:%d", pid))
		run = func() { w.waitPidfd(opts.ticks) }
	case errors.Is(err, unix.ESRCH):
		return nil, fmt.Errorf("watch pid %d: %w", pid, ErrNoProcess)
	case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM):
		gone, err := pollIdentity(pid, opts.readStat)
		if err != nil {
			return nil, fmt.Errorf("watch pid %d: %w", pid, err)
		}
		dead := gone() // a zombie is dead at once
		run = func() {
			if dead {
				close(w.done)
				return
			}
			w.pollUntil(opts.ticks, gone)
		}
	default:
		return nil, fmt.Errorf("watch pid %d: pidfd_open: %w", pid, err)
	}
	// AfterFunc may call Stop at once; Stop then waits for the goroutine,
	// which is started below in any case.
	w.unhook = context.AfterFunc(ctx, w.Stop)
	go func() {
		defer close(w.exited)
		defer w.unhook()
		run()
		if w.file != nil {
			w.file.Close()
		}
	}()
	return w, nil
}

// Pid returns the pid the watch was started for.
func (w *ProcessWatch) Pid() int { return w.pid }

// Done returns a channel that is closed when the process has died (or is a
// zombie). It is never closed if the watch was stopped first.
func (w *ProcessWatch) Done() <-chan struct{} { return w.done }

// Stop ends the watch and releases its pidfd and goroutine; it returns once
// both are released. It is idempotent, safe to call concurrently and after
// the process died; Done is not closed by Stop.
func (w *ProcessWatch) Stop() {
	w.once.Do(func() {
		close(w.stop)
		if w.file != nil {
			w.file.Close() // wakes waitPidfd
		}
	})
	<-w.exited
}

// waitPidfd parks on the pidfd in the runtime poller until the process dies
// or Stop closes the file.
func (w *ProcessWatch) waitPidfd(ticks <-chan time.Time) {
	rc, err := w.file.SyscallConn()
	if err != nil {
		return
	}
	dead := false
	err = rc.Read(func(fd uintptr) bool {
		dead = pidfdExited(int(fd))
		return dead
	})
	if err == nil && dead {
		close(w.done)
		return
	}
	select {
	case <-w.stop:
		return
	default:
	}
	// The runtime could not poll the pidfd (not expected where pidfds
	// exist): ask it at the fallback interval instead.
	w.pollUntil(ticks, func() bool {
		dead := false
		if rc.Control(func(fd uintptr) { dead = pidfdExited(int(fd)) }) != nil {
			return false // closed by Stop
		}
		return dead
	})
}

// pollUntil calls gone at each tick until it reports true (and closes done)
// or Stop is called.
func (w *ProcessWatch) pollUntil(ticks <-chan time.Time, gone func() bool) {
	if ticks == nil {
		t := time.NewTicker(fallbackInterval)
		defer t.Stop()
		ticks = t.C
	}
	for {
		select {
		case <-w.stop:
			return
		case <-ticks:
		}
		if gone() {
			close(w.done)
			return
		}
	}
}

// pidfdExited reports whether the pidfd is readable, which it is once the
// process has exited (zombie or reaped).
func pidfdExited(fd int) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		if err == unix.EINTR {
			continue
		}
		return err == nil && n > 0 && fds[0].Revents&(unix.POLLIN|unix.POLLHUP) != 0
	}
}

// pollIdentity is the fallback's start: it checks that pid exists, records
// its start time, and returns the test that tells its death.
func pollIdentity(pid int, readStat func(int) (procStat, error)) (gone func() bool, err error) {
	if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
		return nil, ErrNoProcess
	}
	// EPERM: the process exists but is not ours to signal, which is fine.
	first, err := readStat(pid)
	switch {
	case errors.Is(err, errProcGone):
		return nil, ErrNoProcess
	case err != nil:
		// No usable /proc: kill(pid, 0) is all there is.
		return func() bool { return errors.Is(unix.Kill(pid, 0), unix.ESRCH) }, nil
	}
	return func() bool {
		if errors.Is(unix.Kill(pid, 0), unix.ESRCH) {
			return true
		}
		st, err := readStat(pid)
		switch {
		case errors.Is(err, errProcGone):
			return true
		case err != nil:
			return false
		}
		return st.start != first.start || st.state == 'Z' || st.state == 'X'
	}, nil
}
