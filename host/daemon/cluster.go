package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ark-ha/ark/host/api"
	"github.com/ark-ha/ark/host/config"
	"github.com/ark-ha/ark/host/events"
	"github.com/ark-ha/ark/host/lease"
	"github.com/ark-ha/ark/host/membership"
	"github.com/ark-ha/ark/host/model"
	"github.com/ark-ha/ark/host/replica"
	"github.com/ark-ha/ark/host/scheduler"
	"github.com/ark-ha/ark/host/store"
	"github.com/ark-ha/ark/interpreters/proc"
	"github.com/ark-ha/ark/sdk/ark"
)

// clusterState is what a node of a cluster adds to the daemon: the
// replicated store, membership, its lease and, while it leads, the
// grantor and the plans in flight.
//
// The split of authority: the leader alone decides (scheduler) and
// records targets, placement and bookkeeping; each node runs the steps it
// is given and reports the states it observes. A node that loses its
// lease removes what it runs on its own and kills what its removes could
// not stop by the time the lease ends: only then may the leader restore
// it elsewhere (lease.Grantor.SafeAt).
type clusterState struct {
	cfg  *config.Cluster
	self config.ClusterNode
	repl *replica.Replica
	mem  *membership.Membership

	kick   chan struct{} // wakes the leader loop
	resync chan struct{} // wakes the mirror loop
	// ready is closed once this node has applied what its leader had
	// applied when the node started (catchUp): until then its view may
	// miss definitions, and reads wait for it a little.
	ready chan struct{}

	lmu      sync.Mutex
	holder   lease.Holder
	grantor  *lease.Grantor
	stopping bool // the lease loop is removing everything
	fenced   bool // the lease loop killed what was left

	mu       sync.Mutex
	inflight map[string]bool   // groups with a plan running (leader)
	notes    map[string]string // last notes logged per group (leader)
	unsynced map[string]model.Status
	applied  uint64 // raft index whose events are in the local history
	maint    bool   // this node is in maintenance (mirror)

	cgroupDir string // where this node's plugins put process trees
}

// isSelf reports whether node names this node ("" is this node too: a
// single-node plan's steps carry no node).
func (d *Daemon) isSelf(node string) bool { return node == "" || node == d.node.Name }

// openCluster starts the replicated store and membership. The mirror of
// the store (d.graph, d.status) follows through onApply and resyncLoop.
func (d *Daemon) openCluster(ctx context.Context) error {
	c := d.cl
	var nodes []replica.Node
	var addrs []membership.NodeAddrs
	for _, n := range c.cfg.Nodes {
		nodes = append(nodes, replica.Node{Name: n.Name, Addrs: n.Addrs})
		addrs = append(addrs, membership.NodeAddrs{Name: n.Name, Addrs: n.Addrs})
	}
	c.applied = readIndex(filepath.Join(d.node.StateDir, "events.raftindex"))
	repl, err := replica.Open(replica.Config{
		Cluster: c.cfg.Name, Self: d.node.Name, Dir: filepath.Join(d.node.StateDir, "raft"),
		Nodes: nodes, Key: c.cfg.Key, ConfigHash: c.cfg.Hash,
		HeartbeatTimeout: c.cfg.RaftHeartbeat, ElectionTimeout: c.cfg.RaftElection,
		LeaderLeaseTimeout: c.cfg.RaftLeaderLease,
		Logger:             d.log, OnApply: d.onApply, Handler: d.peerHandler(),
	})
	if err != nil {
		return fmt.Errorf("cluster %s: %w", c.cfg.Name, err)
	}
	c.repl = repl
	mem, err := membership.New(membership.Config{
		Cluster: c.cfg.Name, Self: d.node.Name, Key: c.cfg.Key, ConfigHash: c.cfg.Hash,
		Nodes: addrs, Interval: c.cfg.Heartbeat, Misses: c.cfg.Misses, Logger: d.log,
		OnChange: d.onMemberChange, Payload: d.grantFor, OnPayload: d.onGrant,
	})
	if err != nil {
		repl.Close()
		return fmt.Errorf("cluster %s: %w", c.cfg.Name, err)
	}
	c.mem = mem
	d.wg.Add(5)
	go func() { defer d.wg.Done(); _ = mem.Run(ctx) }()
	go func() { defer d.wg.Done(); d.resyncLoop(ctx) }()
	go func() { defer d.wg.Done(); d.verifyLoop(ctx) }()
	go func() { defer d.wg.Done(); d.leaderLoop(ctx) }()
	go func() { defer d.wg.Done(); d.pushLoop(ctx) }()
	return nil
}

// closeCluster leaves the cluster: a leader hands leadership over first
// (replica.Close), so that a planned stop costs no election.
func (d *Daemon) closeCluster() {
	if d.cl != nil && d.cl.repl != nil {
		if err := d.cl.repl.Close(); err != nil {
			d.log.Warn("replicated store close", "err", err)
		}
	}
}

func readIndex(path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// onApply is called by the replicated store for every entry, in order, on
// every node: the entry's events join the local history once, and the
// mirror is brought up to date.
func (d *Daemon) onApply(index uint64, op store.Op) {
	c := d.cl
	c.mu.Lock()
	fresh := index > c.applied
	if fresh && len(op.Events) > 0 {
		c.applied = index
	}
	c.mu.Unlock()
	if fresh && len(op.Events) > 0 {
		for _, e := range op.Events {
			if _, err := d.events.Append(e); err != nil {
				d.log.Error("event history", "err", err)
			}
		}
		_ = os.WriteFile(filepath.Join(d.node.StateDir, "events.raftindex"), []byte(strconv.FormatUint(index, 10)), 0o600)
	}
	select {
	case c.resync <- struct{}{}:
	default:
	}
}

func (d *Daemon) resyncLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.cl.resync:
			d.resyncMirror()
		}
	}
}

// resyncMirror makes the daemon's view (graph, statuses) that of the
// replicated store, except for the states this node could not report
// yet, and makes monitoring follow: only this node's ISP resources are
// checked here.
func (d *Daemon) resyncMirror() {
	c := d.cl
	data := c.repl.Read()
	c.mu.Lock()
	unsynced := maps.Clone(c.unsynced)
	c.mu.Unlock()
	d.mu.Lock()
	if !sameResources(d.graph, data.Resources) {
		g, err := model.NewGraph(slices.Collect(maps.Values(data.Resources)))
		if err != nil {
			d.log.Error("replicated definitions are inconsistent", "err", err)
		} else {
			d.graph = g
		}
	}
	for tag, st := range unsynced {
		data.Status[tag] = st
	}
	d.status = data.Status
	d.groups = data.Groups
	d.nodes = data.Nodes
	maint := data.Nodes[d.node.Name].Maintenance
	for _, t := range d.graph.Tags() {
		st := d.status[t]
		if st.State == model.ISP && st.Node == d.node.Name && !maint {
			d.mon.Set(t, d.graph.Resource(t).CheckInterval())
		} else {
			d.mon.Remove(t)
		}
	}
	for t := range d.watches {
		if st := d.status[t]; st.Node != d.node.Name || !st.State.InService() {
			go d.unwatchPid(t)
		}
	}
	d.mu.Unlock()
	c.mu.Lock()
	changed := c.maint != maint
	c.maint = maint
	c.mu.Unlock()
	if changed {
		go d.followMaintenance(maint)
	}
	d.kickLeader()
}

func sameResources(g *model.Graph, rs map[string]*model.Resource) bool {
	tags := g.Tags()
	if len(tags) != len(rs) {
		return false
	}
	for _, t := range tags {
		r, ok := rs[t]
		if !ok || !r.Same(g.Resource(t)) {
			return false
		}
	}
	return true
}

// followMaintenance turns this node's ISP resources ISU when it goes into
// maintenance (in service, not monitored: nothing fails over because of
// it) and back when it leaves it.
func (d *Daemon) followMaintenance(on bool) {
	d.mu.Lock()
	changes := map[string]model.Status{}
	for tag, st := range d.status {
		switch {
		case st.Node != d.node.Name:
		case on && st.State == model.ISP:
			st.State, st.Reason = model.ISU, "node in maintenance"
			changes[tag] = st
		case !on && st.State == model.ISU && st.Reason == "node in maintenance":
			st.State, st.Reason = model.ISP, ""
			changes[tag] = st
		}
	}
	d.mu.Unlock()
	if len(changes) > 0 {
		d.setStatus("maintenance", changes)
	}
}

// clusterSetStatus reports states observed on this node to the
// replicated store, with their events. Without a leader they are kept
// here (and shown) and pushed again when one is back (pushLoop).
func (d *Daemon) clusterSetStatus(changes map[string]model.Status, evs []events.Event) {
	c := d.cl
	for i := range evs {
		evs[i].Node = d.node.Name
		evs[i].Time = d.clock()
	}
	// Without a lease or a leader nothing can be replicated: the state is
	// kept here at once, so that a node stopping its resources before its
	// lease ends is never held up by reports nobody can take.
	err := errors.New("no lease or no leader")
	if d.leasePhase() == lease.Held && c.repl.Leader() != "" {
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Heartbeat*time.Duration(c.cfg.Misses)+time.Second)
		err = c.repl.Apply(ctx, store.Op{States: changes, Events: evs})
		cancel()
	}
	if err == nil {
		c.mu.Lock()
		for tag := range changes {
			delete(c.unsynced, tag)
		}
		c.mu.Unlock()
		d.resyncMirror()
		return
	}
	d.log.Warn("state kept on this node until a leader is back", "err", err)
	c.mu.Lock()
	maps.Copy(c.unsynced, changes)
	c.mu.Unlock()
	for _, e := range evs {
		if _, err := d.events.Append(e); err != nil {
			d.log.Error("event history", "err", err)
		}
	}
	d.resyncMirror()
}

// pushLoop reports the states kept while there was no leader.
func (d *Daemon) pushLoop(ctx context.Context) {
	c := d.cl
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		pending := maps.Clone(c.unsynced)
		c.mu.Unlock()
		if len(pending) == 0 || c.repl.Leader() == "" {
			continue
		}
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := c.repl.Apply(actx, store.Op{States: pending})
		cancel()
		if err != nil {
			continue
		}
		c.mu.Lock()
		for tag, st := range pending {
			if cur, ok := c.unsynced[tag]; ok && cur == st {
				delete(c.unsynced, tag)
			}
		}
		c.mu.Unlock()
		d.resyncMirror()
	}
}

// record writes the leader's bookkeeping: statuses (with their node),
// group counters, node admin states and events.
func (d *Daemon) record(ctx context.Context, op store.Op) error {
	for i := range op.Events {
		if op.Events[i].Node == "" {
			op.Events[i].Node = d.node.Name
		}
		op.Events[i].Time = d.clock()
		if op.Events[i].Level == "" {
			op.Events[i].Level = events.LevelInfo
		}
	}
	if op.Empty() {
		return nil
	}
	err := d.cl.repl.Apply(ctx, op)
	if err == nil {
		d.resyncMirror()
	}
	return err
}

// --- membership and lease ---------------------------------------------

func (d *Daemon) onMemberChange(ch membership.Change) {
	lvl := events.LevelInfo
	switch ch.Kind {
	case membership.PathFailed:
		lvl = events.LevelWarn
	case membership.NodeFailed, membership.ConfigMismatch:
		lvl = events.LevelError
	}
	d.event(events.Event{Kind: events.KindCluster, Level: lvl, Message: ch.Message})
	d.kickLeader()
}

// grantFor is the payload of this node's heartbeats to node: a lease
// grant while it leads with a recently verified leadership.
func (d *Daemon) grantFor(to string) []byte {
	c := d.cl
	c.lmu.Lock()
	defer c.lmu.Unlock()
	// A node we do not hear gets no grant: the leader's bound on its
	// lease (SafeAt) must stop moving once it is lost.
	if c.grantor == nil || !c.mem.Up(to) {
		return nil
	}
	g, ok := c.grantor.Grant(to, time.Now())
	if !ok {
		return nil
	}
	return g.Encode()
}

func (d *Daemon) onGrant(from string, payload []byte, at time.Time) {
	g, err := lease.Decode(payload)
	if err != nil {
		return
	}
	c := d.cl
	c.lmu.Lock()
	c.holder.Renew(g, at)
	c.lmu.Unlock()
}

// verifyLoop keeps the leader's grantor: it checks the leadership with a
// quorum every heartbeat interval, and grants this node its own lease.
func (d *Daemon) verifyLoop(ctx context.Context) {
	c := d.cl
	t := time.NewTicker(c.cfg.Heartbeat)
	defer t.Stop()
	var term uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !c.repl.IsLeader() {
			c.lmu.Lock()
			if c.grantor != nil {
				d.log.Info("no longer the leader: granting no leases")
			}
			c.grantor, term = nil, 0
			c.lmu.Unlock()
			continue
		}
		if tm := c.repl.Term(); tm != term {
			term = tm
			c.lmu.Lock()
			c.grantor = lease.NewGrantor(tm, time.Now(), c.cfg.LeaseTimeout)
			c.lmu.Unlock()
			d.event(events.Event{Kind: events.KindCluster, Message: fmt.Sprintf("node %s is the leader (term %d)", d.node.Name, tm)})
			d.kickLeader()
		}
		start := time.Now()
		vctx, cancel := context.WithTimeout(ctx, c.cfg.LeaseTimeout/2)
		err := c.repl.VerifyLeader(vctx)
		cancel()
		if err != nil {
			continue
		}
		c.lmu.Lock()
		if c.grantor != nil {
			c.grantor.Verified(start)
			if g, ok := c.grantor.Grant(d.node.Name, time.Now()); ok {
				c.holder.Renew(g, time.Now())
			}
		}
		c.lmu.Unlock()
	}
}

// leasePhase returns this node's lease phase now.
func (d *Daemon) leasePhase() lease.Phase {
	c := d.cl
	c.lmu.Lock()
	defer c.lmu.Unlock()
	return c.holder.Phase(time.Now())
}

// waitLease waits up to max for a first lease; it reports whether one
// came.
func (d *Daemon) waitLease(ctx context.Context, max time.Duration) bool {
	return pollUntil(ctx, max, func() bool { return d.leasePhase() == lease.Held })
}

// pollUntil checks cond every 20 ms until it holds (true), ctx ends or
// max has passed (false).
func pollUntil(ctx context.Context, max time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(max)
	for !cond() {
		if !time.Now().Before(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return true
}

// leaseLoop enforces this node's half of the safety rule: from half the
// lease without a renewal it removes everything it runs (NODELEAVE);
// when the lease ends it kills the process trees of what is left, so
// that nothing of it runs once the leader may restore it elsewhere.
func (d *Daemon) leaseLoop(ctx context.Context) {
	c := d.cl
	t := time.NewTicker(max(c.cfg.Heartbeat/2, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		phase := d.leasePhase()
		c.lmu.Lock()
		if phase == lease.Held {
			if c.stopping || c.fenced {
				d.event(events.Event{Kind: events.KindCluster, Message: "lease held again: this node may run resources"})
			}
			c.stopping, c.fenced = false, false
			c.lmu.Unlock()
			continue
		}
		startStop := !c.stopping && len(d.localInService()) > 0
		if startStop {
			c.stopping = true
		}
		fence := phase == lease.Expired && !c.fenced && len(d.localInService()) > 0
		if fence {
			c.fenced = true
		}
		c.lmu.Unlock()
		if startStop {
			d.event(events.Event{Kind: events.KindCluster, Level: events.LevelError,
				Message: fmt.Sprintf("no quorum: lease not renewed for %s; removing this node's resources before it ends", c.cfg.LeaseTimeout/2)})
			d.wg.Add(1)
			go func() { defer d.wg.Done(); d.leaseStop(ctx) }()
		}
		if fence {
			d.selfFence()
		}
	}
}

// localInService lists this node's resources that are in service or
// UNKNOWN (they may run).
func (d *Daemon) localInService() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for tag, st := range d.status {
		if st.Node == d.node.Name && (st.State.InService() || st.State == model.Unknown) {
			out = append(out, tag)
		}
	}
	slices.Sort(out)
	return out
}

// leaseStop removes every resource in service here, parents first.
func (d *Daemon) leaseStop(ctx context.Context) {
	d.ops.RLock()
	defer d.ops.RUnlock()
	up := d.localInService()
	lctx, cancel := context.WithTimeout(ctx, d.cl.cfg.LeaseTimeout)
	defer cancel()
	unlock, err := d.locks.lock(lctx, up)
	if err != nil {
		return // the fence takes over
	}
	defer unlock()
	snap := d.snapshot()
	d.run(lctx, scheduler.Down(snap, up, ark.FactorNodeLeave), true)
}

// selfFence kills the process trees of what this node still runs when
// its lease ends, and marks those resources out of service.
func (d *Daemon) selfFence() {
	left := d.localInService()
	changes := map[string]model.Status{}
	var failed []string
	for _, tag := range left {
		empty, err := d.killTree(tag)
		d.mu.Lock()
		st := d.status[tag]
		d.mu.Unlock()
		if empty {
			st.State, st.Reason = model.OSU, "lease expired: process tree killed (self-fence)"
		} else {
			st.State, st.Reason = model.Unknown, fmt.Sprintf("lease expired and its process tree could not be killed: %v", err)
			failed = append(failed, tag)
		}
		changes[tag] = st
	}
	msg := fmt.Sprintf("lease expired: self-fence killed the process trees of %s", strings.Join(left, ", "))
	lvl := events.LevelError
	if len(failed) > 0 {
		msg += fmt.Sprintf("; NOT stopped: %s (no cgroup to kill: the invariant is not guaranteed for them)", strings.Join(failed, ", "))
	}
	d.event(events.Event{Kind: events.KindCluster, Level: lvl, Message: msg})
	d.setStatus("lease expired", changes)
}

// killTree kills the cgroup tree of tag's actions and services on this
// node.
func (d *Daemon) killTree(tag string) (bool, error) {
	if d.cl.cgroupDir == "" {
		return false, errors.New("no cgroup v2 here")
	}
	return proc.KillTree(filepath.Join(d.cl.cgroupDir, proc.SafeName(tag)), 5*time.Second)
}

// selfFenceMode says how this node keeps the invariant when cut off.
func (d *Daemon) selfFenceMode() string {
	if d.cl.self.Witness() {
		return "witness: runs nothing"
	}
	if d.cl.cgroupDir == "" {
		return "NONE: no cgroup v2, a node cut off can only run its removes; the invariant is NOT guaranteed if they fail or the daemon dies"
	}
	return "lease " + d.cl.cfg.LeaseTimeout.String() + ": remove at half, kill the process trees (cgroup) at the end; a crashed daemon is not covered (no watchdog, no guard)"
}

// --- leader -------------------------------------------------------------

func (d *Daemon) kickLeader() {
	if d.cl == nil {
		return
	}
	select {
	case d.cl.kick <- struct{}{}:
	default:
	}
}

// clusterSnapshot is what the leader decides from.
func (d *Daemon) clusterSnapshot() scheduler.Cluster {
	c := d.cl
	now := time.Now()
	d.mu.Lock()
	cs := scheduler.Cluster{Graph: d.graph, Status: maps.Clone(d.status), Groups: maps.Clone(d.groups), Now: d.clock()}
	nodes := maps.Clone(d.nodes)
	d.mu.Unlock()
	c.lmu.Lock()
	defer c.lmu.Unlock()
	for _, n := range c.cfg.Nodes {
		sn := scheduler.Node{Name: n.Name, Witness: n.Witness(), Maintenance: nodes[n.Name].Maintenance}
		if n.Name == d.node.Name {
			sn.Up = c.holder.Phase(now) == lease.Held
		} else {
			sn.Up = c.mem.Up(n.Name)
		}
		if !sn.Up && c.grantor != nil {
			at := c.grantor.SafeAt(n.Name)
			// SafeAt is on this node's clock; the snapshot's Now may be
			// another (tests): carry the remaining time over.
			sn.SafeAt = cs.Now.Add(at.Sub(now))
			sn.Safe = !now.Before(at)
		}
		cs.Nodes = append(cs.Nodes, sn)
	}
	return cs
}

// leaderLoop reconciles while this node leads: on every change of the
// store or of membership, and once a second for timers (a node in doubt
// becoming safe).
func (d *Daemon) leaderLoop(ctx context.Context) {
	c := d.cl
	t := time.NewTicker(max(c.cfg.Heartbeat/2, 50*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		case <-t.C:
		}
		if !c.repl.IsLeader() || d.leasePhase() != lease.Held {
			continue
		}
		d.reconcile(ctx)
	}
}

func (d *Daemon) reconcile(ctx context.Context) {
	c := d.cl
	for _, p := range scheduler.Reconcile(d.clusterSnapshot()) {
		c.mu.Lock()
		if c.inflight[p.Group] {
			c.mu.Unlock()
			continue
		}
		if len(p.Steps) == 0 && len(p.Status) == 0 && len(p.Groups) == 0 {
			note := strings.Join(p.Notes, "; ")
			fresh := note != "" && c.notes[p.Group] != note
			c.notes[p.Group] = note
			c.mu.Unlock()
			if fresh {
				d.log.Info("reconcile", "group", p.Group, "note", note)
			}
			continue
		}
		c.inflight[p.Group] = true
		delete(c.notes, p.Group)
		c.mu.Unlock()
		d.wg.Add(1)
		go func(p scheduler.Plan) {
			defer d.wg.Done()
			defer func() {
				c.mu.Lock()
				delete(c.inflight, p.Group)
				c.mu.Unlock()
				d.kickLeader()
			}()
			d.execPlan(ctx, p, false)
		}(p)
	}
}

// execPlan records a plan's bookkeeping and runs its steps on their
// nodes, holding the leader's tokens of the plan's resources.
func (d *Daemon) execPlan(ctx context.Context, p scheduler.Plan, pushThrough bool) api.Outcome {
	d.ops.RLock()
	defer d.ops.RUnlock()
	var tags []string
	for _, s := range p.Steps {
		tags = append(tags, s.Tag)
	}
	for t := range p.Status {
		tags = append(tags, t)
	}
	unlock, err := d.locks.lock(ctx, tags)
	if err != nil {
		return api.Outcome{Error: err.Error()}
	}
	defer unlock()
	return d.execLocked(ctx, p, pushThrough)
}

// execLocked is execPlan for a caller holding the tokens.
func (d *Daemon) execLocked(ctx context.Context, p scheduler.Plan, pushThrough bool) api.Outcome {
	op := store.Op{Status: p.Status, Groups: p.Groups}
	for _, n := range p.Notes {
		op.Events = append(op.Events, events.Event{Kind: events.KindCluster, Message: n})
	}
	if len(p.Steps) > 0 {
		op.Events = append(op.Events, events.Event{Kind: events.KindCluster,
			Message: fmt.Sprintf("plan for group %s: %s", p.Group, describeSteps(p.Steps))})
	}
	if err := d.record(ctx, op); err != nil {
		d.log.Warn("plan not recorded: not run", "group", p.Group, "err", err)
		return api.Outcome{Error: err.Error()}
	}
	return d.run(ctx, p, pushThrough)
}

func describeSteps(steps []scheduler.Step) string {
	var b []string
	for _, s := range steps {
		b = append(b, fmt.Sprintf("%s %s on %s", s.Action, s.Tag, s.Node))
	}
	return strings.Join(b, ", ")
}

// exec runs one step of a plan where it belongs: here, or on its node
// over the cluster transport (bounded by remote_timeout).
func (d *Daemon) exec(ctx context.Context, s scheduler.Step) api.Step {
	out := d.execStep(ctx, s)
	if d.cl != nil {
		out.Node = s.Node
		if out.Node == "" {
			out.Node = d.node.Name
		}
	}
	return out
}

func (d *Daemon) execStep(ctx context.Context, s scheduler.Step) api.Step {
	if d.cl == nil || d.isSelf(s.Node) {
		if d.cl != nil && s.Action == ark.Restore && d.leasePhase() != lease.Held {
			return api.Step{Tag: s.Tag, Action: string(s.Action), Message: "node " + d.node.Name + " holds no lease: it starts nothing"}
		}
		return d.step(ctx, s)
	}
	rctx, cancel := context.WithTimeout(ctx, d.cl.cfg.RemoteTimeout)
	defer cancel()
	var out api.Step
	err := d.peerCall(rctx, s.Node, api.PathPeerStep, api.PeerStep{Tag: s.Tag, Action: string(s.Action), Event: s.Event, Factor: s.Factor}, &out)
	if err != nil {
		msg := fmt.Sprintf("%s %s on node %s: %v", s.Action, s.Tag, s.Node, err)
		if errors.Is(rctx.Err(), context.DeadlineExceeded) {
			msg = fmt.Sprintf("%s %s on node %s: no answer within remote_timeout (%s)", s.Action, s.Tag, s.Node, d.cl.cfg.RemoteTimeout)
			out.TimedOut = true
		}
		d.event(events.Event{Kind: events.KindError, Level: events.LevelError, Tag: s.Tag, Message: msg})
		return api.Step{Tag: s.Tag, Action: string(s.Action), Message: msg, TimedOut: out.TimedOut}
	}
	return out
}

// peerStep runs a step a leader sent, under this node's token of the
// resource.
func (d *Daemon) peerStep(ctx context.Context, req api.PeerStep) (api.Step, error) {
	unlock, err := d.locks.lock(ctx, []string{req.Tag})
	if err != nil {
		return api.Step{}, err
	}
	defer unlock()
	return d.exec(ctx, scheduler.Step{Tag: req.Tag, Node: d.node.Name, Action: ark.Action(req.Action), Event: req.Event, Factor: req.Factor}), nil
}

// clusterFailed is a node's report of a failure: the leader decides.
func (d *Daemon) clusterFailed(tag, cause string) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		deadline := time.Now().Add(d.cl.cfg.RemoteTimeout)
		for time.Now().Before(deadline) {
			if d.leasePhase() != lease.Held {
				return // the lease loop takes everything down anyway
			}
			if _, st := d.get(tag); st.State != model.ISP || st.Node != d.node.Name {
				return
			}
			leader := d.cl.repl.Leader()
			var err error
			switch leader {
			case "":
				err = errors.New("no leader")
			case d.node.Name:
				d.leaderFailed(context.Background(), d.node.Name, tag, cause)
				return
			default:
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err = d.peerCall(ctx, leader, api.PathPeerFailed, api.PeerFailure{Node: d.node.Name, Tag: tag, Cause: cause}, nil)
				cancel()
				if err == nil {
					return
				}
			}
			d.log.Warn("failure not reported yet", "resource", tag, "err", err)
			time.Sleep(500 * time.Millisecond)
		}
	}()
}

// leaderFailed handles a failure of tag on node (DESIGN §5): recover in
// place while the resource's policy allows, else remove its group there
// top-down and mark tag OSF there; reconcile then fails the group over.
func (d *Daemon) leaderFailed(ctx context.Context, node, tag, cause string) {
	if r, _ := d.get(tag); r == nil {
		return
	}
	_, _ = d.leading(ctx, []string{d.groupOf(tag)}, func() (api.Outcome, error) {
		d.decideFailure(ctx, node, tag, cause)
		return api.Outcome{}, nil
	})
}

// decideFailure is leaderFailed holding the group's tokens, reconcile
// kept off it.
func (d *Daemon) decideFailure(ctx context.Context, node, tag, cause string) {
	r, st := d.get(tag)
	if r == nil || st.State != model.ISP || st.Node != node {
		return // handled already, or moved meanwhile
	}
	d.log.Error("resource failed", "resource", tag, "on", node, "cause", cause)
	snap := d.snapshot()
	snap.Node = node
	canRecover := true
	if info, ok := d.kits.Schema(r.Type); ok {
		canRecover = info.Supports(ark.Recover)
	}
	dec, err := scheduler.Failure(snap, tag, canRecover)
	if err != nil {
		return
	}
	ev := events.Event{Kind: events.KindError, Level: events.LevelError, Tag: tag, Node: node,
		Message: fmt.Sprintf("failure on node %s: %s; decision: %s (%s)", node, cause, dec.Verdict, dec.Why)}
	dec.Status.Reason = cause
	if err := d.record(ctx, store.Op{Status: map[string]model.Status{tag: dec.Status}, Events: []events.Event{ev}}); err != nil {
		d.log.Warn("failure decision not recorded", "resource", tag, "err", err)
		return
	}
	why := dec.Why
	if dec.Verdict == scheduler.Recover {
		res := d.exec(ctx, scheduler.Step{Tag: tag, Node: node, Action: ark.Recover, Event: ark.EventRecover})
		if res.OK {
			return
		}
		why = "recover failed: " + res.Message
	}
	snap = d.snapshot()
	snap.Node = node
	p := scheduler.GroupDown(snap, tag, ark.FactorGroupFailover)
	p.Group = d.graph.GroupName(tag)
	d.execLocked(ctx, p, true)
	if _, st := d.get(tag); st.State != model.Unknown {
		// OSF on node: reconcile fails the group over from there.
		st.State, st.Reason, st.Node = model.OSF, why, node
		_ = d.record(ctx, store.Op{Status: map[string]model.Status{tag: st}})
	}
}

// fenceAfterFailedRemove is fence_on_remove_failure: a remove that
// failed leaves a resource that may still run, which would block its
// group's failover (UNKNOWN). The node fences the resource itself by
// killing its process tree; only when that fails does it stay UNKNOWN.
func (d *Daemon) fenceAfterFailedRemove(tag, why string) {
	empty, err := d.killTree(tag)
	if !empty {
		reason := "remove failed: " + why
		if err != nil {
			reason += "; fence failed: " + err.Error()
		}
		d.setState(tag, model.Unknown, reason)
		return
	}
	d.event(events.Event{Kind: events.KindCluster, Level: events.LevelWarn, Tag: tag,
		Message: fmt.Sprintf("remove of %s failed (%s): its process tree was killed (fence_on_remove_failure)", tag, why)})
	d.update(tag, "fenced", func(st *model.Status) {
		st.State, st.Event = model.OSU, ""
		st.Reason = "remove failed, process tree killed: " + why
	})
}
