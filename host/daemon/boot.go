package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/ark-ha/ark/host/api"
	"github.com/ark-ha/ark/host/events"
	"github.com/ark-ha/ark/host/model"
	"github.com/ark-ha/ark/host/scheduler"
	"github.com/ark-ha/ark/sdk/ark"
)

// Run starts the daemon and blocks until ctx ends or a shutdown request:
// it starts the kits, re-adopts what runs (boot), starts monitoring, and
// serves the control API on ln. On return, the plugins are stopped and
// the state is closed; services keep running when the shutdown asked to
// leave them (or ctx ended: a signal to arkd never takes services down,
// only `arkctl shutdown` without --leave-services does).
func (d *Daemon) Run(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	d.stop = cancel
	defer cancel()
	d.event(events.Event{Kind: events.KindDaemon, Message: fmt.Sprintf("arkd starting on node %s (pid %d)", d.node.Name, os.Getpid())})
	// The cluster machinery outlives ctx: a node taking its resources
	// down at shutdown keeps its lease, and reports, until it is done.
	cctx, ccancel := context.WithCancel(context.Background())
	defer ccancel()
	if d.cl != nil {
		if err := d.openCluster(cctx); err != nil {
			d.Close()
			return err
		}
	}
	if d.cl == nil || !d.cl.self.Witness() {
		d.startKits(ctx)
	}

	srv := &http.Server{Handler: d.handler(), ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	monCtx, monCancel := context.WithCancel(ctx)
	defer monCancel()
	monDone := make(chan struct{})
	go func() {
		defer close(monDone)
		d.mon.Run(monCtx)
	}()
	switch {
	case d.cl == nil:
		d.boot(ctx)
	default:
		if !d.waitLeader(ctx, 10*d.cl.cfg.RaftElection+5*time.Second) {
			d.log.Warn("no leader yet: this node starts nothing until there is one")
		}
		// Raft's retry backoff towards a node that was down tops out at
		// about 41 s: wait that long at most for the log.
		cuCtx, cuCancel := context.WithTimeout(ctx, 45*time.Second)
		d.catchUp(cuCtx)
		cuCancel()
		if !d.cl.self.Witness() {
			d.clusterBoot(ctx)
			d.wg.Add(1)
			go func() { defer d.wg.Done(); d.leaseLoop(cctx) }()
		}
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("control API stopped", "err", err)
		}
	}
	d.mu.Lock()
	leave := d.leave
	d.mu.Unlock()
	monCancel()
	<-monDone
	d.stopWatches()
	if d.cl != nil && leave {
		d.leaveForMaintenance()
	}
	if !leave && d.shutdownRequested() {
		d.takeDown()
	}
	ccancel()
	close(d.done)
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	_ = srv.Shutdown(sctx)
	d.wg.Wait()
	msg := "arkd stopped; services left running"
	if !leave && d.shutdownRequested() {
		msg = "arkd stopped after taking its resources out of service"
	}
	d.event(events.Event{Kind: events.KindDaemon, Message: msg})
	d.Close()
	return nil
}

// startKits enables the node file's kits and those enabled with arkctl.
func (d *Daemon) startKits(ctx context.Context) {
	want := map[string]model.Kit{}
	for k, kit := range d.store.Read().Kits {
		want[k] = kit
		d.kitSrc[k] = "arkctl"
	}
	for _, kit := range d.node.Kits {
		want[kit.Name] = kit
		d.kitSrc[kit.Name] = "node file"
	}
	var wg sync.WaitGroup
	for _, name := range slices.Sorted(maps.Keys(want)) {
		wg.Add(1)
		go func(k model.Kit) {
			defer wg.Done()
			if _, err := d.kits.Enable(ctx, k); err != nil {
				d.log.Error("kit not started", "kit", k.Name, "err", err)
				d.event(events.Event{Kind: events.KindKit, Level: "error", Message: fmt.Sprintf("kit %s not started: %v", k.Name, err)})
			}
		}(want[name])
	}
	wg.Wait()
}

// boot probes what was in service and adopts it or restores it
// (scheduler.Boot): a restarted daemon never starts a service twice.
func (d *Daemon) boot(ctx context.Context) {
	d.ops.RLock()
	defer d.ops.RUnlock()
	snap := d.snapshot()
	tags := snap.Graph.Tags()
	unlock, err := d.locks.lock(ctx, tags)
	if err != nil {
		return
	}
	defer unlock()
	probes := map[string]scheduler.Probe{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, t := range scheduler.Probes(snap) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := d.probe(ctx, t)
			mu.Lock()
			probes[t] = p
			mu.Unlock()
		}()
	}
	wg.Wait()
	plan := scheduler.Boot(snap, probes)
	for _, t := range plan.Adopt {
		r, _ := d.get(t)
		d.update(t, "adopted at daemon start: it is running", func(st *model.Status) {
			st.State, st.Reason = model.ISP, ""
		})
		d.watchPid(r)
	}
	for _, n := range plan.Notes {
		d.log.Info("boot", "note", n)
	}
	out := d.run(ctx, plan, true)
	d.event(events.Event{Kind: events.KindDaemon, Message: fmt.Sprintf("arkd started: %d adopted, %d restored, %d failed",
		len(plan.Adopt), countOK(out.Steps, true), countOK(out.Steps, false))})
	// Resources the daemon was monitoring before: pick up the monitor
	// again for those that stay ISP.
	for _, t := range tags {
		if r, st := d.get(t); r != nil && st.State == model.ISP {
			d.mon.Set(t, r.CheckInterval())
		}
	}
}

func countOK(steps []api.Step, ok bool) int {
	n := 0
	for _, s := range steps {
		if s.OK == ok && !s.Skipped {
			n++
		}
	}
	return n
}

// probe asks whether tag runs: quickCheck, asked again on a fresh plugin
// if the plugin died (act does that).
func (d *Daemon) probe(ctx context.Context, tag string) scheduler.Probe {
	r, st := d.get(tag)
	info, ok := d.kits.Schema(r.Type)
	if !ok {
		return scheduler.Unprobeable // no kit: trust the record, act on nothing
	}
	if !info.Supports(ark.QuickCheck) {
		return scheduler.Unprobeable
	}
	if res := d.act(ctx, r, ark.QuickCheck, why{event: st.Event}); res.ok() {
		return scheduler.Running
	}
	return scheduler.Stopped
}

func (d *Daemon) stopWatches() {
	d.mu.Lock()
	ws := d.watches
	d.watches = map[string]*pidWatch{}
	d.mu.Unlock()
	for _, w := range ws {
		close(w.stop)
		w.w.Stop()
	}
}

// Shutdown asks Run to return. With leaveServices the resources keep
// running and keep their state (the next start adopts them); without,
// every resource is removed first (ARK_FACTOR=SERVERSHUTDOWN) and the
// next start restores them.
func (d *Daemon) Shutdown(leaveServices bool) {
	d.mu.Lock()
	d.leave = leaveServices
	d.shutdown = true
	d.mu.Unlock()
	if d.stop != nil {
		d.stop()
	}
}

func (d *Daemon) shutdownRequested() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.shutdown
}

// takeDown removes every resource in service, parents first, marking
// them so that the next start restores them.
func (d *Daemon) takeDown() {
	ctx := context.Background()
	d.ops.Lock() // no definition change nor operation meanwhile
	defer d.ops.Unlock()
	snap := d.snapshot()
	unlock, _ := d.locks.lock(ctx, snap.Graph.Tags())
	defer unlock()
	var up []string
	for _, t := range snap.Graph.Tags() {
		if snap.Status[t].State.InService() {
			up = append(up, t)
		}
	}
	out := d.run(ctx, scheduler.Down(snap, up, ark.FactorServerShutdown), true)
	for _, s := range out.Steps {
		if s.OK {
			d.update(s.Tag, "", func(st *model.Status) { st.Reason = model.ReasonShutdown })
		}
	}
}
