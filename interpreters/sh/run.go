package sh

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"

	"mvdan.cc/sh/v3/interp"

	"github.com/ark-ha/ark/interpreters"
)

// run is the state of one Run of the in-process engine, shared by the
// handlers of the main shell and of all its subshells and jobs.
type run struct {
	inv   *interpreters.Invocation
	path  string
	funcs map[string]bool // functions the script defines
	self  int             // what $$ expands to: the daemon's pid
	// stopMain ends the main shell (kill -SIG $$ without a trap).
	stopMain context.CancelCauseFunc

	mu      sync.Mutex
	jobs    []*job                    // job id i+1 at index i
	pids    map[int]int               // every pid started → its job id (0: none)
	traps   map[syscall.Signal]string // the main shell's signal traps; "" ignores
	pending []syscall.Signal          // trapped signals waiting to be handled
	sigc    chan struct{}             // poked when a signal becomes pending
}

func newRun(inv *interpreters.Invocation, path string, funcs map[string]bool) *run {
	return &run{
		inv: inv, path: path, funcs: funcs, self: os.Getpid(),
		pids:  map[int]int{},
		traps: map[syscall.Signal]string{},
		sigc:  make(chan struct{}, 1),
	}
}

// job is a background job ("X &").
type job struct {
	id, parent int           // parent: the job that started it, 0 for none
	started    chan struct{} // closed at its first process, or its end
	done       chan struct{} // closed at its end
	pids       []int         // processes it started, first first
	status     int
	isStarted  bool
	isDone     bool
}

// newJob registers a job started by a shell that is itself in job parent.
func (st *run) newJob(parent int) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	j := &job{id: len(st.jobs) + 1, parent: parent, started: make(chan struct{}), done: make(chan struct{})}
	st.jobs = append(st.jobs, j)
	return j.id
}

func (st *run) job(id int) *job {
	st.mu.Lock()
	defer st.mu.Unlock()
	if id < 1 || id > len(st.jobs) {
		return nil
	}
	return st.jobs[id-1]
}

// started records a process started by the script, in job id (0: none).
func (st *run) started(id, pid int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.pids[pid] = id
	if id < 1 || id > len(st.jobs) {
		return
	}
	j := st.jobs[id-1]
	j.pids = append(j.pids, pid)
	if !j.isStarted {
		j.isStarted = true
		close(j.started)
	}
}

// ended records the end of job id with status.
func (st *run) ended(id, status int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if id < 1 || id > len(st.jobs) {
		return
	}
	j := st.jobs[id-1]
	if j.isDone {
		return
	}
	j.status, j.isDone = status, true
	close(j.done)
	if !j.isStarted {
		j.isStarted = true
		close(j.started)
	}
}

// bangValue is what $! expands to for job j once it has started: the pid
// of its first process, or the job spec when it ended without one.
func (st *run) bangValue(j *job) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(j.pids) > 0 {
		return strconv.Itoa(j.pids[0])
	}
	return "%" + strconv.Itoa(j.id)
}

// jobByPid finds the job a pid was started in.
func (st *run) jobByPid(pid int) *job {
	st.mu.Lock()
	defer st.mu.Unlock()
	if id, ok := st.pids[pid]; ok && id > 0 {
		return st.jobs[id-1]
	}
	return nil
}

// children lists the unfinished jobs started by a shell in job parent.
func (st *run) children(parent int) []*job {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []*job
	for _, j := range st.jobs {
		if j.parent == parent && !j.isDone {
			out = append(out, j)
		}
	}
	return out
}

// jobPids returns the pids job j started.
func (st *run) jobPids(j *job) []int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return slices.Clone(j.pids)
}

// setTrap sets (code, ok=true), ignores (code "") or resets (ok=false)
// the main shell's trap for sig.
func (st *run) setTrap(sig syscall.Signal, code string, set bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if set {
		st.traps[sig] = code
	} else {
		delete(st.traps, sig)
	}
}

// trap returns the main shell's trap for sig.
func (st *run) trap(sig syscall.Signal) (code string, ok bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	code, ok = st.traps[sig]
	return code, ok
}

// trapList returns the main shell's signal traps, by signal number.
func (st *run) trapList() []syscall.Signal {
	st.mu.Lock()
	defer st.mu.Unlock()
	sigs := make([]syscall.Signal, 0, len(st.traps))
	for s := range st.traps {
		sigs = append(sigs, s)
	}
	slices.Sort(sigs)
	return sigs
}

// raise makes a trapped signal pending for the main shell.
func (st *run) raise(sig syscall.Signal) {
	st.mu.Lock()
	st.pending = append(st.pending, sig)
	st.mu.Unlock()
	select {
	case st.sigc <- struct{}{}:
	default:
	}
}

// nextTrap pops a pending signal and returns the code of its trap (which
// may have been changed or removed since the signal came).
func (st *run) nextTrap() (code string, sig syscall.Signal, ok bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for len(st.pending) > 0 {
		sig = st.pending[0]
		st.pending = st.pending[1:]
		if code := st.traps[sig]; code != "" {
			return code, sig, true
		}
	}
	return "", 0, false
}

// isMain reports whether a handler runs in the main shell (not in a
// subshell, a substitution, a pipeline's left side or a job).
func isMain(hc interp.HandlerContext) bool {
	return hc.Env.Get(varSub).String() == ""
}

// jobOf returns the id of the background job a handler runs in, 0 if
// none.
func jobOf(hc interp.HandlerContext) int {
	id, _ := strconv.Atoi(hc.Env.Get(varJob).String())
	return id
}

// errorf returns a script error positioned at the command being run.
func (st *run) errorf(hc interp.HandlerContext, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	if hc.Pos.IsValid() {
		return fmt.Errorf("%s:%d:%d: %w", st.path, hc.Pos.Line(), hc.Pos.Col(), err)
	}
	return fmt.Errorf("%s: %w", st.path, err)
}
