package daemon

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"

	"github.com/ark-ha/ark/host/api"
	"github.com/ark-ha/ark/host/model"
	"github.com/ark-ha/ark/host/scheduler"
	"github.com/ark-ha/ark/sdk/ark"
)

// Start brings tag and everything it depends on into service, children
// first, independent branches in parallel (arkctl start). Without force
// a failure stops the start and rolls back what it brought up; with
// force the other branches go on and what came up stays up. An admin's
// start also clears the failure counters and OSF marks of the resources
// it starts (CAA's caa_start resets them).
func (d *Daemon) Start(ctx context.Context, tag string, force bool) (api.Outcome, error) {
	if d.cl != nil {
		return d.startOn(ctx, tag, "", force)
	}
	d.ops.RLock()
	defer d.ops.RUnlock()
	d.mu.Lock()
	tags := d.graph.Below(tag)
	d.mu.Unlock()
	unlock, err := d.locks.lock(ctx, tags)
	if err != nil {
		return api.Outcome{}, err
	}
	defer unlock()
	plan, err := scheduler.Start(d.snapshot(), tag)
	if err != nil {
		return api.Outcome{}, err
	}
	d.setTargets(plan.Targets, func(st *model.Status) {
		st.Restarts, st.Failures = 0, 0
		st.WindowStart = d.clock()
		if st.State == model.OSF {
			st.State = model.OSU
		}
	})
	out := d.run(ctx, plan, force)
	if !out.OK && !force {
		var up []string
		for _, s := range out.Steps {
			if s.OK {
				up = append(up, s.Tag)
			}
		}
		if len(up) > 0 {
			out.Notes = append(out.Notes, fmt.Sprintf("start of %s failed: removing what it brought up (%v)", tag, up))
			back := d.run(ctx, scheduler.Down(d.snapshot(), up, ark.FactorGroupStop), true)
			out.Steps = append(out.Steps, back.Steps...)
		}
	}
	return out, nil
}

// Stop takes tag and everything that depends on it out of service,
// parents first (arkctl stop). Without force the first failure stops it
// (a child is never removed under a parent that is still running); with
// force it pushes through, and an UNKNOWN resource is removed again.
func (d *Daemon) Stop(ctx context.Context, tag string, force bool) (api.Outcome, error) {
	if d.cl != nil {
		return d.clusterStop(ctx, tag, force)
	}
	d.ops.RLock()
	defer d.ops.RUnlock()
	d.mu.Lock()
	tags := d.graph.Above(tag)
	d.mu.Unlock()
	unlock, err := d.locks.lock(ctx, tags)
	if err != nil {
		return api.Outcome{}, err
	}
	defer unlock()
	plan, err := scheduler.Stop(d.snapshot(), tag, force)
	if err != nil {
		return api.Outcome{}, err
	}
	d.setTargets(plan.Targets, nil)
	return d.run(ctx, plan, force), nil
}

// setTargets records targets, with an optional extra change to each
// resource's status.
func (d *Daemon) setTargets(targets map[string]model.Target, fn func(*model.Status)) {
	d.mu.Lock()
	changes := map[string]model.Status{}
	for tag, tg := range targets {
		st := d.status[tag]
		st.Target = tg
		if fn != nil {
			fn(&st)
		}
		changes[tag] = st
	}
	d.mu.Unlock()
	d.setStatus("admin request", changes)
}

// run executes a plan's steps: each when the steps it waits for have
// succeeded, independent ones in parallel. A step whose predecessor
// failed is skipped; after a failure no new step starts unless
// pushThrough is set, in which case only the dependents of the failure
// are skipped — except removes, which go on anyway (stop -f). The
// caller holds the locks of every resource in the plan.
func (d *Daemon) run(ctx context.Context, plan scheduler.Plan, pushThrough bool) api.Outcome {
	out := api.Outcome{OK: true, Notes: plan.Notes, Steps: make([]api.Step, len(plan.Steps))}
	index := map[int]int{}
	for i, s := range plan.Steps {
		index[s.ID] = i
	}
	var (
		mu        sync.Mutex
		cond      = sync.NewCond(&mu)
		state     = make([]stepState, len(plan.Steps))
		anyFailed bool
		wg        sync.WaitGroup
	)
	for {
		mu.Lock()
		progress, pending := false, false
		for i, s := range plan.Steps {
			if state[i] != waiting {
				continue
			}
			pending = true
			decided, blocked := true, false
			for _, a := range s.After {
				switch state[index[a]] {
				case waiting, running:
					decided = false
				case failed:
					blocked = true
				}
			}
			if !decided {
				continue
			}
			progress = true
			if blocked && !(pushThrough && s.Action == ark.Remove) || anyFailed && !pushThrough {
				state[i] = failed
				out.Steps[i] = api.Step{Tag: s.Tag, Action: string(s.Action), Skipped: true,
					Message: "skipped: an earlier step failed"}
				continue
			}
			state[i] = running
			wg.Add(1)
			go func(i int, s scheduler.Step) {
				defer wg.Done()
				res := d.exec(ctx, s)
				mu.Lock()
				out.Steps[i] = res
				state[i] = done
				if !res.OK {
					state[i] = failed
					anyFailed = true
				}
				cond.Broadcast()
				mu.Unlock()
			}(i, s)
		}
		if !pending {
			mu.Unlock()
			break
		}
		if !progress {
			cond.Wait()
		}
		mu.Unlock()
	}
	wg.Wait()
	for _, s := range out.Steps {
		if !s.OK {
			out.OK = false
		}
	}
	return out
}

// stepState is where a plan's step is in run.
type stepState int

const (
	waiting stepState = iota
	running
	done
	failed // or skipped: either way its dependents cannot rely on it
)

// step runs one step and records the resource's new state.
func (d *Daemon) step(ctx context.Context, s scheduler.Step) api.Step {
	r, st := d.get(s.Tag)
	if r == nil {
		return api.Step{Tag: s.Tag, Action: string(s.Action), Message: "not defined"}
	}
	w := why{event: s.Event, factor: s.Factor}
	if d.cl != nil && s.Action == ark.Remove && st.Node != d.node.Name && (st.State.InService() || st.State == model.Unknown) {
		// A cleanup on a node the resource left (cluster return): it
		// says nothing about the state, which belongs to st.Node.
		res := d.act(ctx, r, s.Action, w)
		return api.Step{Tag: s.Tag, Action: string(s.Action), Status: res.Status, OK: res.ok(),
			TimedOut: res.TimedOut, Duration: res.Duration, Message: res.summary()}
	}
	switch s.Action {
	case ark.Remove:
		if w.event == "" { // a remove sees the event of the restore that started it
			w.event = st.Event
		}
		d.unwatchPid(s.Tag)
		if st.State.InService() {
			d.setState(s.Tag, model.ISU, "being removed ("+s.Factor+")")
		}
	case ark.Recover:
		d.unwatchPid(s.Tag)
		d.setState(s.Tag, model.ISU, "recovering")
	}
	res := d.act(ctx, r, s.Action, w)
	switch {
	case s.Action == ark.Recover && res.ok():
		d.update(s.Tag, "recovered", func(st *model.Status) { st.State, st.Reason = model.ISP, "" })
		d.watchPid(r)
	case s.Action == ark.Recover:
		// Still ISU: the leader gives the group up (a remove follows).
	case s.Action == ark.Remove && !res.ok() && d.cl != nil && d.cl.cfg.FenceOnRemoveFailure:
		d.fenceAfterFailedRemove(s.Tag, res.summary())
	case s.Action == ark.Restore && res.ok():
		d.update(s.Tag, "restored ("+s.Event+")", func(st *model.Status) {
			st.State, st.Reason, st.Event = model.ISP, "", s.Event
		})
		d.watchPid(r)
	case s.Action == ark.Restore:
		d.setState(s.Tag, model.OSF, "restore failed: "+res.summary())
	case res.ok():
		d.update(s.Tag, "removed ("+s.Factor+")", func(st *model.Status) {
			st.State, st.Reason, st.Event = model.OSU, "", ""
		})
		_ = os.Remove(d.pidFile(s.Tag))
	default:
		d.setState(s.Tag, model.Unknown, "remove failed: "+res.summary())
	}
	return api.Step{Tag: s.Tag, Action: string(s.Action), Status: res.Status, OK: res.ok(),
		TimedOut: res.TimedOut, Duration: res.Duration, Message: res.summary()}
}

// Status lists every resource (or only tag) for arkctl status.
func (d *Daemon) Status(tag string) ([]api.Resource, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	tags := d.graph.Tags()
	if tag != "" {
		if d.graph.Resource(tag) == nil {
			return nil, &scheduler.Error{Tag: tag, Msg: "not defined"}
		}
		tags = []string{tag}
	}
	out := make([]api.Resource, 0, len(tags))
	for _, t := range tags {
		r, st := d.graph.Resource(t), d.status[t]
		node := st.Node
		if node == "" && d.cl == nil {
			node = d.node.Name
		}
		state := st.State
		if state == "" {
			state = model.OSU
		}
		target := st.Target
		if target == "" {
			target = model.Offline
		}
		out = append(out, api.Resource{
			Tag: t, Type: r.Type, ID: r.ResourceID(), Target: string(target), State: string(state),
			Node: node, Group: d.graph.GroupName(t), DependsOn: slices.Clone(r.DependsOn),
			Restarts: st.Restarts, Failures: st.Failures, Since: st.Since, Pid: st.Pid, Reason: st.Reason,
			Busy: d.busy[t],
		})
	}
	return out, nil
}

// InsList renders tag as LifeKeeper's ins_list does, fields separated
// by ^A: application (the group), type, tag, id, switchback, node,
// state (field 7, what old scripts cut out), target, reason.
func (d *Daemon) InsList(tag string) (string, error) {
	rs, err := d.Status(tag)
	if err != nil {
		return "", err
	}
	r := rs[0]
	f := []string{r.Group, r.Type, r.Tag, r.ID, "intelligent", r.Node, r.State, r.Target, r.Reason}
	line := ""
	for i, x := range f {
		if i > 0 {
			line += "\x01"
		}
		line += x
	}
	return line, nil
}
