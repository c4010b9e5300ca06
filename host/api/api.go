package api

import "time"

// Paths served by arkd.
const (
	PathStatus   = "/v1/status"   // GET [?tag=T]: []Resource
	PathStart    = "/v1/start"    // POST Request: Outcome
	PathStop     = "/v1/stop"     // POST Request: Outcome
	PathDefine   = "/v1/define"   // POST DefineRequest: DefineReply
	PathEvents   = "/v1/events"   // GET ?since=RFC3339&after=SEQ&follow=1: JSON lines of events.Event
	PathKits     = "/v1/kits"     // GET: []Kit
	PathKit      = "/v1/kit"      // POST KitRequest: []Kit
	PathInsList  = "/v1/ins_list" // GET ?tag=T: InsList
	PathShutdown = "/v1/shutdown" // POST ShutdownRequest: Reply
	PathMonitor  = "/v1/monitor"  // GET: Monitor

	// Cluster mode.
	PathCluster     = "/v1/cluster"     // GET: Cluster
	PathRelocate    = "/v1/relocate"    // POST RelocateRequest: Outcome
	PathBalance     = "/v1/balance"     // POST Request (no tag): Outcome
	PathMaintenance = "/v1/maintenance" // POST MaintenanceRequest: Reply
)

// Paths nodes call on each other over the cluster transport (never on
// the control socket).
const (
	PathPeerStep   = "/v1/peer/step"   // POST PeerStep: Step
	PathPeerFailed = "/v1/peer/failed" // POST PeerFailure: Reply
	PathPeerIndex  = "/v1/peer/index"  // POST (no body): PeerIndex, on the leader
)

// PeerIndex is the leader's last applied entry of the replicated log.
type PeerIndex struct {
	Index uint64 `json:"index"`
}

// Monitor is how the quickCheck schedule keeps up: checks started,
// slots skipped because a check overran, and how late checks start.
type Monitor struct {
	Monitored   int           `json:"monitored"`
	Runs        int           `json:"runs"`
	Skipped     int           `json:"skipped"`
	LatenessP50 time.Duration `json:"lateness_p50"`
	LatenessP99 time.Duration `json:"lateness_p99"`
}

// Resource is one line of `arkctl status`.
type Resource struct {
	Tag       string    `json:"tag"`
	Type      string    `json:"type"`
	ID        string    `json:"id"`
	Target    string    `json:"target"`
	State     string    `json:"state"`
	Node      string    `json:"node"`
	Group     string    `json:"group"`
	DependsOn []string  `json:"depends_on,omitempty"`
	Restarts  int       `json:"restarts"`
	Failures  int       `json:"failures"`
	Since     time.Time `json:"since,omitzero"`
	Pid       int       `json:"pid,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	// Busy names the action running on the resource, if any.
	Busy string `json:"busy,omitempty"`
}

// Request asks for start or stop of a resource.
type Request struct {
	Tag   string `json:"tag"`
	Force bool   `json:"force,omitempty"`
	// Node chooses where a start runs in a cluster (default: where the
	// group runs, else the best node of its policy).
	Node string `json:"node,omitempty"`
}

// RelocateRequest moves Tag's failover group to Node (the best other
// node when empty), or with From every group off that node.
type RelocateRequest struct {
	Tag  string `json:"tag,omitempty"`
	Node string `json:"node,omitempty"`
	From string `json:"from,omitempty"`
}

// MaintenanceRequest puts a node in maintenance or takes it out.
type MaintenanceRequest struct {
	Node string `json:"node"`
	On   bool   `json:"on"`
}

// PeerStep asks a node to run one step of a leader's plan.
type PeerStep struct {
	Tag    string `json:"tag"`
	Action string `json:"action"`
	Event  string `json:"event,omitempty"`
	Factor string `json:"factor,omitempty"`
}

// PeerFailure tells the leader a resource failed on a node.
type PeerFailure struct {
	Node  string `json:"node"`
	Tag   string `json:"tag"`
	Cause string `json:"cause"`
}

// Cluster is the cluster section of `arkctl status` (caa_stat's view of
// the members): every node, each communication path, quorum and leader.
type Cluster struct {
	Name   string `json:"name"`
	Self   string `json:"self"`
	Leader string `json:"leader"`
	Term   uint64 `json:"term"`
	// Quorum: voters reachable from this node (itself included) and
	// the majority needed.
	Reachable int    `json:"reachable"`
	Quorum    int    `json:"quorum"`
	Lease     string `json:"lease"` // held, stopping, expired; "-" on a witness
	// LeaseLeft is how long this node's lease lasts without a renewal.
	LeaseLeft time.Duration `json:"lease_left"`
	// SelfFence says how the invariant holds when this node is cut off
	// (see the admin guide), plainly when it cannot.
	SelfFence string        `json:"self_fence"`
	Nodes     []ClusterNode `json:"nodes"`
}

// ClusterNode is one member as this node sees it.
type ClusterNode struct {
	Name        string     `json:"name"`
	Role        string     `json:"role"`
	Up          bool       `json:"up"`
	Maintenance bool       `json:"maintenance,omitempty"`
	Groups      int        `json:"groups"`
	Paths       []CommPath `json:"paths,omitempty"`
}

// CommPath is one communication path to a node.
type CommPath struct {
	Local  string    `json:"local"`
	Remote string    `json:"remote"`
	Up     bool      `json:"up"`
	Since  time.Time `json:"since,omitzero"`
}

// Step is one action an Outcome ran (or skipped).
type Step struct {
	Tag string `json:"tag"`
	// Node is where the step ran (cluster only).
	Node     string        `json:"node,omitempty"`
	Action   string        `json:"action"`
	Status   int           `json:"status"`
	OK       bool          `json:"ok"`
	Skipped  bool          `json:"skipped,omitempty"`
	TimedOut bool          `json:"timed_out,omitempty"`
	Duration time.Duration `json:"duration"`
	Message  string        `json:"message,omitempty"`
}

// Outcome is the result of start or stop: every step, and whether all
// succeeded.
type Outcome struct {
	OK    bool     `json:"ok"`
	Steps []Step   `json:"steps"`
	Notes []string `json:"notes,omitempty"`
	Error string   `json:"error,omitempty"`
}

// Define modes.
const (
	ModeValidate = "validate"
	ModeDefine   = "define"
	ModeUpdate   = "update"
	ModeUndefine = "undefine"
)

// DefineRequest carries a definition file's content, with the path the
// admin named so that errors point at it.
type DefineRequest struct {
	Mode string `json:"mode"`
	File string `json:"file"`
	Data []byte `json:"data"`
}

// DefineReply says what changed, per tag: added, updated, unchanged,
// removed (nothing changes on an error).
type DefineReply struct {
	Changes map[string]string `json:"changes"`
}

// Kit is one line of `arkctl kit list`.
type Kit struct {
	Name      string    `json:"name"`
	Path      string    `json:"path"`
	SHA256    string    `json:"sha256"`
	Version   string    `json:"version,omitempty"`
	Source    string    `json:"source"` // "node file" or "arkctl"
	Running   bool      `json:"running"`
	Pid       int       `json:"pid,omitempty"`
	Launches  int       `json:"launches"`
	LastError string    `json:"last_error,omitempty"`
	NextTry   time.Time `json:"next_try,omitzero"`
	Resources int       `json:"resources"`
}

// KitRequest enables (pinning the binary's current sha256) or disables a
// kit.
type KitRequest struct {
	Op   string `json:"op"` // "enable" or "disable"
	Name string `json:"name"`
	Path string `json:"path,omitempty"` // default <plugin_dir>/ark-<name>
}

// InsList is a resource as LifeKeeper's ins_list prints it.
type InsList struct {
	Line string `json:"line"`
}

// ShutdownRequest stops the daemon; with LeaveServices the resources keep
// running (LifeKeeper's lkstop -f), else every resource is removed first.
type ShutdownRequest struct {
	LeaveServices bool `json:"leave_services"`
}

// Reply is a plain acknowledgement.
type Reply struct {
	Message string `json:"message,omitempty"`
}

// ErrorReply is the body of every non-2xx answer.
type ErrorReply struct {
	Error string `json:"error"`
	// Kind says which exit code arkctl uses: "usage" (2), "failed" (1).
	Kind string `json:"kind"`
}

// Error kinds.
const (
	KindUsage  = "usage"
	KindFailed = "failed"
)
