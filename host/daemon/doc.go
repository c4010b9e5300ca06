// Package daemon is arkd on one node: it wires the store, the event log,
// the plugin manager, the monitor and the pure scheduler together, runs
// the scheduler's plans through the plugins (the executor), reacts to
// failures (local recovery, then giving the group up), restarts without
// touching services, and serves the control API.
//
// Decisions are not made here: they come from host/scheduler, given a
// snapshot. What lives here is the I/O around them — the order in which
// things happen, locking (one action at a time per resource), and
// recording every change as state and as an event.
package daemon
