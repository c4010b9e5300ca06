package scheduler

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/ark-ha/ark/host/model"
	"github.com/ark-ha/ark/sdk/ark"
)

// Node is what the cluster scheduler knows about one node.
type Node struct {
	Name string
	// Witness nodes vote and host nothing.
	Witness bool
	// Up: the node is a member (heard on a communication path) and
	// holds its lease: it may run resources and be given new ones.
	Up bool
	// Safe: the node is not up and has certainly stopped everything it
	// ran (its lease ran out, or it was fenced): its groups may be
	// restored elsewhere. A node neither up nor safe is in doubt:
	// nothing of it moves until SafeAt.
	Safe bool
	// SafeAt is when a node in doubt becomes safe (zero if unknown: it
	// needs a fence).
	SafeAt time.Time
	// Maintenance: the node keeps what runs on it, gets nothing new, and
	// nothing fails over because of it (model.NodeStatus).
	Maintenance bool
	// Types lists the resource types enabled on the node, sorted; a
	// group may be placed only where every one of its types is.
	Types []string
}

// Cluster is what a cluster decision is made from. Nodes are in the
// cluster file's order, which breaks every tie.
type Cluster struct {
	Nodes  []Node
	Graph  *model.Graph
	Status map[string]model.Status // by tag; Status.Node is where State was observed
	Groups map[string]model.GroupStatus
	Now    time.Time
}

// noPriority is the priority of a node a resource does not allow, worse
// than any real one.
const noPriority = math.MaxInt32

// group is a failover group with its settings: each is the value of the
// first member (in tag order) that sets it, the configuration making
// sure they agree.
type group struct {
	name       string
	tags       []string
	res        []*model.Resource
	policy     string
	switchback string
	limit      int
	resetAfter time.Duration
}

func groupOf(g *model.Graph, tag string) *group {
	if g == nil || g.Resource(tag) == nil {
		return nil
	}
	gr := &group{name: g.GroupName(tag), tags: g.Group(tag),
		policy: model.PolicyPriority, switchback: model.SwitchbackIntelligent,
		limit: model.DefaultMaxFailovers, resetAfter: model.DefaultFailoverResetAfter}
	var policy, switchback, limit, reset bool
	for _, t := range gr.tags {
		r := g.Resource(t)
		gr.res = append(gr.res, r)
		if r.Policy != "" && !policy {
			gr.policy, policy = r.Policy, true
		}
		if r.Switchback != "" && !switchback {
			gr.switchback, switchback = r.Switchback, true
		}
		if r.MaxFailovers != nil && !limit {
			gr.limit, limit = *r.MaxFailovers, true
		}
		if r.FailoverResetAfter > 0 && !reset {
			gr.resetAfter, reset = r.FailoverResetAfter, true
		}
	}
	return gr
}

// status returns tag's status, OSU when none is recorded.
func (c Cluster) status(tag string) model.Status {
	st := c.Status[tag]
	if st.State == "" {
		st.State = model.OSU
	}
	return st
}

// node returns the node called name and its index in c.Nodes, or -1.
func (c Cluster) node(name string) (Node, int) {
	for i, n := range c.Nodes {
		if n.Name == name {
			return n, i
		}
	}
	return Node{Name: name}, -1
}

// byFileOrder sorts node names by their place in c.Nodes, unknown names
// last in name order.
func (c Cluster) byFileOrder(names []string) {
	slices.SortFunc(names, func(a, b string) int {
		_, i := c.node(a)
		_, j := c.node(b)
		if i < 0 {
			i = len(c.Nodes)
		}
		if j < 0 {
			j = len(c.Nodes)
		}
		if i != j {
			return i - j
		}
		return strings.Compare(a, b)
	})
}

// where lists the nodes on which a member of gr is in service, in file
// order.
func (c Cluster) where(gr *group) []string {
	var out []string
	for _, t := range gr.tags {
		if st := c.status(t); st.State.InService() && !slices.Contains(out, st.Node) {
			out = append(out, st.Node)
		}
	}
	c.byFileOrder(out)
	return out
}

// inService lists the members of gr in service on node.
func (c Cluster) inService(gr *group, node string) []string {
	var out []string
	for _, t := range gr.tags {
		if st := c.status(t); st.State.InService() && st.Node == node {
			out = append(out, t)
		}
	}
	return out
}

// wanted lists the members of gr that should run: those with target
// ONLINE and everything below them. Sorted.
func (c Cluster) wanted(gr *group) []string {
	var out []string
	for _, t := range gr.tags {
		if c.status(t).Target != model.Online {
			continue
		}
		for _, b := range c.Graph.Below(t) {
			if !slices.Contains(out, b) {
				out = append(out, b)
			}
		}
	}
	slices.Sort(out)
	return out
}

// stopped reports whether node is down and safe: it certainly runs
// nothing, even what it was left UNKNOWN on.
func (c Cluster) stopped(node string) bool {
	n, i := c.node(node)
	return i >= 0 && !n.Up && n.Safe
}

// unknown lists the members of gr whose state is UNKNOWN.
func (c Cluster) unknown(gr *group) []string {
	var out []string
	for _, t := range gr.tags {
		if c.status(t).State == model.Unknown {
			out = append(out, t)
		}
	}
	return out
}

// load counts the groups other than except with a member in service on
// node.
func (c Cluster) load(node, except string) int {
	n := 0
	for _, tags := range c.Graph.Groups() {
		if c.Graph.GroupName(tags[0]) == except {
			continue
		}
		for _, t := range tags {
			if st := c.status(t); st.State.InService() && st.Node == node {
				n++
				break
			}
		}
	}
	return n
}

// priority is node's priority for gr: the worst any member with
// priorities gives it (noPriority where one does not allow it), or its
// 1-based position in c.Nodes when no member has priorities.
func (c Cluster) priority(gr *group, node string) int {
	p, any := 0, false
	for _, r := range gr.res {
		if len(r.Priorities) == 0 {
			continue
		}
		any = true
		v, ok := r.Priorities[node]
		if !ok {
			v = noPriority
		}
		p = max(p, v)
	}
	if any {
		return p
	}
	if _, i := c.node(node); i >= 0 {
		return i + 1
	}
	return noPriority
}

// unfit says why node n can never host gr (a member does not allow it,
// or a type of the group is not enabled there), or "".
func unfit(gr *group, n Node) string {
	for _, r := range gr.res {
		if !r.Allowed(n.Name) {
			return fmt.Sprintf("%s not allowed by %s", n.Name, r.Tag)
		}
	}
	if n.Types == nil {
		return ""
	}
	for _, r := range gr.res {
		if !slices.Contains(n.Types, r.Type) {
			return fmt.Sprintf("%s lacks type %s", n.Name, r.Type)
		}
	}
	return ""
}

// unavailable says why n may not be given anything now, or "".
func unavailable(n Node, known bool) string {
	switch {
	case !known:
		return n.Name + " is not a node of the cluster"
	case n.Witness:
		return n.Name + " is a witness"
	case !n.Up:
		return n.Name + " is down"
	case n.Maintenance:
		return n.Name + " is in maintenance"
	}
	return ""
}

// candidate is a node a group may be placed on, with what the policies
// compare.
type candidate struct {
	name     string
	prio     int
	failedAt time.Time // zero: the group never failed there
	load     int
}

func (c Cluster) candidate(gr *group, node string) candidate {
	return candidate{name: node, prio: c.priority(gr, node),
		failedAt: c.Groups[gr.name].FailedOn[node], load: c.load(node, gr.name)}
}

// better compares a and b by gr's policy, ignoring file order: negative
// when a is strictly better.
func (gr *group) better(a, b candidate) int {
	switch gr.policy {
	case model.PolicyStable:
		switch {
		case a.failedAt.IsZero() != b.failedAt.IsZero():
			if a.failedAt.IsZero() {
				return -1
			}
			return 1
		case !a.failedAt.Equal(b.failedAt):
			return a.failedAt.Compare(b.failedAt)
		}
	case model.PolicyBalanced:
		if a.load != b.load {
			return a.load - b.load
		}
	}
	return a.prio - b.prio
}

func (gr *group) describe(cd candidate) string {
	prio := fmt.Sprintf("priority %d", cd.prio)
	switch gr.policy {
	case model.PolicyStable:
		if cd.failedAt.IsZero() {
			return "stable: never failed here, " + prio
		}
		return fmt.Sprintf("stable: last failed here %s, %s", cd.failedAt.Format(time.RFC3339), prio)
	case model.PolicyBalanced:
		s := "s"
		if cd.load == 1 {
			s = ""
		}
		return fmt.Sprintf("balanced: %d other group%s here, %s", cd.load, s, prio)
	}
	return prio
}

// Place chooses the node for a failover group (named by its name or any
// of its tags), or "" when no node can host it; why explains the choice
// in one line, e.g. "node2 (priority 2; node1 excluded)".
//
// Candidates are the nodes that are up, not witnesses, not in
// maintenance, not excluded, allowed by every resource of the group
// (Resource.Allowed) and whose Types include every type of the group
// (nil Types: unknown, accepted). A node's priority for the group is the
// worst (largest) priority a resource of the group gives it, or its
// 1-based position in c.Nodes when no resource of the group has
// priorities. The group's policy (the first of its resources, in tag
// order, that sets one; priority by default) orders the candidates:
//   - priority: best priority;
//   - stable: nodes where the group never failed (no FailedOn entry)
//     first, by priority, then the one whose last failure is oldest;
//   - balanced: fewest other groups in service on the node, then
//     priority.
//
// Remaining ties go to the node listed first in c.Nodes.
func Place(c Cluster, group string, exclude ...string) (node, why string) {
	gr := groupOf(c.Graph, group)
	if gr == nil {
		return "", "no resource " + group
	}
	return c.place(gr, exclude)
}

func (c Cluster) place(gr *group, exclude []string) (string, string) {
	var skipped []string
	var cands []candidate
	for _, n := range c.Nodes {
		r := ""
		if slices.Contains(exclude, n.Name) {
			r = n.Name + " excluded"
		} else if r = unavailable(n, true); r == "" {
			r = unfit(gr, n)
		}
		if r != "" {
			skipped = append(skipped, r)
			continue
		}
		cands = append(cands, c.candidate(gr, n.Name))
	}
	if len(cands) == 0 {
		if len(skipped) == 0 {
			return "", "the cluster has no nodes"
		}
		return "", strings.Join(skipped, "; ")
	}
	slices.SortStableFunc(cands, gr.better)
	best := cands[0]
	return best.name, best.name + " (" + strings.Join(append([]string{gr.describe(best)}, skipped...), "; ") + ")"
}

// builder numbers the steps of one plan.
type builder struct {
	c     Cluster
	steps []Step
}

// add appends steps for tags: restores bottom-up (a step after its
// children's), removes top-down (after its parents'). node gives each
// step's node, event its ARK_EVENT. Steps with nothing to wait for in
// this batch wait for after. It returns the batch's sinks: the steps no
// other step of the batch waits for, so that waiting for them is waiting
// for the whole batch.
func (b *builder) add(tags []string, a ark.Action, node, event func(string) string, factor string, after []int) []int {
	layers, first := b.c.Graph.StartLayers(tags), b.c.Graph.Children
	if a == ark.Remove {
		layers, first = b.c.Graph.StopLayers(tags), b.c.Graph.Parents
	}
	id := map[string]int{}
	waited := map[int]bool{}
	var batch []int
	for _, layer := range layers {
		for _, t := range layer {
			st := Step{ID: len(b.steps) + 1, Tag: t, Node: node(t), Action: a, Event: event(t)}
			if a == ark.Remove {
				st.Factor = factor
			}
			for _, f := range first(t) {
				if n, ok := id[f]; ok {
					st.After = append(st.After, n)
					waited[n] = true
				}
			}
			if len(st.After) == 0 {
				st.After = slices.Clone(after)
			}
			slices.Sort(st.After)
			id[t] = st.ID
			batch = append(batch, st.ID)
			b.steps = append(b.steps, st)
		}
	}
	var sinks []int
	for _, n := range batch {
		if !waited[n] {
			sinks = append(sinks, n)
		}
	}
	return sinks
}

func on(node string) func(string) string { return func(string) string { return node } }

func fixed(event string) func(string) string { return func(string) string { return event } }

// statusEvent is the ARK_EVENT of a remove: that of the restore that
// started the resource (CLUSTERPRO: a stop script sees the event of the
// start before it).
func (c Cluster) statusEvent(t string) string { return c.status(t).Event }

func (b *builder) removes(tags []string, node func(string) string, factor string) []int {
	return b.add(tags, ark.Remove, node, b.c.statusEvent, factor, nil)
}

func (b *builder) restores(tags []string, node, event string, after []int) {
	b.add(tags, ark.Restore, on(node), fixed(event), "", after)
}

// move adds to p moving gr from one node to another: remove top-down
// what is in service on from (factor, ARK_EVENT of each resource's
// restore), then, after all removes, restore bottom-up on to what was in
// service and what is wanted, with event.
func (c Cluster) move(p *Plan, gr *group, from, to, factor, event string) {
	b := &builder{c: c}
	running := c.inService(gr, from)
	sinks := b.removes(running, on(from), factor)
	todo := running
	for _, t := range c.wanted(gr) {
		if !slices.Contains(todo, t) {
			todo = append(todo, t)
		}
	}
	b.restores(todo, to, event, sinks)
	p.Steps = b.steps
}

func (p *Plan) note(format string, args ...any) {
	p.Notes = append(p.Notes, fmt.Sprintf(format, args...))
}

func (p *Plan) setStatus(t string, st model.Status) {
	if p.Status == nil {
		p.Status = map[string]model.Status{}
	}
	p.Status[t] = st
}

func (p *Plan) setGroup(name string, gs model.GroupStatus) {
	if p.Groups == nil {
		p.Groups = map[string]model.GroupStatus{}
	}
	p.Groups[name] = gs
}

func (p *Plan) empty() bool {
	return len(p.Steps) == 0 && len(p.Notes) == 0 && len(p.Status) == 0 && len(p.Groups) == 0 &&
		len(p.Targets) == 0 && len(p.Adopt) == 0
}

func cloneGroup(gs model.GroupStatus) model.GroupStatus {
	gs.FailedOn = maps.Clone(gs.FailedOn)
	return gs
}

// assume returns c as it is once p has run and every step succeeded:
// targets, statuses and bookkeeping recorded, a restore makes its
// resource ISP on its node with its event, a remove makes it OSU when it
// ran where the resource was (a cleanup remove elsewhere changes
// nothing). c is not modified.
func assume(c Cluster, p Plan) Cluster {
	c.Status = maps.Clone(c.Status)
	if c.Status == nil {
		c.Status = map[string]model.Status{}
	}
	c.Groups = maps.Clone(c.Groups)
	if c.Groups == nil {
		c.Groups = map[string]model.GroupStatus{}
	}
	for t, tg := range p.Targets {
		st := c.Status[t]
		st.Target = tg
		c.Status[t] = st
	}
	maps.Copy(c.Status, p.Status)
	maps.Copy(c.Groups, p.Groups)
	for _, s := range p.Steps {
		st := c.status(s.Tag)
		switch s.Action {
		case ark.Restore:
			st.State, st.Node, st.Event, st.Reason, st.Since = model.ISP, s.Node, s.Event, "", c.Now
		case ark.Remove:
			if st.Node != s.Node && st.Node != "" {
				continue
			}
			if st.State != model.OSU {
				st.Since = c.Now
			}
			st.State, st.Reason = model.OSU, ""
		default:
			continue
		}
		c.Status[s.Tag] = st
	}
	return c
}

// groups returns every failover group of c, in name order.
func (c Cluster) groups() []*group {
	if c.Graph == nil {
		return nil
	}
	var out []*group
	for _, tags := range c.Graph.Groups() {
		out = append(out, groupOf(c.Graph, tags[0]))
	}
	return out
}

// Reconcile is the leader's answer to the cluster as it is: one plan per
// failover group that needs something (steps, bookkeeping or only notes
// explaining why nothing moves), groups in name order. Each plan has
// Group set; its steps carry their node and may wait for steps on other
// nodes; Status and Groups are recorded before the steps run. Later
// groups are decided as if the plans of earlier ones had succeeded (so
// the balanced policy counts them). Per group, where is the set of nodes
// on which a resource of the group is ISP/ISU and wanted says whether a
// resource of it has target ONLINE:
//
//  1. A resource UNKNOWN: nothing but a note (it needs stop -f or a
//     fence), unless its node is down and safe (fenced, or its lease
//     ran out): then it certainly stopped, and counts as in service
//     there (3 fails it over, recording it OSU). In service on two
//     nodes: only a SAFETY note.
//  2. where = {N}, N up: nothing, except the cluster return (5); wanted
//     members OSU (a daemon that came back found them stopped while the
//     rest still ran) restored bottom-up on N with START, when N is not
//     in maintenance; and, with switchback automatic, a move to
//     Place()'s node when its priority is strictly better than N's
//     (remove top-down on N with GROUPMOVE, restore bottom-up there with
//     START; not when N is in maintenance).
//  3. where = {N}, N not up: N in maintenance, or in doubt (not Safe):
//     nothing but a note. N Safe: failover (below) from N, its
//     in-service resources recorded OSU on N ("node N lost").
//  4. where = {}, wanted: when a resource is OSF on a node F (it failed
//     there and F removed the group), failover from F; when nothing
//     failed, restore the wanted resources on Place()'s node with START
//     (no failover counted); nothing but a note when the group is Stuck.
//  5. Cluster return (CLUSTERPRO (4)/(7)): the group failed over from R
//     (GroupStatus.FailedOverFrom), R is up again (not in maintenance)
//     and the group runs on another, up node: on R, remove every
//     resource of the group top-down with ARK_EVENT=RECOVER and
//     ARK_FACTOR=GROUPFAILOVER (the recovery work a CLUSTERPRO start
//     script does on RECOVER; remove is safe on a stopped resource), and
//     forget R. It comes before a switchback of the group, which waits
//     for the next reconcile.
//
// A failover from F restores the wanted resources (target ONLINE and
// everything below them) bottom-up on Place(group, F) with FAILOVER,
// counts the failover (the count restarts when ResetAfter has passed
// since the window's start), and records FailedOn[F] = Now and
// FailedOverFrom = F. When the count already reached the group's
// max_failovers, or no node can host the group, nothing moves: the group
// gets Stuck with the reason, and its failed resources (those OSF on F,
// or in service on the lost node F) are recorded OSF on F with the
// reason. Only an admin start (ClusterStart) clears Stuck; Stuck from
// "no node can host it" too, so a restricted group whose nodes are all
// lost waits for the admin even when one comes back.
func Reconcile(c Cluster) []Plan {
	var out []Plan
	for _, gr := range c.groups() {
		p := c.reconcile(gr)
		if p.empty() {
			continue
		}
		out = append(out, p)
		c = assume(c, p)
	}
	return out
}

func (c Cluster) reconcile(gr *group) Plan {
	p := Plan{Group: gr.name}
	where := c.where(gr)
	blocked := false
	for _, t := range c.unknown(gr) {
		node := c.status(t).Node
		if c.stopped(node) {
			// Fenced, or its lease ran out: it certainly does not run.
			if !slices.Contains(where, node) {
				where = append(where, node)
				c.byFileOrder(where)
			}
			continue
		}
		blocked = true
		p.note("resource %s is UNKNOWN (a remove failed on node %s; it may still run): group %s waits for stop -f or a fence",
			t, node, gr.name)
	}
	if blocked {
		return p
	}
	if len(where) > 1 {
		p.note("SAFETY: group %s is in service on %s", gr.name, joinAnd(where))
		return p
	}
	gs := c.Groups[gr.name]
	if len(where) == 1 {
		name := where[0]
		n, i := c.node(name)
		if n.Up && i >= 0 {
			if r := gs.FailedOverFrom; r != "" && r != name {
				if rn, j := c.node(r); j >= 0 && rn.Up && !rn.Maintenance {
					c.clusterReturn(&p, gr, r)
					return p
				}
			}
			if c.complete(&p, gr, n) {
				return p
			}
			c.switchback(&p, gr, n)
			return p
		}
		switch {
		case n.Maintenance:
			p.note("node %s is in maintenance: group %s stays on it", name, gr.name)
		case !n.Safe && n.SafeAt.IsZero():
			p.note("node %s needs a fence", name)
		case !n.Safe:
			p.note("waiting for node %s to be certainly stopped (until %s)", name, n.SafeAt.Format(time.RFC3339))
		default:
			lost := c.inService(gr, name)
			for _, t := range c.unknown(gr) {
				if c.status(t).Node == name {
					lost = append(lost, t)
				}
			}
			slices.Sort(lost)
			c.failover(&p, gr, name, lost, nil)
		}
		return p
	}
	wanted := c.wanted(gr)
	if len(wanted) == 0 {
		return p
	}
	if gs.Stuck != "" {
		p.note("group %s stays out of service: %s (an admin start clears it)", gr.name, gs.Stuck)
		return p
	}
	if from, failed := c.failed(gr); from != "" {
		c.failover(&p, gr, from, nil, failed)
		return p
	}
	to, why := c.place(gr, nil)
	if to == "" {
		gs = cloneGroup(gs)
		gs.Stuck = "no node can host it: " + why
		p.setGroup(gr.name, gs)
		p.note("group %s stays out of service: %s", gr.name, gs.Stuck)
		return p
	}
	b := &builder{c: c}
	b.restores(wanted, to, ark.EventStart, nil)
	p.Steps = b.steps
	p.note("group %s starts on %s", gr.name, why)
	return p
}

// failed returns the node the group last failed on (a member OSF there,
// the latest if several) and the members OSF there.
func (c Cluster) failed(gr *group) (string, []string) {
	from, at := "", time.Time{}
	for _, t := range gr.tags {
		if st := c.status(t); st.State == model.OSF && st.Node != "" && (from == "" || st.Since.After(at)) {
			from, at = st.Node, st.Since
		}
	}
	var tags []string
	for _, t := range gr.tags {
		if st := c.status(t); st.State == model.OSF && st.Node == from {
			tags = append(tags, t)
		}
	}
	return from, tags
}

// failover adds to p the failover of gr away from node from: lost are
// the members that were in service on a lost node, failed those OSF
// there (see Reconcile).
func (c Cluster) failover(p *Plan, gr *group, from string, lost, failed []string) {
	gs := cloneGroup(c.Groups[gr.name])
	count, window := gs.Failovers, gs.WindowStart
	if window.IsZero() || c.Now.Sub(window) >= gr.resetAfter {
		count, window = 0, c.Now // a new window: the quiet period is over
	}
	if gs.FailedOn == nil {
		gs.FailedOn = map[string]time.Time{}
	}
	gs.FailedOn[from] = c.Now
	stuck := ""
	to, why := "", ""
	if count >= gr.limit {
		stuck = fmt.Sprintf("max_failovers (%d) reached within %s", gr.limit, gr.resetAfter)
	} else if to, why = c.place(gr, []string{from}); to == "" {
		stuck = "no node can host it: " + why
	}
	if stuck != "" {
		gs.Stuck = stuck
		p.setGroup(gr.name, gs)
		for _, t := range append(slices.Clone(lost), failed...) {
			st := c.status(t)
			if st.State != model.OSF {
				st.Since = c.Now
			}
			st.State, st.Node, st.Reason = model.OSF, from, stuck
			p.setStatus(t, st)
		}
		p.note("group %s does not fail over from %s: %s", gr.name, from, stuck)
		return
	}
	gs.Failovers, gs.WindowStart = count+1, window
	gs.FailedOverFrom = from
	p.setGroup(gr.name, gs)
	for _, t := range lost {
		st := c.status(t)
		st.State, st.Node, st.Reason, st.Since = model.OSU, from, "node "+from+" lost", c.Now
		p.setStatus(t, st)
	}
	b := &builder{c: c}
	b.restores(c.wanted(gr), to, ark.EventFailover, nil)
	p.Steps = b.steps
	p.note("group %s fails over from %s to %s: failover %d of %d within %s",
		gr.name, from, why, gs.Failovers, gr.limit, gr.resetAfter)
}

// clusterReturn adds rule 5 of Reconcile to p.
func (c Cluster) clusterReturn(p *Plan, gr *group, r string) {
	b := &builder{c: c}
	b.add(gr.tags, ark.Remove, on(r), fixed(ark.EventRecover), ark.FactorGroupFailover, nil)
	p.Steps = b.steps
	gs := cloneGroup(c.Groups[gr.name])
	gs.FailedOverFrom = ""
	p.setGroup(gr.name, gs)
	p.note("node %s is back: it cleans up after group %s failed over from it (ARK_EVENT=RECOVER)", r, gr.name)
}

// complete adds to p the restore on n, where gr runs, of its wanted
// members that are out of service but not failed (OSU), and reports
// whether there were any. A failed member (OSF) is the failure
// handling's business, and a node in maintenance gets nothing.
func (c Cluster) complete(p *Plan, gr *group, n Node) bool {
	if n.Maintenance {
		return false
	}
	var missing []string
	for _, t := range c.wanted(gr) {
		if c.status(t).State == model.OSU {
			missing = append(missing, t)
		}
	}
	if len(missing) == 0 {
		return false
	}
	b := &builder{c: c}
	b.restores(missing, n.Name, ark.EventStart, nil)
	p.Steps = b.steps
	p.note("group %s runs on %s without %s: restoring it there", gr.name, n.Name, joinAnd(missing))
	return true
}

// switchback adds the automatic switchback of gr, running on n, to p.
func (c Cluster) switchback(p *Plan, gr *group, n Node) {
	if gr.switchback != model.SwitchbackAutomatic || n.Maintenance {
		return
	}
	to, why := c.place(gr, nil)
	if to == "" || to == n.Name || c.priority(gr, to) >= c.priority(gr, n.Name) {
		return
	}
	c.move(p, gr, n.Name, to, ark.FactorGroupMove, ark.EventStart)
	p.note("switchback automatic: group %s moves back from %s to %s", gr.name, n.Name, why)
}

func joinAnd(names []string) string {
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// host checks that node may be given gr by an admin request about tag.
func (c Cluster) host(gr *group, tag, node string) error {
	n, i := c.node(node)
	if r := unavailable(n, i >= 0); r != "" {
		return &Error{Tag: tag, Msg: "node " + r}
	}
	if r := unfit(gr, n); r != "" {
		return &Error{Tag: tag, Msg: "node " + r}
	}
	return nil
}

// groupFor returns tag's group and the node it is in service on (none
// or one) for an admin start or move: it refuses an undefined tag, a
// group with an UNKNOWN resource, and a group in service on two nodes.
func (c Cluster) groupFor(tag string) (*group, []string, error) {
	gr := groupOf(c.Graph, tag)
	if gr == nil {
		return nil, nil, &Error{Tag: tag, Msg: "not defined"}
	}
	if unk := c.unknown(gr); len(unk) > 0 {
		return nil, nil, &Error{Tag: unk[0], Msg: "state is UNKNOWN (a remove failed; it may still be running): run stop -f on it first"}
	}
	where := c.where(gr)
	if len(where) > 1 {
		return nil, nil, &Error{Tag: tag, Msg: fmt.Sprintf("SAFETY: group %s is in service on %s", gr.name, joinAnd(where))}
	}
	return gr, where, nil
}

// ClusterStart plans the admin start of tag and everything it depends
// on: on node when given, else on the node where tag's group already has
// something in service, else on Place(). It refuses (*Error) a node that
// is not up, a witness, in maintenance, not allowed by a resource of the
// group or lacking one of its types, a group with an UNKNOWN resource,
// and a group that runs on another node (relocate moves it). The
// resources get target ONLINE; those not in service are restored
// bottom-up with ARK_EVENT=START. The group's bookkeeping starts afresh
// (Plan.Groups: Stuck and the failover count cleared, failures
// forgotten); only a pending cluster return (FailedOverFrom) is kept,
// the node it names still owing its cleanup.
func ClusterStart(c Cluster, tag, node string) (Plan, error) {
	gr, where, err := c.groupFor(tag)
	if err != nil {
		return Plan{}, err
	}
	p := Plan{Group: gr.name, Targets: map[string]model.Target{}}
	switch {
	case len(where) == 1 && node != "" && node != where[0]:
		return Plan{}, &Error{Tag: tag, Msg: fmt.Sprintf("group %s runs on node %s: use relocate", gr.name, where[0])}
	case len(where) == 1:
		node = where[0]
	case node == "":
		to, why := c.place(gr, nil)
		if to == "" {
			return Plan{}, &Error{Tag: tag, Msg: "no node can host it: " + why}
		}
		node = to
		p.note("group %s starts on %s", gr.name, why)
	}
	if err := c.host(gr, tag, node); err != nil {
		return Plan{}, err
	}
	var todo []string
	for _, t := range c.Graph.Below(tag) {
		p.Targets[t] = model.Online
		if c.status(t).State.InService() {
			p.note("%s is already in service on %s", t, node)
			continue
		}
		todo = append(todo, t)
	}
	p.setGroup(gr.name, model.GroupStatus{FailedOverFrom: c.Groups[gr.name].FailedOverFrom})
	b := &builder{c: c}
	b.restores(todo, node, ark.EventStart, nil)
	p.Steps = b.steps
	return p, nil
}

// ClusterStop plans the admin stop of tag and everything that depends
// on it, like Stop: each gets target OFFLINE, and a remove runs, parents
// first, for each one in service, OSF or (with force only, else refused)
// UNKNOWN, on the node where it is (Status.Node), with
// ARK_FACTOR=GROUPSTOP and the ARK_EVENT of the restore that started it.
// A resource on a node that is down is not removed: on a safe node it is
// recorded OSU, on a node in doubt (or in maintenance) the stop is
// refused.
func ClusterStop(c Cluster, tag string, force bool) (Plan, error) {
	gr := groupOf(c.Graph, tag)
	if gr == nil {
		return Plan{}, &Error{Tag: tag, Msg: "not defined"}
	}
	p := Plan{Group: gr.name, Targets: map[string]model.Target{}}
	var todo []string
	for _, t := range c.Graph.Above(tag) {
		p.Targets[t] = model.Offline
		st := c.status(t)
		switch {
		case st.State == model.OSU:
			p.note("%s is already out of service", t)
			continue
		case st.State == model.Unknown && !force:
			return Plan{}, &Error{Tag: t, Msg: "state is UNKNOWN (a remove failed; it may still be running): stop -f runs remove again and clears it when it succeeds"}
		case st.Node == "":
			p.note("%s is %s on no known node: nothing to remove", t, st.State)
			continue
		}
		n, i := c.node(st.Node)
		switch {
		case i >= 0 && n.Up && n.Maintenance:
			return Plan{}, &Error{Tag: t, Msg: fmt.Sprintf("node %s is in maintenance: it runs nothing until maintenance is off", st.Node)}
		case i >= 0 && n.Up:
			todo = append(todo, t)
		case n.Safe:
			st.State, st.Reason, st.Since = model.OSU, "node "+st.Node+" lost", c.Now
			p.setStatus(t, st)
			p.note("%s was on node %s, which is down and stopped: recorded out of service", t, n.Name)
		default:
			return Plan{}, &Error{Tag: t, Msg: fmt.Sprintf("node %s is down and may still run it: wait until it is certainly stopped, or fence it", st.Node)}
		}
	}
	b := &builder{c: c}
	b.removes(todo, func(t string) string { return c.status(t).Node }, ark.FactorGroupStop)
	p.Steps = b.steps
	return p, nil
}

// Relocate plans moving tag's whole failover group, which must be in
// service on one node other than node, to node (Place() excluding the
// current node when node is ""), checked as ClusterStart checks its
// node; the current node must be up and not in maintenance. It removes
// top-down on the current node (ARK_FACTOR=GROUPMOVE, each resource's
// ARK_EVENT) and then, after all removes, restores bottom-up on the new
// node with ARK_EVENT=START what was in service and what is wanted.
// Targets are unchanged.
func Relocate(c Cluster, tag, node string) (Plan, error) {
	gr, where, err := c.groupFor(tag)
	if err != nil {
		return Plan{}, err
	}
	if len(where) == 0 {
		return Plan{}, &Error{Tag: tag, Msg: fmt.Sprintf("group %s is not in service: use start", gr.name)}
	}
	from := where[0]
	if from == node {
		return Plan{}, &Error{Tag: tag, Msg: fmt.Sprintf("group %s already runs on node %s", gr.name, node)}
	}
	if n, i := c.node(from); i < 0 || !n.Up || n.Maintenance {
		return Plan{}, &Error{Tag: tag, Msg: fmt.Sprintf("group %s runs on node %s, which cannot remove it now (%s)", gr.name, from, unavailable(n, i >= 0))}
	}
	p := Plan{Group: gr.name}
	if node == "" {
		to, why := c.place(gr, []string{from})
		if to == "" {
			return Plan{}, &Error{Tag: tag, Msg: "no node can host it: " + why}
		}
		node = to
		p.note("group %s moves to %s", gr.name, why)
	}
	if err := c.host(gr, tag, node); err != nil {
		return Plan{}, err
	}
	c.move(&p, gr, from, node, ark.FactorGroupMove, ark.EventStart)
	return p, nil
}

// Evacuate plans CLUSTERPRO's server separation (10): every group in
// service on from moves to Place() excluding from, removed top-down
// there with ARK_FACTOR=NODELEAVE and restored bottom-up with
// ARK_EVENT=FAILOVER; no failover is counted. A group no node can host
// stays, with a note; so does every group when from is down or in
// maintenance, and a group in an unsafe state (UNKNOWN, on two nodes).
// Groups are taken in name order, each placed as if the earlier moves
// were done.
func Evacuate(c Cluster, from string) []Plan {
	n, i := c.node(from)
	var out []Plan
	for _, gr := range c.groups() {
		where := c.where(gr)
		if !slices.Contains(where, from) {
			continue
		}
		p := Plan{Group: gr.name}
		switch unk := c.unknown(gr); {
		case i < 0 || !n.Up || n.Maintenance:
			p.note("group %s stays on %s: %s", gr.name, from, unavailable(n, i >= 0))
		case len(unk) > 0:
			p.note("group %s stays on %s: %s is UNKNOWN", gr.name, from, unk[0])
		case len(where) > 1:
			p.note("SAFETY: group %s is in service on %s", gr.name, joinAnd(where))
		default:
			to, why := c.place(gr, []string{from})
			if to == "" {
				p.note("group %s stays on %s: no node can host it: %s", gr.name, from, why)
				break
			}
			c.move(&p, gr, from, to, ark.FactorNodeLeave, ark.EventFailover)
			p.note("group %s leaves %s for %s", gr.name, from, why)
		}
		out = append(out, p)
		c = assume(c, p)
	}
	return out
}

// Balance plans CAA's balance: each group in service on one node that is
// up and not in maintenance moves to its Place() when that node is
// strictly better than where it is by the group's policy: a better
// priority for priority; strictly fewer groups after the move for
// balanced; for stable, a node where it never failed (or failed longer
// ago) than where it is, then a better priority. A node the group may
// no longer use (priorities or types changed) is always worse.
// Removes ARK_FACTOR=GROUPMOVE, restores ARK_EVENT=START. Groups are
// taken in name order, each decided as if the earlier moves were done.
func Balance(c Cluster) []Plan {
	var out []Plan
	for _, gr := range c.groups() {
		where := c.where(gr)
		if len(where) != 1 || len(c.unknown(gr)) > 0 {
			continue
		}
		from := where[0]
		n, i := c.node(from)
		if i < 0 || !n.Up || n.Maintenance {
			continue
		}
		to, why := c.place(gr, nil)
		if to == "" || to == from {
			continue
		}
		if unfit(gr, n) == "" && gr.better(c.candidate(gr, to), c.candidate(gr, from)) >= 0 {
			continue
		}
		if gr.policy == model.PolicyBalanced && unfit(gr, n) == "" && c.load(to, gr.name) >= c.load(from, gr.name) {
			continue
		}
		p := Plan{Group: gr.name}
		c.move(&p, gr, from, to, ark.FactorGroupMove, ark.EventStart)
		p.note("balance: group %s moves from %s to %s", gr.name, from, why)
		out = append(out, p)
		c = assume(c, p)
	}
	return out
}

// ClusterShutdown plans a shutdown: with node "", the cluster's
// (CLUSTERPRO's cluster shutdown): every group in service anywhere is
// removed top-down on its node with ARK_FACTOR=CLUSTERSHUTDOWN; else the
// server shutdown of node: only the groups in service there, with
// SERVERSHUTDOWN. Removes carry each resource's ARK_EVENT. Targets are
// unchanged, so the groups come back when the nodes do (Reconcile).
// Resources on a node that is down or in maintenance are left, with a
// note; UNKNOWN ones too.
func ClusterShutdown(c Cluster, node string) []Plan {
	factor := ark.FactorClusterShutdown
	if node != "" {
		factor = ark.FactorServerShutdown
	}
	var out []Plan
	for _, gr := range c.groups() {
		p := Plan{Group: gr.name}
		var todo []string
		for _, w := range c.where(gr) {
			if node != "" && w != node {
				continue
			}
			if n, i := c.node(w); i < 0 || !n.Up || n.Maintenance {
				p.note("group %s is left on %s: %s", gr.name, w, unavailable(n, i >= 0))
				continue
			}
			todo = append(todo, c.inService(gr, w)...)
		}
		for _, t := range c.unknown(gr) {
			if node == "" || c.status(t).Node == node {
				p.note("%s is UNKNOWN: it needs stop -f", t)
			}
		}
		b := &builder{c: c}
		b.removes(todo, func(t string) string { return c.status(t).Node }, factor)
		p.Steps = b.steps
		if !p.empty() {
			out = append(out, p)
		}
	}
	return out
}
