package scheduler

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ark-ha/ark/host/model"
	"github.com/ark-ha/ark/sdk/ark"
)

// Snapshot is what a decision is made from.
type Snapshot struct {
	Node   string // the node the plan runs on
	Graph  *model.Graph
	Status map[string]model.Status
	Now    time.Time
}

func (s Snapshot) state(tag string) model.State {
	if st, ok := s.Status[tag]; ok && st.State != "" {
		return st.State
	}
	return model.OSU
}

// Step is one action on one resource on one node.
type Step struct {
	ID     int
	Tag    string
	Node   string
	Action ark.Action // Restore or Remove
	Event  string     // ARK_EVENT of a restore
	Factor string     // ARK_FACTOR of a remove
	// After lists the steps (by ID) that must succeed before this one
	// runs: a restore waits for its children, a remove for its parents.
	After []int
}

func (s Step) String() string {
	why := s.Event
	if s.Action == ark.Remove {
		why = s.Factor
	}
	out := fmt.Sprintf("%d %s %s %s %s", s.ID, s.Node, s.Action, s.Tag, why)
	if len(s.After) > 0 {
		var a []string
		for _, id := range s.After {
			a = append(a, fmt.Sprint(id))
		}
		out += " after " + strings.Join(a, ",")
	}
	return out
}

// Plan is a decision: steps to run, and what to record before they run.
type Plan struct {
	// Group names the failover group a cluster plan is about (Reconcile
	// returns one plan per group); empty for a node's own plans.
	Group string
	Steps []Step
	// Targets are the targets to record before the steps run.
	Targets map[string]model.Target
	// Adopt lists resources found running that become ISP without an
	// action (daemon start).
	Adopt []string
	// Notes explain the decision for events and `simulate`.
	Notes []string
	// Status holds statuses to record before the steps run (a group
	// that stops moving is marked OSF with its reason).
	Status map[string]model.Status
	// Groups holds the new bookkeeping of the groups the plan changes
	// (a failover counted, a failure remembered), recorded before the
	// steps run.
	Groups map[string]model.GroupStatus
}

func (p Plan) String() string {
	var b strings.Builder
	for _, t := range sortedKeys(p.Targets) {
		fmt.Fprintf(&b, "target %s %s\n", t, p.Targets[t])
	}
	for _, t := range p.Adopt {
		fmt.Fprintf(&b, "adopt %s\n", t)
	}
	for _, s := range p.Steps {
		fmt.Fprintf(&b, "step %s\n", s)
	}
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "note %s\n", n)
	}
	return b.String()
}

// Error is a request the scheduler refuses, naming the resource.
type Error struct {
	Tag string
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("resource %s: %s", e.Tag, e.Msg) }

// Start plans bringing tag and everything it depends on into service on
// s.Node, children first: every one of them gets target ONLINE, and a
// restore runs for each that is not in service. An UNKNOWN resource is
// refused (it may still run somewhere: stop -f it first).
func Start(s Snapshot, tag string) (Plan, error) {
	if s.Graph.Resource(tag) == nil {
		return Plan{}, &Error{Tag: tag, Msg: "not defined"}
	}
	below := s.Graph.Below(tag)
	p := Plan{Targets: map[string]model.Target{}}
	var todo []string
	for _, t := range below {
		p.Targets[t] = model.Online
		switch st := s.state(t); {
		case st == model.Unknown:
			return Plan{}, &Error{Tag: t, Msg: "state is UNKNOWN (a remove failed; it may still be running): run stop -f on it first"}
		case st.InService():
			p.Notes = append(p.Notes, t+" is already in service")
		default:
			todo = append(todo, t)
		}
	}
	p.Steps = steps(s, s.Graph.StartLayers(todo), ark.Restore, ark.EventStart, "", s.Graph.Children)
	return p, nil
}

// Stop plans taking tag and everything that depends on it out of
// service on s.Node, parents first: every one of them gets target
// OFFLINE and a remove runs for each that is in service or OSF (remove is
// safe on a stopped resource and cleans up after a failed restore). An
// UNKNOWN resource is removed only when force is set (CAA's caa_stop -f).
func Stop(s Snapshot, tag string, force bool) (Plan, error) {
	if s.Graph.Resource(tag) == nil {
		return Plan{}, &Error{Tag: tag, Msg: "not defined"}
	}
	above := s.Graph.Above(tag)
	p := Plan{Targets: map[string]model.Target{}}
	var todo []string
	for _, t := range above {
		p.Targets[t] = model.Offline
		switch st := s.state(t); st {
		case model.Unknown:
			if !force {
				return Plan{}, &Error{Tag: t, Msg: "state is UNKNOWN (a remove failed; it may still be running): stop -f runs remove again and clears it when it succeeds"}
			}
			todo = append(todo, t)
		case model.OSU:
			p.Notes = append(p.Notes, t+" is already out of service")
		default:
			todo = append(todo, t)
		}
	}
	p.Steps = steps(s, s.Graph.StopLayers(todo), ark.Remove, "", ark.FactorGroupStop, s.Graph.Parents)
	return p, nil
}

// steps turns layers into steps, each after the steps of its
// predecessors (first) that are in the plan.
func steps(s Snapshot, layers [][]string, a ark.Action, event, factor string, first func(string) []string) []Step {
	id := map[string]int{}
	var out []Step
	for _, layer := range layers {
		for _, t := range layer {
			st := Step{ID: len(out) + 1, Tag: t, Node: s.Node, Action: a, Event: event, Factor: factor}
			for _, f := range first(t) {
				if n, ok := id[f]; ok {
					st.After = append(st.After, n)
				}
			}
			id[t] = st.ID
			out = append(out, st)
		}
	}
	return out
}

// Verdict is what to do about a failed resource.
type Verdict int

// Verdicts.
const (
	// Recover: run the resource's recover in place.
	Recover Verdict = iota + 1
	// GiveUp: take the failover group out of service on this node and
	// mark the failed resource OSF (the cluster adds: restore elsewhere).
	GiveUp
)

func (v Verdict) String() string {
	switch v {
	case Recover:
		return "recover"
	case GiveUp:
		return "give up"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Decision is the answer to a failure.
type Decision struct {
	Verdict Verdict
	// Status is the failed resource's status with its counters updated
	// (the failure counted, the restart counted when recovering).
	Status model.Status
	// Plan removes the group when giving up.
	Plan Plan
	// Why explains the verdict.
	Why string
}

// Failure decides what to do about tag's failure on s.Node (DESIGN §5,
// CAA's restart_attempts/failure_interval/failure_threshold): count it
// in the current failure interval (a new interval starts when the last
// one is over), recover in place while restarts remain and the failure
// threshold is not reached and the type can recover, else give up.
// canRecover says whether the kit implements recover.
func Failure(s Snapshot, tag string, canRecover bool) (Decision, error) {
	r := s.Graph.Resource(tag)
	if r == nil {
		return Decision{}, &Error{Tag: tag, Msg: "not defined"}
	}
	st := s.Status[tag]
	if st.WindowStart.IsZero() || (r.FailureInterval > 0 && s.Now.Sub(st.WindowStart) >= r.FailureInterval) {
		st.WindowStart, st.Restarts, st.Failures = s.Now, 0, 0
	}
	st.Failures++
	d := Decision{Status: st}
	switch {
	case r.FailureThreshold > 0 && st.Failures >= r.FailureThreshold:
		d.Why = fmt.Sprintf("failure threshold reached (%d failures%s)", st.Failures, within(r))
	case !canRecover:
		d.Why = "the type has no recover action"
	case st.Restarts >= r.Restarts():
		d.Why = fmt.Sprintf("restart attempts exhausted (%d of %d%s)", st.Restarts, r.Restarts(), within(r))
	default:
		d.Verdict = Recover
		d.Status.Restarts++
		d.Why = fmt.Sprintf("restart attempt %d of %d", d.Status.Restarts, r.Restarts())
		return d, nil
	}
	d.Verdict = GiveUp
	d.Plan = GroupDown(s, tag, ark.FactorGroupFailover)
	return d, nil
}

func within(r *model.Resource) string {
	if r.FailureInterval > 0 {
		return " within " + r.FailureInterval.String()
	}
	return ""
}

// GroupDown plans removing, parents first, every resource of tag's
// failover group that is in service on s.Node, with ARK_FACTOR factor.
// Targets are left as they are: the admin still wants the group online.
func GroupDown(s Snapshot, tag, factor string) Plan {
	var todo []string
	for _, t := range s.Graph.Group(tag) {
		if st := s.state(t); st.InService() || t == tag {
			todo = append(todo, t)
		}
	}
	return Down(s, todo, factor)
}

// Down plans removing tags, parents first, with ARK_FACTOR factor: the
// roll-back of a start that failed half-way.
func Down(s Snapshot, tags []string, factor string) Plan {
	return Plan{Steps: steps(s, s.Graph.StopLayers(tags), ark.Remove, "", factor, s.Graph.Parents)}
}

// Probe is what the daemon found out about a resource at start.
type Probe int

// Probe results.
const (
	// NotProbed: the daemon did not probe it (target OFFLINE).
	NotProbed Probe = iota
	// Running: quickCheck succeeded.
	Running
	// Stopped: quickCheck failed, or could not run.
	Stopped
	// Unprobeable: the type has no quickCheck; the recorded state is
	// trusted.
	Unprobeable
)

// Boot plans the daemon's start on s.Node (LifeKeeper's lkstart, CAA's
// restart without touching services): resources whose target is ONLINE
// and whose recorded state is in service are adopted when the probe
// finds them running (or cannot probe them), and restored (children
// first, ARK_EVENT=START) when it does not; so are those the daemon's
// own orderly shutdown took down (model.ReasonShutdown). Everything else
// — target OFFLINE, OSU, OSF, UNKNOWN — is left alone.
func Boot(s Snapshot, probes map[string]Probe) Plan {
	var p Plan
	var todo []string
	for _, t := range s.Graph.Tags() {
		st := s.Status[t]
		if st.Target != model.Online {
			continue
		}
		if st.State == model.OSU && st.Reason == model.ReasonShutdown {
			todo = append(todo, t)
			p.Notes = append(p.Notes, t+" was taken down by the node's shutdown: restore it")
			continue
		}
		if !st.State.InService() {
			continue
		}
		switch probes[t] {
		case Running, Unprobeable:
			p.Adopt = append(p.Adopt, t)
		default:
			todo = append(todo, t)
			p.Notes = append(p.Notes, t+" was in service and is not running: restore it")
		}
	}
	p.Steps = steps(s, s.Graph.StartLayers(todo), ark.Restore, ark.EventStart, "", s.Graph.Children)
	return p
}

// Probes lists the resources Boot needs probed: target ONLINE and
// recorded in service. Sorted.
func Probes(s Snapshot) []string {
	var out []string
	for _, t := range s.Graph.Tags() {
		if st := s.Status[t]; st.Target == model.Online && st.State.InService() {
			out = append(out, t)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
