//go:build linux

package kits

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// procIdentity is what tells one process from another that later got the
// same pid.
type procIdentity struct {
	StartTime uint64 // /proc/PID/stat field 22: clock ticks after boot
	Exe       string // /proc/PID/exe
	Zombie    bool   // exited, not reaped yet: nothing left to kill
}

// errNoProcess: no process has that pid.
var errNoProcess = errors.New("no such process")

// identify reads pid's start time and executable from /proc. It returns
// errNoProcess when there is no such process. Exe is "" when it cannot be
// read (another user's process without privileges, a zombie).
func identify(pid int) (procIdentity, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			return procIdentity{}, errNoProcess
		}
		return procIdentity{}, err
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses,
	// so split after the last ')'. Field 3 (state) is then index 0 and
	// field 22 (starttime) index 19.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procIdentity{}, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return procIdentity{}, fmt.Errorf("/proc/%d/stat: %d fields after comm, want 20", pid, len(f))
	}
	st, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procIdentity{}, fmt.Errorf("/proc/%d/stat: start time %q: %w", pid, f[19], err)
	}
	id := procIdentity{StartTime: st, Zombie: f[0] == "Z" || f[0] == "X"}
	id.Exe, _ = os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return id, nil
}

// bootID identifies the current boot: start times count from boot, so a
// record from another boot says nothing about today's processes.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// orphanCheck is the outcome of matching a record against the process
// that now has its pid.
type orphanCheck int

const (
	orphanGone     orphanCheck = iota // no such process (or a zombie)
	orphanOurs                        // same start time and executable: the recorded plugin
	orphanReused                      // start time differs: the pid was reused
	orphanOtherExe                    // same start time, another executable
	orphanUnknown                     // cannot tell (unreadable /proc, other boot)
)

func checkOrphan(rec record) (orphanCheck, procIdentity, error) {
	if b := bootID(); rec.BootID != "" && b != "" && rec.BootID != b {
		return orphanGone, procIdentity{}, nil // every process of that boot is gone
	}
	id, err := identify(rec.Pid)
	switch {
	case errors.Is(err, errNoProcess):
		return orphanGone, id, nil
	case err != nil:
		return orphanUnknown, id, err
	case id.StartTime != rec.StartTime:
		return orphanReused, id, nil
	case id.Zombie:
		return orphanGone, id, nil
	case id.Exe == "":
		return orphanUnknown, id, fmt.Errorf("cannot read /proc/%d/exe", rec.Pid)
	case id.Exe != rec.Exe && id.Exe != rec.Exe+" (deleted)":
		// " (deleted)": the binary was replaced on disk since it started;
		// pid and start time already say it is the same process.
		return orphanOtherExe, id, nil
	}
	return orphanOurs, id, nil
}

// killOrphan kills the recorded plugin process if it still runs: SIGTERM
// (and SIGCONT, should it be stopped), then SIGKILL after grace. It signals only a process whose start time and
// executable match the record, and holds a pidfd on it from before that
// check until the signals are sent, so a pid reused in between is never
// signalled. It reports whether it killed something; a process that is
// not the recorded one is left alone with an error saying why.
func killOrphan(rec record, grace time.Duration) (killed bool, err error) {
	fd, err := unix.PidfdOpen(rec.Pid, 0)
	switch {
	case errors.Is(err, unix.ESRCH):
		return false, nil
	case err != nil:
		fd = -1 // no pidfd (old kernel): signal by pid after the check
	default:
		defer unix.Close(fd)
	}
	check, id, cerr := checkOrphan(rec)
	switch check {
	case orphanGone:
		return false, nil
	case orphanReused:
		return false, fmt.Errorf("pid %d now belongs to another process (start time %d, recorded %d): left alone",
			rec.Pid, id.StartTime, rec.StartTime)
	case orphanOtherExe:
		return false, fmt.Errorf("pid %d runs %s, not the recorded %s: left alone", rec.Pid, id.Exe, rec.Exe)
	case orphanUnknown:
		return false, fmt.Errorf("pid %d: cannot tell whether it is the recorded plugin: %w: left alone", rec.Pid, cerr)
	}
	signal := func(sig unix.Signal) error {
		var err error
		if fd >= 0 {
			err = unix.PidfdSendSignal(fd, sig, nil, 0)
		} else {
			err = unix.Kill(rec.Pid, sig)
		}
		if errors.Is(err, unix.ESRCH) {
			return nil
		}
		return err
	}
	exited := func(d time.Duration) bool {
		deadline := time.Now().Add(d)
		for {
			if fd >= 0 {
				ms := int(time.Until(deadline) / time.Millisecond)
				if ms < 0 {
					ms = 0
				}
				fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
				n, err := unix.Poll(fds, ms)
				if err == nil {
					return n > 0
				}
				if !errors.Is(err, unix.EINTR) {
					fd = -1 // fall back to polling /proc
				}
			} else {
				if c, _, _ := checkOrphan(rec); c != orphanOurs {
					return true
				}
				time.Sleep(20 * time.Millisecond)
			}
			if time.Now().After(deadline) {
				return false
			}
		}
	}
	if err := signal(unix.SIGTERM); err != nil {
		return false, fmt.Errorf("SIGTERM pid %d: %w", rec.Pid, err)
	}
	_ = signal(unix.SIGCONT) // a stopped (frozen) process acts on SIGTERM only once continued
	if exited(grace) {
		return true, nil
	}
	if err := signal(unix.SIGKILL); err != nil {
		return false, fmt.Errorf("SIGKILL pid %d: %w", rec.Pid, err)
	}
	if exited(5 * time.Second) {
		return true, nil
	}
	return true, fmt.Errorf("pid %d still there 5s after SIGKILL", rec.Pid)
}
