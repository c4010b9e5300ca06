package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ark-ha/ark/host/api"
	"github.com/ark-ha/ark/host/events"
	"github.com/ark-ha/ark/host/model"
	"github.com/ark-ha/ark/host/replica"
	"github.com/ark-ha/ark/host/scheduler"
	"github.com/ark-ha/ark/host/store"
	"github.com/ark-ha/ark/sdk/ark"
)

// forwardedHeader marks a request a node forwarded to its leader, so that
// a leadership change in between cannot make it bounce around.
const forwardedHeader = "X-Ark-Forwarded"

// peerCall posts in to path on node over the cluster transport and
// decodes the reply into out (when not nil).
func (d *Daemon) peerCall(ctx context.Context, node, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+node+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.cl.repl.Do(ctx, node, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("node %s: %w", node, err)
	}
	if resp.StatusCode/100 != 2 {
		var e api.ErrorReply
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return fmt.Errorf("node %s: %s", node, e.Error)
		}
		return fmt.Errorf("node %s: %s", node, resp.Status)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

// leaderOnly wraps an admin handler: on the leader it runs here, on
// another node the request goes to the leader as it is and its answer
// comes back (arkctl works on any node).
func (d *Daemon) leaderOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if d.cl == nil || d.cl.repl.IsLeader() {
			if r.Header.Get(forwardedHeader) != "" {
				w = &indexWriter{ResponseWriter: w, repl: d.cl.repl}
			}
			h(w, r)
			return
		}
		leader := d.cl.repl.Leader()
		if leader == "" || r.Header.Get(forwardedHeader) != "" {
			writeJSON(w, http.StatusServiceUnavailable, api.ErrorReply{Kind: api.KindFailed,
				Error: fmt.Sprintf("no leader: node %s sees %d of the %d voters needed for a quorum; nothing can be started or moved",
					d.node.Name, len(d.cl.mem.Reachable()), d.cl.cfg.Quorum())})
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, api.ErrorReply{Kind: api.KindUsage, Error: "malformed request: " + err.Error()})
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+leader+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, api.ErrorReply{Kind: api.KindFailed, Error: err.Error()})
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(forwardedHeader, d.node.Name)
		resp, err := d.cl.repl.Do(r.Context(), leader, req)
		if err != nil {
			writeJSON(w, http.StatusBadGateway, api.ErrorReply{Kind: api.KindFailed,
				Error: fmt.Sprintf("forwarding to the leader %s: %v", leader, err)})
			return
		}
		defer resp.Body.Close()
		// Read your writes: what the leader did shows here before the
		// answer does, so the next status on this node agrees with it.
		if idx, err := strconv.ParseUint(resp.Header.Get(indexHeader), 10, 64); err == nil {
			wctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			if d.cl.repl.WaitApplied(wctx, idx) == nil {
				d.resyncMirror()
			}
			cancel()
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}
}

// indexHeader carries the leader's last applied index with the answer
// to a forwarded request.
const indexHeader = "X-Ark-Index"

// indexWriter stamps the answer to a forwarded request with the
// leader's applied index at the moment it answers, which covers every
// change the request made.
type indexWriter struct {
	http.ResponseWriter
	repl  *replica.Replica
	wrote bool
}

func (w *indexWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		w.Header().Set(indexHeader, strconv.FormatUint(w.repl.Applied(), 10))
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *indexWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// peerHandler serves what other nodes ask over the cluster transport:
// steps of the leader's plans, failure reports (on the leader), and
// admin requests forwarded to the leader.
func (d *Daemon) peerHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+api.PathPeerStep, func(w http.ResponseWriter, r *http.Request) {
		var req api.PeerStep
		if decode(w, r, &req) {
			out, err := d.peerStep(r.Context(), req)
			reply(w, out, err)
		}
	})
	mux.HandleFunc("POST "+api.PathPeerIndex, func(w http.ResponseWriter, r *http.Request) {
		if !d.cl.repl.IsLeader() {
			writeJSON(w, http.StatusConflict, api.ErrorReply{Kind: api.KindFailed, Error: "node " + d.node.Name + " is not the leader"})
			return
		}
		reply(w, api.PeerIndex{Index: d.cl.repl.Applied()}, nil)
	})
	mux.HandleFunc("POST "+api.PathPeerFailed, func(w http.ResponseWriter, r *http.Request) {
		var req api.PeerFailure
		if !decode(w, r, &req) {
			return
		}
		if !d.cl.repl.IsLeader() {
			writeJSON(w, http.StatusConflict, api.ErrorReply{Kind: api.KindFailed, Error: "node " + d.node.Name + " is not the leader"})
			return
		}
		d.wg.Add(1)
		go func() { defer d.wg.Done(); d.leaderFailed(context.Background(), req.Node, req.Tag, req.Cause) }()
		reply(w, api.Reply{Message: "failure of " + req.Tag + " taken"}, nil)
	})
	admin := d.adminRoutes()
	for _, p := range []string{api.PathStart, api.PathStop, api.PathRelocate, api.PathBalance, api.PathMaintenance} {
		mux.Handle("POST "+p, admin)
	}
	return mux
}

// adminRoutes are the cluster-wide admin requests (leaderOnly).
func (d *Daemon) adminRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+api.PathStart, d.leaderOnly(func(w http.ResponseWriter, r *http.Request) {
		var req api.Request
		if decode(w, r, &req) {
			out, err := d.startOn(r.Context(), req.Tag, req.Node, req.Force)
			replyOutcome(w, out, err)
		}
	}))
	mux.HandleFunc("POST "+api.PathStop, d.leaderOnly(func(w http.ResponseWriter, r *http.Request) {
		var req api.Request
		if decode(w, r, &req) {
			out, err := d.Stop(r.Context(), req.Tag, req.Force)
			replyOutcome(w, out, err)
		}
	}))
	mux.HandleFunc("POST "+api.PathRelocate, d.leaderOnly(func(w http.ResponseWriter, r *http.Request) {
		var req api.RelocateRequest
		if decode(w, r, &req) {
			out, err := d.Relocate(r.Context(), req)
			replyOutcome(w, out, err)
		}
	}))
	mux.HandleFunc("POST "+api.PathBalance, d.leaderOnly(func(w http.ResponseWriter, r *http.Request) {
		var req api.Request
		if decode(w, r, &req) {
			out, err := d.Balance(r.Context())
			replyOutcome(w, out, err)
		}
	}))
	mux.HandleFunc("POST "+api.PathMaintenance, d.leaderOnly(func(w http.ResponseWriter, r *http.Request) {
		var req api.MaintenanceRequest
		if decode(w, r, &req) {
			err := d.Maintenance(r.Context(), req.Node, req.On)
			msg := fmt.Sprintf("node %s: maintenance %s", req.Node, map[bool]string{true: "on", false: "off"}[req.On])
			reply(w, api.Reply{Message: msg}, err)
		}
	}))
	return mux
}

// errNotCluster answers the cluster-only requests of a single node.
var errNotCluster = &UsageError{Err: errors.New("this node is not part of a cluster (no cluster_file in its node file)")}

// leading runs fn for the groups of tags as the leader's only plan for
// them: reconcile leaves them alone meanwhile, and fn runs holding their
// tokens, so it decides from a snapshot nobody else changes.
func (d *Daemon) leading(ctx context.Context, groups []string, fn func() (api.Outcome, error)) (api.Outcome, error) {
	c := d.cl
	c.mu.Lock()
	for _, g := range groups {
		c.inflight[g] = true
	}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		for _, g := range groups {
			delete(c.inflight, g)
		}
		c.mu.Unlock()
		d.kickLeader()
	}()
	d.ops.RLock()
	defer d.ops.RUnlock()
	var tags []string
	d.mu.Lock()
	for _, g := range groups {
		tags = append(tags, d.graph.Group(g)...)
	}
	d.mu.Unlock()
	unlock, err := d.locks.lock(ctx, tags)
	if err != nil {
		return api.Outcome{}, err
	}
	defer unlock()
	return fn()
}

// withTargets adds to p.Status the targets p sets; a start also clears
// the counters and OSF marks (CAA's caa_start).
func (d *Daemon) withTargets(p *scheduler.Plan, start bool) {
	if p.Status == nil {
		p.Status = map[string]model.Status{}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for tag, tg := range p.Targets {
		st, ok := p.Status[tag]
		if !ok {
			st = d.status[tag]
		}
		st.Target = tg
		if start {
			st.Restarts, st.Failures, st.WindowStart = 0, 0, d.clock()
			if st.State == model.OSF {
				st.State, st.Reason = model.OSU, ""
			}
		}
		p.Status[tag] = st
	}
}

// startOn is arkctl start in a cluster (on node, or where the scheduler
// places it); on a single node it is Start.
func (d *Daemon) startOn(ctx context.Context, tag, node string, force bool) (api.Outcome, error) {
	if d.cl == nil {
		if node != "" && node != d.node.Name {
			return api.Outcome{}, errNotCluster
		}
		return d.Start(ctx, tag, force)
	}
	r, _ := d.get(tag)
	if r == nil {
		return api.Outcome{}, &scheduler.Error{Tag: tag, Msg: "not defined"}
	}
	return d.leading(ctx, []string{d.groupOf(tag)}, func() (api.Outcome, error) {
		p, err := scheduler.ClusterStart(d.clusterSnapshot(), tag, node)
		if err != nil {
			return api.Outcome{}, err
		}
		d.withTargets(&p, true)
		out := d.execLocked(ctx, p, force)
		if out.OK || force || len(p.Steps) == 0 {
			return out, nil
		}
		var up []string
		for _, s := range out.Steps {
			if s.OK {
				up = append(up, s.Tag)
			}
		}
		if len(up) > 0 {
			out.Notes = append(out.Notes, fmt.Sprintf("start of %s failed: removing what it brought up (%v)", tag, up))
			snap := d.snapshot()
			snap.Node = p.Steps[0].Node
			back := d.run(ctx, scheduler.Down(snap, up, ark.FactorGroupStop), true)
			out.Steps = append(out.Steps, back.Steps...)
		}
		return out, nil
	})
}

func (d *Daemon) groupOf(tag string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.graph.GroupName(tag)
}

// clusterStop is Stop in a cluster: each remove runs where its resource
// is.
func (d *Daemon) clusterStop(ctx context.Context, tag string, force bool) (api.Outcome, error) {
	r, _ := d.get(tag)
	if r == nil {
		return api.Outcome{}, &scheduler.Error{Tag: tag, Msg: "not defined"}
	}
	return d.leading(ctx, []string{d.groupOf(tag)}, func() (api.Outcome, error) {
		p, err := scheduler.ClusterStop(d.clusterSnapshot(), tag, force)
		if err != nil {
			return api.Outcome{}, err
		}
		d.withTargets(&p, false)
		return d.execLocked(ctx, p, force), nil
	})
}

// Relocate moves a group to a node (arkctl relocate TAG --node N), or
// every group off a node (relocate --from N).
func (d *Daemon) Relocate(ctx context.Context, req api.RelocateRequest) (api.Outcome, error) {
	if d.cl == nil {
		return api.Outcome{}, errNotCluster
	}
	if req.From != "" {
		if req.Tag != "" {
			return api.Outcome{}, &UsageError{Err: errors.New("relocate: give a resource or --from NODE, not both")}
		}
		if _, ok := d.cl.cfg.Node(req.From); !ok {
			return api.Outcome{}, &UsageError{Err: fmt.Errorf("relocate --from %s: no such node in cluster %s", req.From, d.cl.cfg.Name)}
		}
		return d.runPlans(ctx, func(c scheduler.Cluster) []scheduler.Plan { return scheduler.Evacuate(c, req.From) })
	}
	if r, _ := d.get(req.Tag); r == nil {
		return api.Outcome{}, &scheduler.Error{Tag: req.Tag, Msg: "not defined"}
	}
	return d.leading(ctx, []string{d.groupOf(req.Tag)}, func() (api.Outcome, error) {
		p, err := scheduler.Relocate(d.clusterSnapshot(), req.Tag, req.Node)
		if err != nil {
			return api.Outcome{}, err
		}
		return d.execLocked(ctx, p, false), nil
	})
}

// Balance moves every group to the node its policy prefers now (CAA's
// caa_balance).
func (d *Daemon) Balance(ctx context.Context) (api.Outcome, error) {
	if d.cl == nil {
		return api.Outcome{}, errNotCluster
	}
	return d.runPlans(ctx, scheduler.Balance)
}

// runPlans runs the plans decide returns, each group on its own, and
// merges their outcomes.
func (d *Daemon) runPlans(ctx context.Context, decide func(scheduler.Cluster) []scheduler.Plan) (api.Outcome, error) {
	d.mu.Lock()
	groups := d.graph.Groups()
	d.mu.Unlock()
	var names []string
	for _, g := range groups {
		names = append(names, d.groupOf(g[0]))
	}
	return d.leading(ctx, names, func() (api.Outcome, error) {
		all := api.Outcome{OK: true}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, p := range decide(d.clusterSnapshot()) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out := d.execLocked(ctx, p, false)
				mu.Lock()
				defer mu.Unlock()
				all.OK = all.OK && out.OK && out.Error == ""
				all.Steps = append(all.Steps, out.Steps...)
				all.Notes = append(all.Notes, out.Notes...)
				if out.Error != "" {
					all.Notes = append(all.Notes, "group "+p.Group+": "+out.Error)
				}
			}()
		}
		wg.Wait()
		if len(all.Steps) == 0 && len(all.Notes) == 0 {
			all.Notes = append(all.Notes, "nothing to move")
		}
		return all, nil
	})
}

// Maintenance puts node in maintenance or takes it out: in maintenance it
// keeps what runs (ISU, unmonitored), gets nothing new, and nothing fails
// over because of it.
func (d *Daemon) Maintenance(ctx context.Context, node string, on bool) error {
	if d.cl == nil {
		return errNotCluster
	}
	n, ok := d.cl.cfg.Node(node)
	switch {
	case !ok:
		return &UsageError{Err: fmt.Errorf("maintenance: no node %q in cluster %s", node, d.cl.cfg.Name)}
	case n.Witness():
		return &UsageError{Err: fmt.Errorf("maintenance: %s is a witness: it hosts nothing", node)}
	}
	msg := fmt.Sprintf("node %s maintenance on: it keeps its resources unmonitored and nothing fails over because of it", node)
	if !on {
		msg = fmt.Sprintf("node %s maintenance off", node)
	}
	return d.record(ctx, store.Op{
		Nodes:  map[string]model.NodeStatus{node: {Maintenance: on, Since: d.clock(), Reason: "admin"}},
		Events: []events.Event{{Kind: events.KindCluster, Message: msg}},
	})
}

// ClusterStatus is the cluster section of arkctl status.
func (d *Daemon) ClusterStatus() (api.Cluster, error) {
	if d.cl == nil {
		return api.Cluster{}, errNotCluster
	}
	c := d.cl
	out := api.Cluster{Name: c.cfg.Name, Self: d.node.Name, Leader: c.repl.Leader(), Term: c.repl.Term(),
		Reachable: len(c.mem.Reachable()), Quorum: c.cfg.Quorum(), SelfFence: d.selfFenceMode(), Lease: "-"}
	if !c.self.Witness() {
		c.lmu.Lock()
		now := time.Now()
		out.Lease = c.holder.Phase(now).String()
		if e := c.holder.Expiry(); e.After(now) {
			out.LeaseLeft = e.Sub(now).Round(time.Millisecond)
		}
		c.lmu.Unlock()
	}
	view := c.mem.View()
	d.mu.Lock()
	groups := map[string]map[string]bool{}
	for tag, st := range d.status {
		if st.State.InService() && st.Node != "" {
			if groups[st.Node] == nil {
				groups[st.Node] = map[string]bool{}
			}
			groups[st.Node][d.graph.GroupName(tag)] = true
		}
	}
	nodes := d.nodes
	d.mu.Unlock()
	for _, n := range c.cfg.Nodes {
		cn := api.ClusterNode{Name: n.Name, Role: n.Role, Maintenance: nodes[n.Name].Maintenance, Groups: len(groups[n.Name])}
		if n.Name == d.node.Name {
			cn.Up = true
		}
		for _, v := range view.Nodes {
			if v.Name != n.Name {
				continue
			}
			cn.Up = v.Up
			for _, p := range v.Paths {
				cn.Paths = append(cn.Paths, api.CommPath{Local: p.Local, Remote: p.Remote, Up: p.Up, Since: p.Since})
			}
		}
		out.Nodes = append(out.Nodes, cn)
	}
	return out, nil
}

// clusterBoot is a node's start in a cluster: what the store says runs
// here is probed and adopted when it runs; what does not is reported
// out of service, and the leader places it again. Nothing starts here
// without the leader.
func (d *Daemon) clusterBoot(ctx context.Context) {
	c := d.cl
	d.mu.Lock()
	ns := d.nodes[d.node.Name]
	d.mu.Unlock()
	if ns.Maintenance && ns.Reason == "shutdown" {
		_ = d.record(ctx, store.Op{Nodes: map[string]model.NodeStatus{d.node.Name: {Since: d.clock()}},
			Events: []events.Event{{Kind: events.KindCluster, Message: "node " + d.node.Name + " is back: maintenance off"}}})
	}
	if !d.waitLease(ctx, c.cfg.LeaseTimeout/2) {
		d.log.Warn("no lease yet: what this node ran will be removed unless a leader grants one")
	}
	mine := d.localInService()
	unlock, err := d.locks.lock(ctx, mine)
	if err != nil {
		return
	}
	defer unlock()
	adopted, gone := 0, 0
	for _, t := range mine {
		r, _ := d.get(t)
		switch d.probe(ctx, t) {
		case scheduler.Running, scheduler.Unprobeable:
			adopted++
			d.update(t, "adopted at daemon start: it is running", func(st *model.Status) { st.State, st.Reason = model.ISP, "" })
			d.watchPid(r)
		default:
			gone++
			d.update(t, "not running at daemon start", func(st *model.Status) {
				st.State, st.Reason, st.Event = model.OSU, "not running at daemon start", ""
			})
		}
	}
	d.event(events.Event{Kind: events.KindDaemon, Message: fmt.Sprintf("arkd joined cluster %s: %d adopted, %d found stopped (the leader places them)",
		c.cfg.Name, adopted, gone)})
	d.kickLeader()
}

// leaveForMaintenance is shutdown --leave-services in a cluster
// (LifeKeeper's lkstop -f): the node goes into maintenance first, so
// that nobody fails over what keeps running here.
func (d *Daemon) leaveForMaintenance() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := d.record(ctx, store.Op{
		Nodes:  map[string]model.NodeStatus{d.node.Name: {Maintenance: true, Since: d.clock(), Reason: "shutdown"}},
		Events: []events.Event{{Kind: events.KindCluster, Message: "node " + d.node.Name + " stops with its services running: maintenance on until it is back"}},
	})
	if err != nil {
		d.log.Error("maintenance not recorded: the leader may fail this node's resources over once it is gone", "err", err)
	}
}

// catchUp makes this node's view at least as new as its leader's was
// when it asked: a node that just started has only what its own log
// holds until the leader's replication reaches it (after a node was down
// for a while, raft's retry backoff can delay that by tens of seconds),
// and must neither adopt nor report from that. It asks the leader for
// its applied index (or is the leader), waits until it has applied that
// entry, and closes ready. With no leader, or when ctx ends, it closes
// ready at once: the node then works from what it has.
func (d *Daemon) catchUp(ctx context.Context) {
	c := d.cl
	defer close(c.ready)
	leader := c.repl.Leader()
	if leader == d.node.Name {
		d.resyncMirror()
		return
	}
	var idx api.PeerIndex
	if leader == "" || d.peerCall(ctx, leader, api.PathPeerIndex, struct{}{}, &idx) != nil {
		d.log.Warn("could not learn the leader's log index: this node's view may lag until the log reaches it", "leader", leader)
		return
	}
	start := time.Now()
	if err := c.repl.WaitApplied(ctx, idx.Index); err != nil {
		d.log.Warn("the log has not reached this node yet: its view may lag", "leader", leader, "index", idx.Index, "applied", c.repl.Applied())
		return
	}
	d.resyncMirror()
	d.log.Info("caught up with the leader's log", "leader", leader, "index", idx.Index, "took", time.Since(start).Round(time.Millisecond))
}

// awaitReady holds a read until the node caught up with its leader
// (catchUp), for at most a few seconds: better a late answer than one
// that says a resource is not defined because this node has not read
// the log yet.
func (d *Daemon) awaitReady(ctx context.Context) {
	if d.cl == nil {
		return
	}
	t := time.NewTimer(15 * time.Second)
	defer t.Stop()
	select {
	case <-d.cl.ready:
	case <-ctx.Done():
	case <-t.C:
	}
}

// waitLeader waits for a leader (and this node's mirror of the store)
// up to max.
func (d *Daemon) waitLeader(ctx context.Context, max time.Duration) bool {
	if !pollUntil(ctx, max, func() bool { return d.cl.repl.Leader() != "" }) {
		return false
	}
	d.resyncMirror()
	return true
}
