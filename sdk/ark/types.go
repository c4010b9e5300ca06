package ark

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"
)

// Action names one of the four actions of the GenericARK contract
// (DESIGN §4). The string values are the names users write in files and
// see in logs, so they are LifeKeeper's spelling.
type Action string

// The four actions. Restore and Remove are required of every resource
// type; QuickCheck and Recover are optional.
const (
	Restore    Action = "restore"
	Remove     Action = "remove"
	QuickCheck Action = "quickCheck"
	Recover    Action = "recover"
)

// Actions lists the four actions in their canonical order.
var Actions = []Action{Restore, Remove, QuickCheck, Recover}

// ParseAction accepts an action name in any letter case ("quickcheck",
// "QuickCheck") and returns the canonical Action.
func ParseAction(s string) (Action, error) {
	for _, a := range Actions {
		if strings.EqualFold(string(a), s) {
			return a, nil
		}
	}
	return "", fmt.Errorf("unknown action %q (want restore, remove, quickCheck or recover)", s)
}

// ParamType is the type of a resource parameter value. Values always
// travel as strings; the type says how the host and the ARK parse them.
type ParamType string

// Parameter types.
const (
	TypeString   ParamType = "string"
	TypeInt      ParamType = "int"
	TypeBool     ParamType = "bool"
	TypeDuration ParamType = "duration"
	TypePath     ParamType = "path"
)

// ParamSpec describes one parameter of a resource type.
type ParamSpec struct {
	Name     string
	Type     ParamType
	Default  string // used when the resource does not set it; "" = no default
	Required bool
	Doc      string
}

// Info is what a resource type says about itself. The host reads it once
// per plugin start; it must not change while the plugin runs.
type Info struct {
	Type    string // resource type name, e.g. "generic", "ip"
	Version string
	Doc     string
	Params  []ParamSpec
	// Actions lists the actions the type implements (Restore and Remove
	// always; QuickCheck and Recover if supported).
	Actions []Action
	// DefaultTimeouts holds the timeout of each action when the resource
	// sets none; 0 or absent means no timeout.
	DefaultTimeouts map[Action]time.Duration
	// OpenParams means the type also accepts parameters outside Params
	// (GenericARK hands them to the scripts as PARAM_<NAME>). Their names
	// must still be identifiers, and a name too close to a declared one is
	// taken for a typo and refused.
	OpenParams bool
}

// Supports reports whether the type implements action a.
func (i Info) Supports(a Action) bool {
	for _, x := range i.Actions {
		if x == a {
			return true
		}
	}
	return false
}

// Param returns the spec of the named parameter.
func (i Info) Param(name string) (ParamSpec, bool) {
	for _, p := range i.Params {
		if p.Name == name {
			return p, true
		}
	}
	return ParamSpec{}, false
}

// Check verifies that the metadata is usable by a host: a type name,
// Restore and Remove supported, parameters named once each with a known
// type, no negative timeout. Errors name the offending field.
func (i Info) Check() error {
	var errs []string
	if i.Type == "" {
		errs = append(errs, "type name is empty")
	}
	if !i.Supports(Restore) {
		errs = append(errs, "restore is not in the supported actions")
	}
	if !i.Supports(Remove) {
		errs = append(errs, "remove is not in the supported actions")
	}
	for _, a := range i.Actions {
		if _, err := ParseAction(string(a)); err != nil || a != mustCanon(a) {
			errs = append(errs, fmt.Sprintf("action %q is not one of restore, remove, quickCheck, recover", a))
		}
	}
	seen := map[string]bool{}
	for _, p := range i.Params {
		switch {
		case p.Name == "":
			errs = append(errs, "a parameter has no name")
		case seen[p.Name]:
			errs = append(errs, fmt.Sprintf("parameter %q is declared twice", p.Name))
		}
		seen[p.Name] = true
		switch p.Type {
		case TypeString, TypeInt, TypeBool, TypeDuration, TypePath:
		default:
			errs = append(errs, fmt.Sprintf("parameter %q has unknown type %q", p.Name, p.Type))
		}
		if p.Default != "" {
			if err := p.CheckValue(p.Default); err != nil {
				errs = append(errs, fmt.Sprintf("parameter %q default: %v", p.Name, err))
			}
		}
	}
	for a, d := range i.DefaultTimeouts {
		if d < 0 {
			errs = append(errs, fmt.Sprintf("default timeout of %s is negative (%s)", a, d))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("resource type %q metadata: %s", i.Type, strings.Join(errs, "; "))
	}
	return nil
}

func mustCanon(a Action) Action {
	c, _ := ParseAction(string(a))
	return c
}

// CheckValue reports whether v is a valid value of the parameter's type.
func (p ParamSpec) CheckValue(v string) error {
	switch p.Type {
	case TypeInt:
		var n int64
		if _, err := fmt.Sscan(v, &n); err != nil || fmt.Sprint(n) != strings.TrimSpace(v) {
			return fmt.Errorf("%q is not an integer", v)
		}
	case TypeBool:
		switch strings.ToLower(v) {
		case "true", "false", "yes", "no", "on", "off", "1", "0":
		default:
			return fmt.Errorf("%q is not a boolean (true/false, yes/no, on/off, 1/0)", v)
		}
	case TypeDuration:
		if _, err := time.ParseDuration(v); err != nil {
			return fmt.Errorf("%q is not a duration (e.g. 30s, 1m30s)", v)
		}
	}
	return nil
}

// ValidateParams checks params against the schema: unknown names, missing
// required parameters and values of the wrong type are errors (all of them,
// joined, each naming the parameter). It is the generic part of
// ResourceType.Validate; types add their own checks after it.
func (i Info) ValidateParams(params map[string]string) error {
	var errs []string
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		spec, ok := i.Param(k)
		if !ok {
			if near := i.nearParam(k); near != "" {
				errs = append(errs, fmt.Sprintf("unknown parameter %q: did you mean %q?", k, near))
			} else if !i.OpenParams {
				errs = append(errs, fmt.Sprintf("unknown parameter %q (known: %s)", k, strings.Join(i.paramNames(), ", ")))
			} else if !isIdent(k) {
				errs = append(errs, fmt.Sprintf("parameter name %q: use letters, digits, '_' and '-' only", k))
			}
			continue
		}
		if err := spec.CheckValue(params[k]); err != nil {
			errs = append(errs, fmt.Sprintf("parameter %q: %v", k, err))
		}
	}
	for _, p := range i.Params {
		if _, ok := params[p.Name]; p.Required && !ok {
			errs = append(errs, fmt.Sprintf("missing required parameter %q", p.Name))
		}
	}
	if len(errs) > 0 {
		return Misconfigured(fmt.Errorf("%s", strings.Join(errs, "; ")))
	}
	return nil
}

// nearParam returns the declared parameter k is probably a typo of: equal
// ignoring case, '-' and '_', or within edit distance 2 of a name of 5
// letters or more.
func (i Info) nearParam(k string) string {
	norm := func(s string) string {
		return strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(s))
	}
	for _, p := range i.Params {
		if norm(p.Name) == norm(k) || (len(p.Name) >= 5 && editDistance(p.Name, k) <= 2) {
			return p.Name
		}
	}
	return ""
}

func isIdent(s string) bool {
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c == '-' || c >= '0' && c <= '9')) {
			return false
		}
	}
	return s != ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func (i Info) paramNames() []string {
	out := make([]string, len(i.Params))
	for n, p := range i.Params {
		out[n] = p.Name
	}
	return out
}

// WithDefaults returns a copy of params with every unset parameter that
// has a default filled in.
func (i Info) WithDefaults(params map[string]string) map[string]string {
	out := make(map[string]string, len(params)+len(i.Params))
	for k, v := range params {
		out[k] = v
	}
	for _, p := range i.Params {
		if _, ok := out[p.Name]; !ok && p.Default != "" {
			out[p.Name] = p.Default
		}
	}
	return out
}

// LogLine is one line an action produces while it runs: a script's
// log/logcmd call, or a line of its output.
type LogLine struct {
	Time    time.Time
	Level   slog.Level
	Code    string // the script's message code ("" for output lines)
	Message string
}

// Host is what a resource type may ask of the host while an action runs.
// Implementations must honour ctx; the host answers for any resource of
// the cluster.
type Host interface {
	// State returns the state of the resource tagged tag ("ISP", "OSU",
	// ...) as LifeKeeper's ins_list reports it.
	State(ctx context.Context, tag string) (string, error)
}

// Request is one invocation of an action on a resource.
type Request struct {
	Tag    string
	ID     string
	Params map[string]string // validated, defaults filled in
	// Env is the script environment of DESIGN §4 built by the host: TAG,
	// ID, ACTION, RESOURCE_TYPE, NODE, CLUSTER, ARK_EVENT/ARK_FACTOR/...
	// and their ARMS_*/CLP_* aliases. PARAM_* entries are added by the
	// ARK from Params.
	Env map[string]string
	// Timeout is the action's own timeout, enforced by the resource type
	// (which knows how to stop what it started); 0 means none. The ctx
	// deadline the host sets is later than this, as a last resort.
	Timeout time.Duration
	// Log receives the lines the action produces, as it produces them.
	// It is safe to call from several goroutines. Never nil when called
	// through the host; implementations may assume so.
	Log func(LogLine)
	// Host answers callbacks; may be nil outside a host (tests).
	Host Host
}

// Result is the outcome of an action that ran. A Status other than 0 means
// the action reported failure; an error returned beside a Result means the
// action could not be run at all.
type Result struct {
	Status   int
	Message  string // one line for humans: why it failed, what it did
	Duration time.Duration
	// TimedOut is set when the action was stopped at its timeout. Status
	// is then non-zero, unless the type counts the timeout as success
	// (GenericARK's quickCheck does, with a warning).
	TimedOut bool
	// Warnings are things the caller should surface as events without
	// failing the action (e.g. an exit code other than 0 or 1).
	Warnings []string
}

// OK reports whether the action succeeded.
func (r Result) OK() bool { return r.Status == 0 }

// ResourceType is what every ARK implements. The host calls it from many
// goroutines, but never runs two actions on the same resource at once.
// Every method must honour ctx.
type ResourceType interface {
	// Info describes the type. Cheap; called once per plugin start.
	Info(ctx context.Context) (Info, error)
	// Validate checks a resource's parameters at definition time. Errors
	// should be Misconfigured and name the parameter.
	Validate(ctx context.Context, params map[string]string) error
	// Restore brings the resource into service on this node. It must
	// succeed without side effects when the resource already runs here.
	Restore(ctx context.Context, req *Request) (Result, error)
	// Remove takes the resource out of service on this node. It must
	// succeed when the resource already is stopped.
	Remove(ctx context.Context, req *Request) (Result, error)
	// QuickCheck reports whether the resource is healthy. Read-only.
	QuickCheck(ctx context.Context, req *Request) (Result, error)
	// Recover repairs the resource in place after a failed QuickCheck.
	Recover(ctx context.Context, req *Request) (Result, error)
}

// Run runs action a of rt: the one place that maps an Action to its
// method. An action that is not one of the four is an error.
func Run(ctx context.Context, rt ResourceType, a Action, req *Request) (Result, error) {
	switch a {
	case Restore:
		return rt.Restore(ctx, req)
	case Remove:
		return rt.Remove(ctx, req)
	case QuickCheck:
		return rt.QuickCheck(ctx, req)
	case Recover:
		return rt.Recover(ctx, req)
	}
	return Result{}, fmt.Errorf("unknown action %q (want restore, remove, quickCheck or recover)", a)
}

// RecoverNotSupported can be embedded by a resource type that has no
// in-place repair; its Recover returns ErrNotSupported.
type RecoverNotSupported struct{}

// Recover implements ResourceType.
func (RecoverNotSupported) Recover(context.Context, *Request) (Result, error) {
	return Result{}, ErrNotSupported
}

// QuickCheckNotSupported can be embedded by a resource type that cannot
// check health; its QuickCheck returns ErrNotSupported.
type QuickCheckNotSupported struct{}

// QuickCheck implements ResourceType.
func (QuickCheckNotSupported) QuickCheck(context.Context, *Request) (Result, error) {
	return Result{}, ErrNotSupported
}
