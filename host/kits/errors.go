package kits

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ark-ha/ark/sdk/ark"
)

// Errors matched with errors.Is.
var (
	// ErrNotEnabled: no kit of that name is enabled.
	ErrNotEnabled = errors.New("kit is not enabled")
	// ErrAlreadyEnabled: Enable of a kit already enabled with another
	// binary or pin; disable it first.
	ErrAlreadyEnabled = errors.New("kit is already enabled")
	// ErrStopped: the Manager was stopped (calls through a ResourceType
	// obtained before Stop fail with it too).
	ErrStopped = errors.New("kit manager is stopped")
	// ErrDisabled: a call through the ResourceType of a kit disabled
	// since.
	ErrDisabled = errors.New("kit was disabled")
	// ErrBackingOff matches a *BackoffError.
	ErrBackingOff = errors.New("kit is backing off after failures")
	// ErrTypeMismatch matches a *TypeMismatchError.
	ErrTypeMismatch = errors.New("plugin provides another resource type")
	// ErrInfoChanged matches an *InfoChangedError.
	ErrInfoChanged = errors.New("plugin info changed")
)

// BackoffError is the error of a call made while the kit's plugin is not
// running and its next launch is not due yet: the call fails at once
// rather than waiting. It unwraps to the failure that caused the backoff
// (typically a *plugins.ExitError or a launch error).
type BackoffError struct {
	Kit      string
	Failures int       // consecutive failures so far
	Retry    time.Time // when the next launch is due
	Now      time.Time // when the call was refused (Config.Clock)
	Last     error     // the last failure
}

// Error says which kit, how many failures, the last one, and when it will
// be retried.
func (e *BackoffError) Error() string {
	s := fmt.Sprintf("kit %s: plugin not running after %d consecutive failure", e.Kit, e.Failures)
	if e.Failures != 1 {
		s += "s"
	}
	s += fmt.Sprintf("; next launch at %s (in %s)",
		e.Retry.Format("15:04:05.000"), e.Retry.Sub(e.Now).Round(time.Millisecond))
	if e.Last != nil {
		s += "; last failure: " + e.Last.Error()
	}
	return s
}

// Unwrap returns the last failure.
func (e *BackoffError) Unwrap() error { return e.Last }

// Is matches ErrBackingOff.
func (e *BackoffError) Is(target error) bool { return target == ErrBackingOff }

// TypeMismatchError reports a plugin that provides another resource type
// than the kit is named after. It matches ErrTypeMismatch.
type TypeMismatchError struct {
	Kit  string // the kit's name: the resource type wanted
	Path string // the plugin binary
	Type string // the resource type it provides
}

// Error names the binary and both types.
func (e *TypeMismatchError) Error() string {
	return fmt.Sprintf("plugin %s provides resource type %q, not %q (the kit's name)", e.Path, e.Type, e.Kit)
}

// Is matches ErrTypeMismatch.
func (e *TypeMismatchError) Is(target error) bool { return target == ErrTypeMismatch }

// InfoChangedError reports a relaunched plugin whose Info differs from
// the one read when the kit was enabled: the binary or its environment
// changed under the daemon. The process is not used.
type InfoChangedError struct {
	Kit     string
	Changes []string // e.g. `param "c" added`, `version: "1" -> "2"`
}

// Error names the kit and what changed.
func (e *InfoChangedError) Error() string {
	return fmt.Sprintf("kit %s: relaunched plugin describes itself differently than when enabled (%s); disable and enable the kit again",
		e.Kit, strings.Join(e.Changes, "; "))
}

// Is matches ErrInfoChanged.
func (e *InfoChangedError) Is(target error) bool { return target == ErrInfoChanged }

// infoChanges lists what differs between the Info a kit was enabled with
// and a relaunched plugin's: everything a host relies on (type, version,
// parameters, actions, default timeouts, open params), not Doc.
func infoChanges(old, cur ark.Info) []string {
	var out []string
	diff := func(what string, a, b any) {
		if as, bs := fmt.Sprint(a), fmt.Sprint(b); as != bs {
			out = append(out, fmt.Sprintf("%s: %s -> %s", what, as, bs))
		}
	}
	diff("type", fmt.Sprintf("%q", old.Type), fmt.Sprintf("%q", cur.Type))
	diff("version", fmt.Sprintf("%q", old.Version), fmt.Sprintf("%q", cur.Version))
	out = append(out, paramChanges(old.Params, cur.Params)...)
	diff("actions", old.Actions, cur.Actions)
	diff("default timeouts", old.DefaultTimeouts, cur.DefaultTimeouts) // fmt sorts map keys
	diff("open params", old.OpenParams, cur.OpenParams)
	return out
}

// paramChanges lists the parameters added, removed or changed between two
// schemas, by name, in the order of the new one then the removed ones.
func paramChanges(old, cur []ark.ParamSpec) []string {
	var out []string
	was := map[string]ark.ParamSpec{}
	for _, p := range old {
		was[p.Name] = p
	}
	seen := map[string]bool{}
	for _, p := range cur {
		seen[p.Name] = true
		o, ok := was[p.Name]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("param %q added", p.Name))
		case o.Type != p.Type:
			out = append(out, fmt.Sprintf("param %q: type %s -> %s", p.Name, o.Type, p.Type))
		case o.Required != p.Required:
			out = append(out, fmt.Sprintf("param %q: required %v -> %v", p.Name, o.Required, p.Required))
		case o.Default != p.Default:
			out = append(out, fmt.Sprintf("param %q: default %q -> %q", p.Name, o.Default, p.Default))
		}
	}
	for _, p := range old {
		if !seen[p.Name] {
			out = append(out, fmt.Sprintf("param %q removed", p.Name))
		}
	}
	if len(out) == 0 && len(old) == len(cur) {
		for i := range old {
			if old[i].Name != cur[i].Name {
				return []string{"params reordered"}
			}
		}
	}
	return out
}
