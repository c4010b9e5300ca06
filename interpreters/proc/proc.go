package proc

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options configures a Group.
type Options struct {
	// CgroupParent is a cgroup v2 directory under which the group creates
	// its own cgroup named Name. Empty means no cgroup: process groups and
	// a /proc walk are used instead.
	CgroupParent string
	// Name of the action's cgroup under CgroupParent, e.g.
	// "web/restore-17". Must be unique among live groups.
	Name string
	// Keep is a cgroup v2 directory that receives the processes still
	// running when the action ends normally (the services a restore
	// started). Created when needed. Empty: they stay in the action's
	// cgroup, which is then not removed.
	Keep string
}

// Group is the containment of one action's processes. Its methods are safe
// for concurrent use.
type Group struct {
	opts   Options
	cgroup string // action cgroup dir, "" in process-group mode
	cgfd   int    // open fd of cgroup dir for clone, -1 if none

	mu sync.Mutex
	// started maps the pids started through Start to their start time
	// (/proc/PID/stat field 22), which tells a started process from an
	// unrelated one that reuses its pid after it has exited.
	started map[int]uint64
	closed  bool
	// starting is held (read) while Start starts a process, and taken
	// by Release and Close to close the group: no process can start
	// after they have listed the group's processes.
	starting sync.RWMutex
}

// New creates a group. If the cgroup cannot be created the error says why;
// callers that can live with weaker containment retry with an empty
// CgroupParent.
func New(opts Options) (*Group, error) {
	g := &Group{opts: opts, cgfd: -1, started: map[int]uint64{}}
	if opts.CgroupParent == "" {
		return g, nil
	}
	if opts.Name == "" {
		return nil, errors.New("proc: a cgroup group needs a name")
	}
	dir := filepath.Join(opts.CgroupParent, opts.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", dir, err)
	}
	fd, err := syscall.Open(dir, syscall.O_DIRECTORY|syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		_ = os.Remove(dir)
		return nil, fmt.Errorf("open cgroup %s: %w", dir, err)
	}
	g.cgroup, g.cgfd = dir, fd
	return g, nil
}

// Contained describes the containment in use, for logs and `ark test`.
func (g *Group) Contained() string {
	if g.cgroup != "" {
		return "cgroup " + g.cgroup
	}
	return "process groups (no cgroup v2: a setsid escape whose parent exited is not caught)"
}

// Cgroup returns the action's cgroup directory, "" in process-group mode.
func (g *Group) Cgroup() string { return g.cgroup }

// Start starts cmd inside the group: in its own process group, and inside
// the action cgroup when there is one. cmd.SysProcAttr is replaced.
func (g *Group) Start(cmd *exec.Cmd) error {
	g.starting.RLock()
	defer g.starting.RUnlock()
	g.mu.Lock()
	closed := g.closed
	g.mu.Unlock()
	if closed {
		return errors.New("proc: group is closed: the action has ended")
	}
	attr := &syscall.SysProcAttr{Setpgid: true}
	if g.cgfd >= 0 {
		attr.UseCgroupFD = true
		attr.CgroupFD = g.cgfd
	}
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		return err
	}
	// Not reaped before Start returns: the stat is there to read.
	st, _ := readStat(cmd.Process.Pid)
	g.mu.Lock()
	g.started[cmd.Process.Pid] = st.start
	g.mu.Unlock()
	return nil
}

// Owns reports whether pid is a live process of the group (started by it
// or a descendant of one that was). The host's own pid is never owned.
func (g *Group) Owns(pid int) bool {
	if pid <= 1 || pid == os.Getpid() {
		return false
	}
	for _, p := range g.Pids() {
		if p == pid {
			return true
		}
	}
	return false
}

// Pids lists the group's live (non-zombie) processes.
func (g *Group) Pids() []int {
	if g.cgroup != "" {
		pids, err := readPids(filepath.Join(g.cgroup, "cgroup.procs"))
		if err == nil {
			return alive(pids)
		}
	}
	return g.treePids()
}

// treePids finds the started processes, their process groups and their
// descendants through /proc. A started pid that now names another
// process (the started one exited, the pid was reused) is no root: the
// kernel does not reuse a pid while its process group has members, so
// the members of a group whose leader is merely gone are still ours.
func (g *Group) treePids() []int {
	g.mu.Lock()
	started := make(map[int]uint64, len(g.started))
	for p, t := range g.started {
		started[p] = t
	}
	g.mu.Unlock()
	if len(started) == 0 {
		return nil
	}
	procs := scanProc()
	roots := make(map[int]bool, len(started))
	for p, t := range started {
		if st, ok := procs[p]; ok && st.start != t {
			continue // reused pid
		}
		roots[p] = true
	}
	in := map[int]bool{}
	for pid, st := range procs {
		if roots[pid] || roots[st.pgid] {
			in[pid] = true
		}
	}
	// Descendants: repeat until no new process joins (the tree is shallow).
	for changed := true; changed; {
		changed = false
		for pid, st := range procs {
			if !in[pid] && in[st.ppid] {
				in[pid] = true
				changed = true
			}
		}
	}
	self := os.Getpid()
	out := make([]int, 0, len(in))
	for pid := range in {
		if pid != self && procs[pid].state != 'Z' {
			out = append(out, pid)
		}
	}
	return out
}

// Signal sends sig to pid if the group owns it, and refuses otherwise (a
// script must not signal the host or a stranger).
func (g *Group) Signal(pid int, sig syscall.Signal) error {
	if !g.Owns(pid) {
		return fmt.Errorf("pid %d is not a process this action started", pid)
	}
	return syscall.Kill(pid, sig)
}

// SignalAll sends sig to every live process of the group, oldest first,
// and returns how many it signalled. Oldest first means a parent gets
// the signal before its children: a shell killed by SIGTERM then dies
// before it could see its foreground child die of the same signal and
// print "Terminated" as if the child alone had been stopped.
func (g *Group) SignalAll(sig syscall.Signal) int {
	pids := oldestFirst(g.Pids())
	for _, p := range pids {
		_ = syscall.Kill(p, sig)
	}
	return len(pids)
}

// oldestFirst orders pids by start time, then pid (a parent never starts
// after its child).
func oldestFirst(pids []int) []int {
	start := make(map[int]uint64, len(pids))
	for _, p := range pids {
		if st, ok := readStat(p); ok {
			start[p] = st.start
		}
	}
	slices.SortFunc(pids, func(a, b int) int {
		if c := cmp.Compare(start[a], start[b]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return pids
}

// Terminate stops every process of the group: SIGTERM, up to grace for
// them to exit, then SIGKILL (cgroup.kill when there is a cgroup) until
// none is left or another grace has passed. It returns the pids that were
// still alive when SIGKILL was needed and any that survived even that.
func (g *Group) Terminate(grace time.Duration) (killed, survivors []int) {
	if g.SignalAll(syscall.SIGTERM) > 0 && !g.waitEmpty(grace) {
		killed = g.Pids()
		g.kill()
		if !g.waitEmpty(grace + time.Second) {
			survivors = g.Pids()
		}
	}
	return killed, survivors
}

// Kill sends SIGKILL to every process of the group at once.
func (g *Group) kill() {
	if g.cgroup != "" {
		if err := os.WriteFile(filepath.Join(g.cgroup, "cgroup.kill"), []byte("1"), 0); err == nil {
			return
		}
	}
	g.SignalAll(syscall.SIGKILL)
}

func (g *Group) waitEmpty(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if len(g.Pids()) == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Release ends the group after the action finished normally: processes
// still running (services the action started) keep running, moved into
// Options.Keep when set, and the action cgroup is removed. It returns the
// pids it left running.
func (g *Group) Release() ([]int, error) {
	g.starting.Lock()
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.starting.Unlock()
	left := g.Pids()
	var err error
	if g.cgroup != "" && len(left) > 0 && g.opts.Keep != "" {
		err = g.moveTo(g.opts.Keep, left)
	}
	g.close()
	return left, err
}

// Close removes the action cgroup if it is empty; it is called after
// Terminate.
func (g *Group) Close() {
	g.starting.Lock()
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.starting.Unlock()
	g.close()
}

func (g *Group) close() {
	if g.cgfd >= 0 {
		_ = syscall.Close(g.cgfd)
		g.cgfd = -1
	}
	if g.cgroup != "" {
		_ = os.Remove(g.cgroup) // fails while processes remain: then it stays
	}
}

func (g *Group) moveTo(dir string, pids []int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create cgroup %s: %w", dir, err)
	}
	var errs []error
	for _, p := range pids {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(p)), 0); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("move pid %d to %s: %w", p, dir, err))
		}
	}
	return errors.Join(errs...)
}

func readPids(path string) ([]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if n, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil {
			out = append(out, n)
		}
	}
	return out, sc.Err()
}

// alive drops zombies: an exited child stays listed until reaped.
func alive(pids []int) []int {
	out := pids[:0]
	for _, p := range pids {
		if st, ok := readStat(p); ok && st.state != 'Z' {
			out = append(out, p)
		}
	}
	return out
}

type stat struct {
	ppid, pgid int
	state      byte
	start      uint64 // clock ticks after boot
}

func readStat(pid int) (stat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return stat{}, false
	}
	// The command name is in parentheses and may contain spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return stat{}, false
	}
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 20 {
		return stat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	pgid, _ := strconv.Atoi(f[2])
	start, _ := strconv.ParseUint(f[19], 10, 64)
	return stat{ppid: ppid, pgid: pgid, state: f[0][0], start: start}, true
}

func scanProc() map[int]stat {
	ents, _ := os.ReadDir("/proc")
	out := make(map[int]stat, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(pid); ok {
			out[pid] = st
		}
	}
	return out
}

// CgroupRoot returns the mount point of the cgroup v2 hierarchy, or "" if
// there is none.
func CgroupRoot() string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ... mountpoint ... - fstype source options
		line := sc.Text()
		parts := strings.SplitN(line, " - ", 2)
		if len(parts) != 2 || !strings.HasPrefix(parts[1], "cgroup2 ") {
			continue
		}
		if f := strings.Fields(parts[0]); len(f) >= 5 {
			return f[4]
		}
	}
	return ""
}

// EnvParent names the environment variable that moves the cgroup parent
// of actions and services from "<cgroup2 root>/ark" to a directory below
// the root: arkd sets it to "ark/<node>" for its plugins in a cluster, so
// that nodes sharing one kernel (tests, the demo) keep apart the process
// trees each of them may have to kill.
const EnvParent = "ARK_CGROUP_PARENT"

// DefaultParent returns "<cgroup2 root>/ark" (or the directory $EnvParent
// names below the root) when it exists or can be created and used for
// new cgroups (normally: running as root), else "".
func DefaultParent() string {
	root := CgroupRoot()
	if root == "" {
		return ""
	}
	rel := "ark"
	if v := os.Getenv(EnvParent); v != "" && filepath.IsLocal(v) {
		rel = v
	}
	dir := filepath.Join(root, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return ""
	}
	if _, err := os.Stat(filepath.Join(dir, "cgroup.kill")); err != nil {
		return "" // kernel < 5.14: no cgroup.kill
	}
	// It may exist already (made by root) without being ours to use.
	if err := syscall.Access(dir, 0x2|0x1); err != nil { // W_OK|X_OK
		return ""
	}
	return dir
}

// SafeName turns a resource tag into a cgroup directory name: characters
// outside [A-Za-z0-9_.-] become '_', and "", "." and ".." get a '_' prefix.
func SafeName(tag string) string {
	b := []byte(tag)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			b[i] = '_'
		}
	}
	n := string(b)
	if n == "" || n == "." || n == ".." {
		n = "_" + n
	}
	return n
}

// CgroupOf returns the cgroup v2 path of pid relative to the cgroup root
// ("/ark/web/service"), or "" if unknown.
func CgroupOf(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			return rest
		}
	}
	return ""
}

// KillTree kills every process in the cgroup dir and in the cgroups
// below it (cgroup.kill), waits up to wait for them to be gone, and
// reports whether the tree is empty. A missing dir is an empty tree.
func KillTree(dir string, wait time.Duration) (bool, error) {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0); err != nil {
		return false, fmt.Errorf("kill cgroup %s: %w", dir, err)
	}
	deadline := time.Now().Add(wait)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
		if err != nil || strings.Contains(string(b), "populated 0") {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}
