package interpreters

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/ark-ha/ark/interpreters/proc"
	"github.com/ark-ha/ark/sdk/ark"
)

// DefaultGrace is the time between SIGTERM and SIGKILL at an action's
// deadline, and the time a script's TERM trap gets to run.
const DefaultGrace = 5 * time.Second

// StatusTimedOut is the exit status reported for an action stopped at its
// deadline (as timeout(1) does).
const StatusTimedOut = 124

// Options are the limits of one Execute.
type Options struct {
	// Timeout of the action; 0 means none.
	Timeout time.Duration
	// Grace between SIGTERM and SIGKILL at the deadline; 0 means
	// DefaultGrace.
	Grace time.Duration
	// Containment of the processes; an empty CgroupParent means process
	// groups only. If the cgroup cannot be made, Execute falls back to
	// process groups and logs a warning.
	Containment proc.Options
}

// Execute runs s with eng and enforces the action's limits. Every process
// the script starts is contained; at the deadline (or when ctx is
// cancelled) the script is stopped, its processes get SIGTERM and, after
// the grace period, SIGKILL. When the script ends by itself, processes it
// left running in the background (a restore's services) keep running.
//
// The script's standard output and error are logged line by line with
// codes CodeStdout and CodeStderr. inv.Log is not called after Execute
// returns. Execute blocks until the script ended or was abandoned (see
// Result.Stuck).
func Execute(ctx context.Context, eng Engine, s *Script, inv *Invocation, opts Options) Result {
	start := time.Now()
	grace := opts.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	inv.Grace = grace
	sink := newGate(inv.Log)
	inv.Log = sink.log
	defer sink.close()

	group, err := proc.New(opts.Containment)
	if err != nil {
		inv.Logf(slog.LevelWarn, "ark", "containment: %v; using process groups instead", err)
		group, _ = proc.New(proc.Options{})
	}
	inv.Procs = group
	res := Result{Containment: group.Contained()}

	outR, outW, err1 := os.Pipe()
	errR, errW, err2 := os.Pipe()
	if err := errors.Join(err1, err2); err != nil {
		group.Close()
		res.Status, res.Err, res.Duration = 1, fmt.Errorf("create output pipes: %w", err), time.Since(start)
		return res
	}
	inv.Stdout, inv.Stderr = outW, errW
	outDone := pipeLines(outR, inv.LineWriter(slog.LevelInfo, CodeStdout))
	errDone := pipeLines(errR, inv.LineWriter(slog.LevelInfo, CodeStderr))

	runCtx, cancel := ctx, context.CancelFunc(func() {})
	if opts.Timeout > 0 {
		runCtx, cancel = context.WithTimeout(ctx, opts.Timeout)
	}
	defer cancel()

	ended := make(chan Outcome, 1)
	go func() { ended <- eng.Run(runCtx, s, inv) }()

	var out Outcome
	stopped := false // the script was stopped rather than ending by itself
	select {
	case out = <-ended:
		stopped = runCtx.Err() != nil // Run may return nil after the deadline
	case <-runCtx.Done():
		stopped = true
		deadline := time.Now()
		group.SignalAll(syscall.SIGTERM)
		select {
		case out = <-ended:
		case <-time.After(grace):
			res.Stuck = true
		}
		rest := grace - time.Since(deadline)
		res.Killed, res.Survivors = group.Terminate(max(rest, 0))
		if res.Stuck {
			select {
			case out = <-ended:
				res.Stuck = false
			case <-time.After(time.Second):
			}
		}
	}
	if stopped {
		if !res.Stuck && len(res.Killed) == 0 {
			// The engine returned before the processes were stopped.
			res.Killed, res.Survivors = group.Terminate(grace)
		}
		group.Close()
		res.Status = StatusTimedOut
		if ctx.Err() != nil {
			res.Err = fmt.Errorf("cancelled after %s: %w", time.Since(start).Round(time.Millisecond), ctx.Err())
		} else {
			res.TimedOut = true
			res.Err = fmt.Errorf("timed out after %s (timeout %s)", time.Since(start).Round(time.Millisecond), opts.Timeout)
		}
	} else {
		res.Status, res.Err = out.Status, out.Err
		left, err := group.Release()
		res.Left = left
		if err != nil {
			inv.Logf(slog.LevelWarn, "ark", "keep services: %v", err)
		}
	}

	// Our copies of the write ends go; a daemon the script started may
	// keep its own, so wait for EOF only briefly. The readers go on
	// draining (and dropping) what such a daemon writes.
	outW.Close()
	errW.Close()
	// (A context, not time.After: the wait must end for both readers.)
	wait, stopWait := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer stopWait()
	for _, d := range []chan struct{}{outDone, errDone} {
		select {
		case <-d:
		case <-wait.Done():
		}
	}
	res.Duration = time.Since(start)
	return res
}

// gate forwards log lines until closed, and drops them afterwards: the
// caller's sink (an RPC stream) is gone once Execute has returned, while a
// daemon the script started may still write to its inherited output.
type gate struct {
	mu     sync.Mutex
	next   func(ark.LogLine)
	closed bool
}

func newGate(next func(ark.LogLine)) *gate { return &gate{next: next} }

func (g *gate) log(l ark.LogLine) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		g.next(l)
	}
}

func (g *gate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}
