package model

import (
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/ark-ha/ark/sdk/ark"
)

// State is a resource's state on a node, LifeKeeper's names kept verbatim.
type State string

// Resource states.
const (
	ISP     State = "ISP"     // in service, protected (monitored)
	ISU     State = "ISU"     // in service, unprotected (being removed, or not monitored)
	OSU     State = "OSU"     // out of service, unimpaired
	OSF     State = "OSF"     // out of service, failed
	Unknown State = "UNKNOWN" // a remove failed: it may still run; only stop -f clears it
)

// InService reports whether s means the resource runs on its node.
func (s State) InService() bool { return s == ISP || s == ISU }

// ReasonShutdown is the Status.Reason of resources the daemon took out
// of service at its own orderly shutdown: its next start restores them.
const ReasonShutdown = "node shutdown"

// Target is what the admin asked for (CAA's target).
type Target string

// Targets.
const (
	Online  Target = "ONLINE"
	Offline Target = "OFFLINE"
)

// Defaults of a resource definition's optional fields.
const (
	DefaultInterval        = 120 * time.Second // LifeKeeper's LKCHECKINTERVAL
	MinInterval            = 100 * time.Millisecond
	DefaultRestartAttempts = 1 // CAA's restart_attempts
)

// Pos is where something was defined, for error messages.
type Pos struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
}

func (p Pos) String() string {
	if p.File == "" {
		return ""
	}
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Resource is one resource definition (DESIGN §3). Zero values of the
// optional fields mean the defaults documented on each field; the config
// parser fills nothing in, so that what the admin wrote is what update
// compares.
type Resource struct {
	Tag  string `json:"tag"`
	Type string `json:"type"`
	// ID is LifeKeeper's resource id, passed to actions as ID and -i; the
	// tag when empty.
	ID     string            `json:"id,omitempty"`
	Params map[string]string `json:"params,omitempty"`
	// DependsOn lists the children: resources that must be in service
	// before this one starts and stay up while it runs.
	DependsOn []string `json:"depends_on,omitempty"`
	// Priorities maps node name to priority (1 = most preferred). Empty:
	// any node may host it. A node absent from a non-empty map may not.
	Priorities map[string]int `json:"priorities,omitempty"`
	// Interval between quickChecks; DefaultInterval when 0.
	Interval time.Duration `json:"interval,omitempty"`
	// Timeouts overrides the kit's default timeout of an action; a
	// negative value means none.
	Timeouts map[ark.Action]time.Duration `json:"timeouts,omitempty"`
	// RestartAttempts is how many times recover runs within
	// FailureInterval before the resource is given up on this node;
	// DefaultRestartAttempts when nil, 0 disables local recovery.
	RestartAttempts *int `json:"restart_attempts,omitempty"`
	// FailureInterval is the window failures and restarts are counted
	// in; 0: they are counted until the admin starts the resource again.
	FailureInterval time.Duration `json:"failure_interval,omitempty"`
	// FailureThreshold: once this many failures happened within
	// FailureInterval the resource is no longer restarted; 0: no limit.
	FailureThreshold int `json:"failure_threshold,omitempty"`
	// QuickCheckTimeoutIsFailure makes a quickCheck timeout a failure
	// instead of a success with a warning.
	QuickCheckTimeoutIsFailure bool `json:"quickcheck_timeout_is_failure,omitempty"`
	// PidFile names a file holding the pid of the service's main
	// process, watched by the daemon (CLUSTERPRO's armload) so that its
	// death is a failure at once, not at the next quickCheck. Restore may
	// also write a pid to $ARK_PIDFILE, which is watched the same way.
	PidFile string `json:"pidfile,omitempty"`

	// Policy chooses the node of the resource's failover group:
	// PolicyPriority (default), PolicyStable or PolicyBalanced. The
	// resources of one group must agree (config.Check).
	Policy string `json:"policy,omitempty"`
	// Switchback is SwitchbackIntelligent (default) or
	// SwitchbackAutomatic.
	Switchback string `json:"switchback,omitempty"`
	// MaxFailovers bounds the group's failovers within
	// FailoverResetAfter; DefaultMaxFailovers when nil, 0 forbids
	// failover (the group stays OSF where it failed).
	MaxFailovers *int `json:"max_failovers,omitempty"`
	// FailoverResetAfter is the quiet period that resets the group's
	// failover count; DefaultFailoverResetAfter when 0.
	FailoverResetAfter time.Duration `json:"failover_reset_after,omitempty"`

	// Pos is where the definition was read; not part of its identity.
	Pos Pos `json:"pos"`
}

// ResourceID returns ID, or the tag when ID is empty.
func (r *Resource) ResourceID() string {
	if r.ID != "" {
		return r.ID
	}
	return r.Tag
}

// CheckInterval returns the quickCheck interval with its default.
func (r *Resource) CheckInterval() time.Duration {
	if r.Interval > 0 {
		return r.Interval
	}
	return DefaultInterval
}

// Restarts returns RestartAttempts with its default.
func (r *Resource) Restarts() int {
	if r.RestartAttempts != nil {
		return *r.RestartAttempts
	}
	return DefaultRestartAttempts
}

// Timeout returns the timeout of action a: the resource's own, else the
// kit's default; 0 means none.
func (r *Resource) Timeout(a ark.Action, kit ark.Info) time.Duration {
	if d, ok := r.Timeouts[a]; ok {
		return max(d, 0)
	}
	return kit.DefaultTimeouts[a]
}

// Same reports whether r and o define the same resource (Pos aside).
func (r *Resource) Same(o *Resource) bool {
	a, b := canon(*r), canon(*o)
	return reflect.DeepEqual(a, b)
}

// canon clears what does not change a definition's meaning: where it was
// read, the order of its children, empty versus nil maps.
func canon(r Resource) Resource {
	r.Pos = Pos{}
	r.DependsOn = slices.Clone(r.DependsOn)
	slices.Sort(r.DependsOn)
	if len(r.DependsOn) == 0 {
		r.DependsOn = nil
	}
	if len(r.Params) == 0 {
		r.Params = nil
	}
	if len(r.Priorities) == 0 {
		r.Priorities = nil
	}
	if len(r.Timeouts) == 0 {
		r.Timeouts = nil
	}
	return r
}

// Status is the observed state of a resource on this node and the
// admin's target for it, with CAA's counters (caa_stat -v).
type Status struct {
	Target Target `json:"target"`
	State  State  `json:"state"`
	// Node is the node the state was observed on.
	Node string `json:"node,omitempty"`
	// Restarts counts recovers within the current failure interval;
	// Failures counts failures within it, from WindowStart.
	Restarts    int       `json:"restarts"`
	Failures    int       `json:"failures"`
	WindowStart time.Time `json:"window_start,omitzero"`
	// Since is when State last changed.
	Since time.Time `json:"since,omitzero"`
	// Event is the ARK_EVENT of the restore that brought the resource
	// into service: its remove sees it too (CLUSTERPRO's rule).
	Event string `json:"event,omitempty"`
	// Pid is the watched process (pidfile or $ARK_PIDFILE), 0 if none.
	Pid int `json:"pid,omitempty"`
	// Reason says why the state is what it is when it is not ISP/OSU.
	Reason string `json:"reason,omitempty"`
}

// Kit is a resource type enabled on a node: a plugin binary pinned by
// its sha256.
type Kit struct {
	Name   string `json:"name"` // the resource type it provides
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Pos    Pos    `json:"pos"`
}

// Placement policies and switchback modes of a failover group (DESIGN §5).
const (
	// PolicyPriority places a group on the up node with the best
	// priority (CLUSTERPRO's default, CAA's favored).
	PolicyPriority = "priority"
	// PolicyStable prefers nodes where the group never failed, then the
	// one whose last failure of it is oldest (CLUSTERPRO's stable server).
	PolicyStable = "stable"
	// PolicyBalanced prefers the node hosting the fewest groups (CAA's
	// balanced).
	PolicyBalanced = "balanced"

	// SwitchbackIntelligent leaves a group where it is when a better
	// node returns (LifeKeeper's default): an admin moves it back.
	SwitchbackIntelligent = "intelligent"
	// SwitchbackAutomatic moves a group back to its best node as soon as
	// that node is up again.
	SwitchbackAutomatic = "automatic"

	// DefaultMaxFailovers is how many failovers a group makes within
	// FailoverResetAfter before it stops moving and stays OSF.
	DefaultMaxFailovers = 8
	// DefaultFailoverResetAfter is the quiet period after which a
	// group's failover count starts again from zero.
	DefaultFailoverResetAfter = time.Hour
)

// PlacementPolicy returns Policy with its default.
func (r *Resource) PlacementPolicy() string {
	if r.Policy != "" {
		return r.Policy
	}
	return PolicyPriority
}

// SwitchbackMode returns Switchback with its default.
func (r *Resource) SwitchbackMode() string {
	if r.Switchback != "" {
		return r.Switchback
	}
	return SwitchbackIntelligent
}

// FailoverLimit returns MaxFailovers with its default.
func (r *Resource) FailoverLimit() int {
	if r.MaxFailovers != nil {
		return *r.MaxFailovers
	}
	return DefaultMaxFailovers
}

// ResetAfter returns FailoverResetAfter with its default.
func (r *Resource) ResetAfter() time.Duration {
	if r.FailoverResetAfter > 0 {
		return r.FailoverResetAfter
	}
	return DefaultFailoverResetAfter
}

// Allowed reports whether node may host r: any node when r has no
// priorities, else only the nodes listed (CAA's restricted placement).
func (r *Resource) Allowed(node string) bool {
	if len(r.Priorities) == 0 {
		return true
	}
	_, ok := r.Priorities[node]
	return ok
}

// GroupStatus is the cluster's bookkeeping of one failover group,
// replicated with the resources' statuses.
type GroupStatus struct {
	// Failovers counts the failovers since WindowStart; a quiet period of
	// the group's ResetAfter starts a new count.
	Failovers   int       `json:"failovers"`
	WindowStart time.Time `json:"window_start,omitzero"`
	// FailedOn maps a node to the last time the group failed there (the
	// stable policy avoids such nodes).
	FailedOn map[string]time.Time `json:"failed_on,omitempty"`
	// FailedOverFrom is the node the group last failed over away from:
	// when that node returns it runs the group's cleanup (CLUSTERPRO's
	// cluster return, ARK_EVENT=RECOVER).
	FailedOverFrom string `json:"failed_over_from,omitempty"`
	// Stuck says why the group stopped moving (max_failovers reached, no
	// node can host it); empty when it may move.
	Stuck string `json:"stuck,omitempty"`
}

// IsZero reports whether g holds nothing worth keeping.
func (g GroupStatus) IsZero() bool {
	return g.Failovers == 0 && g.WindowStart.IsZero() && len(g.FailedOn) == 0 && g.FailedOverFrom == "" && g.Stuck == ""
}

// NodeStatus is the cluster's admin state of one node, replicated.
type NodeStatus struct {
	// Maintenance: the node keeps what runs on it but hosts nothing new
	// and nothing fails over because of it (arkctl maintenance on).
	Maintenance bool      `json:"maintenance,omitempty"`
	Since       time.Time `json:"since,omitzero"`
	// Reason says who asked: an admin, or the node's own shutdown with
	// --leave-services (cleared when its daemon starts again).
	Reason string `json:"reason,omitempty"`
}
