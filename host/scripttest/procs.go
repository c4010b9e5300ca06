package scripttest

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/ark-ha/ark/interpreters/proc"
)

// process is one process seen in /proc. Start (clock ticks since boot)
// tells a reused pid from the original.
type process struct {
	PID     int    `json:"pid"`
	PPID    int    `json:"-"`
	Start   uint64 `json:"-"`
	Cmdline string `json:"cmdline"`
	zombie  bool
}

func (p process) key() procKey { return procKey{p.PID, p.Start} }

func (p process) String() string { return fmt.Sprintf("%d (%s)", p.PID, p.Cmdline) }

type procKey struct {
	pid   int
	start uint64
}

type snapshot map[procKey]process

func takeSnapshot() snapshot {
	ents, _ := os.ReadDir("/proc")
	s := make(snapshot, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProcess(pid); ok {
			s[p.key()] = p
		}
	}
	return s
}

func readProcess(pid int) (process, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return process{}, false
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return process{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return process{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	start, _ := strconv.ParseUint(f[19], 10, 64)
	cmd, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	line := strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))
	if line == "" {
		j := strings.IndexByte(string(b), '(')
		line = "[" + string(b[j+1:i]) + "]"
	}
	return process{PID: pid, PPID: ppid, Start: start, Cmdline: line, zombie: f[0] == "Z"}, true
}

// alive reports whether p still runs (same pid and start time).
func (p process) alive() bool {
	q, ok := readProcess(p.PID)
	return ok && q.Start == p.Start && !q.zombie
}

// newProcs returns the live processes of after that are not in before and
// belong to the resource under test. With cgroups (cgroupMark, e.g.
// "/ark/web/") that is exactly the processes in the resource's cgroup
// subtree, wherever they were reparented. Without, it is the descendants
// of the plugin process and processes whose nearest ancestor from before
// is init (daemons that detached) — a heuristic that another program
// starting daemons at the same moment can fool.
func newProcs(before, after snapshot, plugin int, exclude map[int]bool, cgroupMark string) []process {
	byPID := make(map[int]process, len(after))
	for _, p := range after {
		byPID[p.PID] = p
	}
	var out []process
	for k, p := range after {
		if _, old := before[k]; old || p.zombie || exclude[p.PID] || p.PID == plugin {
			continue
		}
		var mine bool
		if cgroupMark != "" {
			mine = strings.Contains(proc.CgroupOf(p.PID)+"/", cgroupMark)
		} else {
			mine = related(p, before, byPID, plugin)
		}
		if mine {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out
}

func related(p process, before snapshot, byPID map[int]process, plugin int) bool {
	for hops := 0; hops < 64; hops++ {
		if p.PPID == plugin {
			return true
		}
		if p.PPID <= 1 {
			return true // detached daemon: reparented to init
		}
		parent, ok := byPID[p.PPID]
		if !ok {
			return false
		}
		if _, old := before[parent.key()]; old {
			return false // child of a program that ran before the step
		}
		p = parent
	}
	return false
}

// stillAlive returns the processes of ps that still run.
func stillAlive(ps []process) []process {
	var out []process
	for _, p := range ps {
		if p.alive() {
			out = append(out, p)
		}
	}
	return out
}

func killAll(ps []process) {
	for _, p := range ps {
		if p.alive() {
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
		}
	}
}

func describe(ps []process) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, ", ")
}
