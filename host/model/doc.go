// Package model holds the data every part of the daemon shares: a
// resource's definition (DESIGN §3), its target and state, its counters,
// and the node's kits. It is plain data with pure helpers (the dependency
// graph, failover groups, start and stop order); it does no I/O, reads no
// clock and must not import anything from host/ besides itself.
package model
