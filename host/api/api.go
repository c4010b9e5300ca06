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
)

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
}

// Step is one action an Outcome ran (or skipped).
type Step struct {
	Tag      string        `json:"tag"`
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
