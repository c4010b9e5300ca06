package events

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ark-ha/ark/host/model"
)

// Event is one entry of the history. Seq and Time are given by Log.Append;
// the other fields by whoever records it, as each Kind documents.
type Event struct {
	// Seq numbers the node's events from 1, increasing across restarts
	// of the daemon. It may skip numbers (events lost to a failed disk
	// write or a torn line) but never repeats. 0 marks an event that is
	// not part of the history (see Log.Subscribe).
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	// Node is the node the event happened on.
	Node  string `json:"node,omitempty"`
	Kind  string `json:"kind"`
	Level string `json:"level"`
	// Tag is the resource the event is about, if any.
	Tag string `json:"tag,omitempty"`
	// Action is the action (ark.Action's value) an event is about.
	Action string `json:"action,omitempty"`
	// From and To are the states of a KindState event.
	From model.State `json:"from,omitempty"`
	To   model.State `json:"to,omitempty"`
	// Status is an action's exit status; nil when it did not exit (it
	// could not be started, or was killed).
	Status   *int          `json:"status,omitempty"`
	Duration time.Duration `json:"duration,omitempty"`
	TimedOut bool          `json:"timed_out,omitempty"`
	// Output is the tail of the action's output and log lines.
	Output []string `json:"output,omitempty"`
	// Message says what happened, in words.
	Message string `json:"message"`
}

// Kinds of events.
const (
	// KindState: a resource's state changed on Node. Tag, From and To
	// are set (From is empty for a resource seen for the first time);
	// Message says why.
	KindState = "state"
	// KindAction: an action ran to its end. Tag, Action, Status,
	// Duration, TimedOut and Output describe the run; Message the
	// outcome in words.
	KindAction = "action"
	// KindTarget: a resource's target (ONLINE/OFFLINE) changed, by the
	// admin (start, stop, relocate) or by the cluster. Tag is set.
	KindTarget = "target"
	// KindConfig: a resource was defined, updated or undefined. Tag is
	// set; Message says what changed and from which file.
	KindConfig = "config"
	// KindKit: a kit was enabled, disabled, started, crashed or
	// restarted. Message names the kit.
	KindKit = "kit"
	// KindDaemon: the daemon started, stopped, adopted the resources a
	// previous run left in service, or entered or left maintenance.
	KindDaemon = "daemon"
	// KindWarning: something the admin should look at that changed no
	// state (a quickCheck that timed out but counts as a success, events
	// dropped for a slow subscriber...). Level is warn.
	KindWarning = "warning"
	// KindError: a failure not told by a KindState or KindAction event
	// (state not saved to disk, local recovery given up...). Level is
	// error.
	KindError = "error"
	// KindCluster: a communication path or node failed or came back
	// (LifeKeeper's COMMUNICATION ... FAILED/RESTORE lines), leadership,
	// quorum and lease changes, a failover decision, a fence.
	KindCluster = "cluster"
)

// kinds lists the kinds Append accepts.
var kinds = []string{KindState, KindAction, KindTarget, KindConfig, KindKit, KindDaemon, KindWarning, KindError, KindCluster}

// Levels of events: how much an admin should care.
const (
	LevelInfo  = "info"
	LevelWarn  = "warn"
	LevelError = "error"
)

// defaultLevel is the level of an event recorded without one.
func defaultLevel(kind string) string {
	switch kind {
	case KindWarning:
		return LevelWarn
	case KindError:
		return LevelError
	}
	return LevelInfo
}

// clone returns a copy of e that shares no memory with it.
func (e Event) clone() Event {
	e.Output = slices.Clone(e.Output)
	if e.Status != nil {
		s := *e.Status
		e.Status = &s
	}
	return e
}

// TimeFormat is the layout of an event's time in String: UTC, to the
// millisecond, fixed width.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// String formats e on one line, as `arkctl events` prints it:
//
//	TIME NODE [LEVEL] [TAG] [ACTION] [FROM -> TO]  MESSAGE [(DETAILS)]
//
// for example
//
//	2026-11-22T10:00:00.123Z node1 web-app ISP -> OSF  quickCheck failed
//	2026-11-22T10:00:00.123Z node1 ERROR web-app quickCheck  failed (status 1, 0.2s)
//
// TIME is in TimeFormat; NODE is "-" when unknown, so that the first two
// fields are always the time and the node. LEVEL is WARN or ERROR, absent
// for info. FROM is absent (“-> ISP”) for a resource seen the first time.
// Two spaces separate what the event is about from what happened. DETAILS
// are those of an action run, comma-separated: "status N", the duration
// (to the millisecond, as "0.2s" under a minute, "2m5s" from a minute on)
// and "timed out". Control characters in any field are escaped (\n, \t,
// \x1b), so the line stays one line. Output is not included: arkctl prints
// it below the line. Seq and Kind are not shown either (--json has them).
func (e Event) String() string {
	var b strings.Builder
	b.WriteString(e.Time.UTC().Format(TimeFormat))
	b.WriteByte(' ')
	b.WriteString(or(escape(e.Node), "-"))
	head := []string{}
	switch e.Level {
	case LevelInfo, "":
	default:
		head = append(head, strings.ToUpper(escape(e.Level)))
	}
	if e.Tag != "" {
		head = append(head, escape(e.Tag))
	}
	if e.Action != "" {
		head = append(head, escape(e.Action))
	}
	if e.From != "" || e.To != "" {
		head = append(head, strings.TrimSpace(escape(string(e.From))+" -> "+escape(string(e.To))))
	}
	for _, h := range head {
		b.WriteByte(' ')
		b.WriteString(h)
	}
	var what []string
	if e.Message != "" {
		what = append(what, escape(e.Message))
	}
	var details []string
	if e.Status != nil {
		details = append(details, "status "+strconv.Itoa(*e.Status))
	}
	if e.Duration > 0 {
		details = append(details, FormatDuration(e.Duration))
	}
	if e.TimedOut {
		details = append(details, "timed out")
	}
	if len(details) > 0 {
		what = append(what, "("+strings.Join(details, ", ")+")")
	}
	if len(what) > 0 {
		b.WriteString("  ")
		b.WriteString(strings.Join(what, " "))
	}
	return b.String()
}

// FormatDuration formats d as String shows an action's duration: under a
// millisecond as Go does ("300µs"), under a minute in seconds to the
// millisecond ("0.2s", "12.345s"), from a minute on to the second
// ("2m5s").
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.String()
	case d < time.Minute:
		return strconv.FormatFloat(d.Round(time.Millisecond).Seconds(), 'f', -1, 64) + "s"
	}
	return d.Round(time.Second).String()
}

func or(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return s
}

// escape replaces control characters in s by Go escapes.
func escape(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case isControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }
