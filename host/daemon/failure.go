package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/ark-ha/ark/host/events"
	"github.com/ark-ha/ark/host/model"
	"github.com/ark-ha/ark/host/scheduler"
	"github.com/ark-ha/ark/sdk/ark"
)

// quickCheck is the monitor's check of one resource: it runs only on an
// ISP resource and never beside another action on it (a busy resource
// skips this slot).
func (d *Daemon) quickCheck(ctx context.Context, tag string, _ time.Time) {
	unlock, ok := d.locks.tryLock(tag)
	if !ok {
		return
	}
	r, st := d.get(tag)
	if r == nil || st.State != model.ISP {
		unlock()
		return
	}
	if info, ok := d.kits.Schema(r.Type); ok && !info.Supports(ark.QuickCheck) {
		unlock()
		return
	}
	res := d.act(ctx, r, ark.QuickCheck, why{event: st.Event})
	unlock()
	if ctx.Err() != nil {
		return // the daemon is stopping: a cut-short check says nothing
	}
	if !res.ok() {
		d.failed(tag, "quickCheck failed: "+res.summary())
	}
}

// failed handles a failure of tag seen by quickCheck or the pid watch
// (DESIGN §5): recover in place while the scheduler allows, else take
// the failover group out of service here and mark tag OSF.
func (d *Daemon) failed(tag, cause string) {
	if d.cl != nil {
		d.event(events.Event{Kind: events.KindError, Level: "error", Tag: tag, Message: "failure: " + cause + " (reported to the leader)"})
		d.clusterFailed(tag, cause)
		return
	}
	ctx := context.Background()
	d.ops.RLock()
	defer d.ops.RUnlock()
	d.mu.Lock()
	group := d.graph.Group(tag)
	d.mu.Unlock()
	unlock, err := d.locks.lock(ctx, group)
	if err != nil {
		return
	}
	defer unlock()
	r, st := d.get(tag)
	if r == nil || st.State != model.ISP {
		return // stopped or already handled while we waited for the lock
	}
	d.log.Error("resource failed", "resource", tag, "cause", cause)
	d.event(events.Event{Kind: events.KindError, Level: "error", Tag: tag, Message: "failure: " + cause})

	info, _ := d.kits.Schema(r.Type)
	dec, err := scheduler.Failure(d.snapshot(), tag, info.Supports(ark.Recover))
	if err != nil {
		return
	}
	d.log.Info("failure decision", "resource", tag, "verdict", dec.Verdict.String(), "why", dec.Why)
	if dec.Verdict == scheduler.Recover {
		dec.Status.State, dec.Status.Reason = model.ISU, "recovering: "+cause
		d.setStatus(cause, map[string]model.Status{tag: dec.Status})
		d.unwatchPid(tag)
		res := d.act(ctx, r, ark.Recover, why{event: ark.EventRecover})
		if res.ok() {
			d.update(tag, "recovered ("+dec.Why+")", func(st *model.Status) {
				st.State, st.Reason = model.ISP, ""
			})
			d.watchPid(r)
			return
		}
		cause = "recover failed: " + res.summary()
		dec.Why = cause
		dec.Plan = scheduler.GroupDown(d.snapshot(), tag, ark.FactorGroupFailover)
	} else {
		d.setStatus(cause, map[string]model.Status{tag: dec.Status})
	}
	d.event(events.Event{Kind: events.KindError, Level: "error", Tag: tag,
		Message: fmt.Sprintf("giving up on %s on node %s (%s): removing its group", tag, d.node.Name, dec.Why)})
	d.run(ctx, dec.Plan, true)
	if _, st := d.get(tag); st.State != model.Unknown {
		d.setState(tag, model.OSF, dec.Why)
	}
}
