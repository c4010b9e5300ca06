// Package events is the node's event history (CAA's event log): every
// state change, action result, target or configuration change, kit and
// daemon event, as an Event with a sequence number and a time. It keeps a
// bounded history on disk and in memory, answers queries over it (Since,
// Tail) and streams new events to subscribers (Subscribe), which is what
// `arkctl events [--since T] [--follow] [--json]` and the availability
// report read.
//
// On disk the history is two JSON-lines files in one directory,
// events.jsonl (current) and events.1.jsonl (the previous half); see Log.
// The files are only appended to and renamed, never rewritten, and a line
// torn by a crash is skipped when the log is opened, so the history can
// always be read and the daemon always starts.
//
// This package records what it is given; it decides nothing and knows no
// other part of the daemon. It must not import anything from host/
// besides host/model. One Log at a time may use a directory: arkd keeps it
// under its state directory, whose lock (host/store) guarantees that.
package events
