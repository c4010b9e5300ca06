package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ark-ha/ark/sdk/ark"
)

// holder is a process that keeps a mounted filesystem busy, as fuser -m
// finds them.
type holder struct {
	pid   int
	comm  string
	why   string // what it holds: "cwd", "fd 3 /mnt/x/log", "mmap /mnt/x/lib.so", ...
	pidfd int    // -1 unless opened by scanHolders; refers to this process even if the pid is reused
}

func (h holder) String() string { return fmt.Sprintf("%d (%s: %s)", h.pid, h.comm, h.why) }

// target is the filesystem whose users are looked for: the mountpoint
// path (anything under it counts, also files on mounts stacked below it)
// and the device number its files carry (st_dev; this also catches files
// opened through another path, e.g. from another mount namespace).
type target struct {
	dir string
	dev uint64
}

func (t target) pathUnder(p string) bool {
	p = strings.TrimSuffix(p, " (deleted)")
	return p == t.dir || strings.HasPrefix(p, t.dir+"/") || t.dir == "/"
}

// holds reports whether the /proc link at link (cwd, root, exe, fd/N)
// points into the filesystem; the link's target is returned for the log.
func (t target) holds(link string) (bool, string) {
	dest, err := os.Readlink(link)
	if err != nil {
		return false, ""
	}
	if t.pathUnder(dest) {
		return true, dest
	}
	// Sockets, pipes and anon inodes ("socket:[123]") live on no disk;
	// only stat what looks like a file.
	if !strings.HasPrefix(dest, "/") {
		return false, ""
	}
	var st unix.Stat_t
	if err := unix.Stat(link, &st); err != nil {
		return false, ""
	}
	return st.Dev == t.dev, dest
}

// scanHolders returns every process but this one that uses the filesystem:
// by its working directory, root, executable, an open file or a memory
// mapping. Each holder comes with a pidfd (close it with closeHolders).
// Processes that vanish during the scan are skipped.
func scanHolders(ctx context.Context, t target) ([]holder, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("scan processes: %w", err)
	}
	self := os.Getpid()
	var out []holder
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			closeHolders(out)
			return nil, fmt.Errorf("scan processes using %s: %w", t.dir, err)
		}
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || pid == 1 {
			continue
		}
		// Open the pidfd first: what is read from /proc/<pid> below then
		// belongs to the process the pidfd names, as long as that process
		// has not exited by the end of the scan (checked after).
		pidfd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue
		}
		why := t.processHolds(pid)
		if why == "" || exited(pidfd) {
			unix.Close(pidfd)
			continue
		}
		out = append(out, holder{pid: pid, comm: comm(pid), why: why, pidfd: pidfd})
	}
	return out, nil
}

// processHolds says what process pid holds in the filesystem, "" if
// nothing.
func (t target) processHolds(pid int) string {
	base := "/proc/" + strconv.Itoa(pid)
	for _, l := range []string{"cwd", "root", "exe"} {
		if ok, dest := t.holds(base + "/" + l); ok {
			return l + " " + dest
		}
	}
	fds, _ := os.ReadDir(base + "/fd")
	for _, fd := range fds {
		if ok, dest := t.holds(base + "/fd/" + fd.Name()); ok {
			return "fd " + fd.Name() + " " + dest
		}
	}
	if m := t.mapsHold(base + "/maps"); m != "" {
		return "mmap " + m
	}
	return ""
}

// mapsHold looks through a /proc/<pid>/maps file for a mapping of a file
// on the filesystem (the dev field, major:minor in hex, or the path) and
// returns that file's path.
func (t target) mapsHold(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// address perms offset dev inode [path]
		fields := strings.SplitN(sc.Text(), " ", 6)
		if len(fields) < 5 || fields[4] == "0" {
			continue
		}
		name := ""
		if len(fields) == 6 {
			name = strings.TrimSpace(fields[5])
		}
		if dev, ok := parseMapsDev(fields[3]); ok && dev == t.dev || name != "" && t.pathUnder(name) {
			return name
		}
	}
	return ""
}

// parseMapsDev parses the "fd:01" device field of /proc/<pid>/maps.
func parseMapsDev(s string) (uint64, bool) {
	maj, min, ok := strings.Cut(s, ":")
	if !ok {
		return 0, false
	}
	a, err1 := strconv.ParseUint(maj, 16, 32)
	b, err2 := strconv.ParseUint(min, 16, 32)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return unix.Mkdev(uint32(a), uint32(b)), true
}

func comm(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// exited reports whether the process behind pidfd has exited.
func exited(pidfd int) bool {
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0
}

func closeHolders(hs []holder) {
	for _, h := range hs {
		if h.pidfd >= 0 {
			unix.Close(h.pidfd)
		}
	}
}

// waitExit waits until every process in hs has exited, d has passed or
// ctx ends, and returns those still running.
func waitExit(ctx context.Context, hs []holder, d time.Duration) []holder {
	deadline := time.Now().Add(d)
	for {
		var alive []holder
		for _, h := range hs {
			if !exited(h.pidfd) {
				alive = append(alive, h)
			}
		}
		if len(alive) == 0 || ctx.Err() != nil || !time.Now().Before(deadline) {
			return alive
		}
		hs = alive
		fds := make([]unix.PollFd, len(hs))
		for i, h := range hs {
			fds[i] = unix.PollFd{Fd: int32(h.pidfd), Events: unix.POLLIN}
		}
		// Short slices so that ctx is noticed soon.
		wait := min(time.Until(deadline), 100*time.Millisecond)
		_, _ = unix.Poll(fds, int(wait.Milliseconds())+1)
	}
}

// killHolders ends the processes that use the filesystem: SIGTERM, up to
// grace for them to exit, then SIGKILL; and again, up to three rounds,
// for processes that appeared meanwhile (a supervisor restarting its
// child). Each signal is logged with the pid and the command name. It
// returns the processes still there at the end (their pidfds closed).
func killHolders(ctx context.Context, req *ark.Request, t target, grace time.Duration) ([]holder, error) {
	for round := 0; ; round++ {
		hs, err := scanHolders(ctx, t)
		if err != nil {
			return nil, err
		}
		if len(hs) == 0 || round == 3 {
			closeHolders(hs)
			for i := range hs {
				hs[i].pidfd = -1
			}
			return hs, nil
		}
		for _, h := range hs {
			if err := unix.PidfdSendSignal(h.pidfd, unix.SIGTERM, nil, 0); err == nil {
				logf(req, slog.LevelWarn, "kill", "sent SIGTERM to pid %s, which uses %s", h, t.dir)
			}
		}
		alive := waitExit(ctx, hs, grace)
		for _, h := range alive {
			if err := unix.PidfdSendSignal(h.pidfd, unix.SIGKILL, nil, 0); err == nil {
				logf(req, slog.LevelWarn, "kill", "pid %d (%s) still runs %s after SIGTERM: sent SIGKILL", h.pid, h.comm, grace)
			}
		}
		// SIGKILL takes effect at once unless the process sleeps in the
		// kernel (D state, e.g. on a dead disk); don't wait long for it.
		stuck := waitExit(ctx, alive, 2*time.Second)
		for _, h := range stuck {
			logf(req, slog.LevelError, "kill", "pid %d (%s) did not die of SIGKILL (stuck in the kernel?)", h.pid, h.comm)
		}
		closeHolders(hs)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("stop processes using %s: %w", t.dir, err)
		}
	}
}

// describeHolders lists holders for a message: "123 (sleep: cwd /mnt/x), ...".
func describeHolders(hs []holder) string {
	parts := make([]string, len(hs))
	for i, h := range hs {
		parts[i] = h.String()
	}
	return strings.Join(parts, ", ")
}

// logf logs one line with a code to the action's log.
func logf(req *ark.Request, level slog.Level, code, format string, args ...any) {
	if req == nil || req.Log == nil {
		return
	}
	req.Log(ark.LogLine{Time: time.Now(), Level: level, Code: code, Message: fmt.Sprintf(format, args...)})
}
