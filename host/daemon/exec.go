package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ark-ha/ark/host/events"
	"github.com/ark-ha/ark/host/model"
	"github.com/ark-ha/ark/host/monitor"
	"github.com/ark-ha/ark/plugins"
	"github.com/ark-ha/ark/sdk/ark"
)

// outputTail is how many of an action's last lines its event keeps.
const outputTail = 20

// hostMargin is how long after an action's own timeout the host gives
// up on the plugin call: the kit enforces the timeout (it knows how to
// stop what it started); the host's deadline is the last resort against
// a plugin that does not.
const hostMargin = 30 * time.Second

// why an action runs: ARK_EVENT for restore and recover, ARK_FACTOR for
// remove (which also sees the event of the restore that started it).
type why struct {
	event, factor string
}

// actionResult is an action's result, or the error that kept it from
// running, with its output tail.
type actionResult struct {
	ark.Result
	Err    error
	Output []string
}

func (r actionResult) ok() bool { return r.Err == nil && r.Status == 0 }

func (r actionResult) summary() string {
	switch {
	case r.Err != nil:
		return r.Err.Error()
	case r.TimedOut:
		return fmt.Sprintf("timed out after %s (status %d)", r.Duration.Round(time.Millisecond), r.Status)
	case r.Message != "":
		return fmt.Sprintf("status %d: %s", r.Status, r.Message)
	}
	return fmt.Sprintf("status %d", r.Status)
}

// pidFile is the file a restore may write the pid of the service it
// started into ($ARK_PIDFILE), for the pid watch.
func (d *Daemon) pidFile(tag string) string {
	return filepath.Join(d.pidDir, tag+".pid")
}

// act runs action a on resource r through its kit and records the result
// as an event. The caller holds r's lock.
func (d *Daemon) act(ctx context.Context, r *model.Resource, a ark.Action, w why) actionResult {
	log := d.log.With("resource", r.Tag, "action", string(a))
	d.mu.Lock()
	d.busy[r.Tag] = string(a)
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.busy, r.Tag)
		d.mu.Unlock()
	}()

	res := d.call(ctx, r, a, w, log)
	if a == ark.QuickCheck && res.Err != nil && errors.Is(res.Err, plugins.ErrExited) {
		// The checker crashed, not necessarily the service: ask again,
		// on a fresh plugin, before counting a failure.
		log.Warn("the kit's plugin died during quickCheck; checking again on a fresh one", "err", res.Err)
		d.event(events.Event{Kind: events.KindWarning, Level: "warn", Tag: r.Tag, Action: string(a),
			Message: "the plugin died during quickCheck (not counted as a failure); checking again: " + res.Err.Error()})
		res = d.call(ctx, r, a, w, log)
	}
	if a == ark.QuickCheck && res.Err == nil && res.TimedOut {
		if r.QuickCheckTimeoutIsFailure {
			if res.Status == 0 {
				res.Status = 124
			}
		} else if res.Status != 0 {
			res.Warnings = append(res.Warnings, "quickCheck timed out: counted as success")
			res.Status = 0
		}
	}

	lvl, level := slog.LevelInfo, "info"
	if !res.ok() {
		lvl, level = slog.LevelError, "error"
	}
	if a == ark.QuickCheck && res.ok() && len(res.Warnings) == 0 {
		// A healthy check is not news: keep the history for changes.
		log.Debug("quickCheck ok", "duration", res.Duration)
		return res
	}
	log.Log(ctx, lvl, "action finished", "ok", res.ok(), "status", res.Status, "duration", res.Duration,
		"timed_out", res.TimedOut, "summary", res.summary())
	st := res.Status
	d.event(events.Event{Kind: events.KindAction, Level: level, Tag: r.Tag, Action: string(a), Status: &st,
		Duration: res.Duration, TimedOut: res.TimedOut, Output: res.Output,
		Message: fmt.Sprintf("%s %s: %s", a, r.Tag, res.summary())})
	for _, warn := range res.Warnings {
		d.event(events.Event{Kind: events.KindWarning, Level: "warn", Tag: r.Tag, Action: string(a), Message: warn})
	}
	return res
}

// call makes one plugin call.
func (d *Daemon) call(ctx context.Context, r *model.Resource, a ark.Action, w why, log *slog.Logger) actionResult {
	start := d.clock()
	rt, ok := d.kits.Type(r.Type)
	info, _ := d.kits.Schema(r.Type)
	if !ok {
		return actionResult{Err: fmt.Errorf("%s %s: kit %q is not enabled on node %s", a, r.Tag, r.Type, d.node.Name)}
	}
	var tail lineTail
	req := &ark.Request{
		Tag:     r.Tag,
		ID:      r.ResourceID(),
		Params:  info.WithDefaults(r.Params),
		Env:     d.environ(r, a, w),
		Timeout: r.Timeout(a, info),
		Host:    d,
		Log: func(l ark.LogLine) {
			msg := l.Message
			if l.Code != "" {
				msg = l.Code + ": " + msg
			}
			log.Log(context.Background(), l.Level, msg, "source", "script")
			tail.add(msg)
		},
	}
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Timeout+hostMargin)
		defer cancel()
	}
	if a == ark.Restore {
		_ = os.Remove(d.pidFile(r.Tag)) // a stale pid from an earlier run is not this one's
	}
	res, err := ark.Run(ctx, rt, a, req)
	if res.Duration == 0 {
		res.Duration = d.clock().Sub(start)
	}
	if err != nil {
		err = fmt.Errorf("%s %s on node %s: %w", a, r.Tag, d.node.Name, err)
	}
	return actionResult{Result: res, Err: err, Output: tail.lines()}
}

// environ builds the environment of DESIGN §4 for an action on r.
func (d *Daemon) environ(r *model.Resource, a ark.Action, w why) map[string]string {
	d.mu.Lock()
	group := d.graph.GroupName(r.Tag)
	disk := ark.DiskSuccess
	for _, t := range d.graph.Storage(r.Tag) {
		if d.status[t].State != model.ISP && t != r.Tag {
			disk = ark.DiskFailure
		}
	}
	d.mu.Unlock()
	server, prio := ark.ServerHome, 1
	if p, ok := r.Priorities[d.node.Name]; ok {
		prio = p
		if p != 1 {
			server = ark.ServerOther
		}
	}
	env := ark.EnvSpec{
		Tag: r.Tag, ID: r.ResourceID(), Action: a, ResourceType: r.Type,
		Node: d.node.Name, Cluster: d.node.Cluster,
		Event: w.event, Factor: w.factor, Server: server, Priority: prio,
		Group: group, Disk: disk,
	}.Environ()
	env["ARK_PIDFILE"] = d.pidFile(r.Tag)
	return env
}

// lineTail keeps the last outputTail lines.
type lineTail struct {
	mu sync.Mutex
	l  []string
}

func (t *lineTail) add(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.l = append(t.l, s)
	if len(t.l) > outputTail {
		t.l = t.l[len(t.l)-outputTail:]
	}
}

func (t *lineTail) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.l...)
}

// watchPid starts watching the resource's main process, if it names one
// (pidfile) or its restore registered one ($ARK_PIDFILE): its death is
// a failure at once. Called after r came into service.
func (d *Daemon) watchPid(r *model.Resource) {
	d.unwatchPid(r.Tag)
	path := r.PidFile
	if path == "" {
		path = d.pidFile(r.Tag)
		if _, err := os.Stat(path); err != nil {
			return
		}
	}
	pid, err := monitor.ReadPidFile(path)
	if err == nil {
		var w *monitor.ProcessWatch
		if w, err = monitor.Watch(context.Background(), pid); err == nil {
			pw := &pidWatch{w: w, stop: make(chan struct{})}
			d.mu.Lock()
			d.watches[r.Tag] = pw
			d.mu.Unlock()
			d.update(r.Tag, "", func(st *model.Status) { st.Pid = pid })
			d.log.Info("watching the service's process", "resource", r.Tag, "pid", pid, "pidfile", path)
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				select {
				case <-w.Done():
					d.failed(r.Tag, fmt.Sprintf("process %d (from %s) died", pid, path))
				case <-pw.stop:
				case <-d.done:
				}
			}()
			return
		}
	}
	d.log.Warn("cannot watch the service's process", "resource", r.Tag, "pidfile", path, "err", err)
	d.event(events.Event{Kind: events.KindWarning, Level: "warn", Tag: r.Tag,
		Message: "pid watch not started: " + err.Error()})
}

// unwatchPid stops the pid watch of tag, before a remove or recover
// stops the process on purpose.
func (d *Daemon) unwatchPid(tag string) {
	d.mu.Lock()
	w := d.watches[tag]
	delete(d.watches, tag)
	d.mu.Unlock()
	if w != nil {
		close(w.stop)
		w.w.Stop()
		d.update(tag, "", func(st *model.Status) { st.Pid = 0 })
	}
}

// pidWatch is a running pid watch; stop ends its goroutine when the
// watch is dropped on purpose.
type pidWatch struct {
	w    *monitor.ProcessWatch
	stop chan struct{}
}
