// Package scheduler holds the daemon's decisions as pure functions: a
// snapshot of definitions and states goes in, a plan (ordered steps per
// node, with their dependencies, and the targets and states to record)
// comes out. Nothing here reads a clock, draws a random number, starts a
// goroutine or touches the system: time arrives in the snapshot, and the
// executor runs the plan. That keeps every decision replayable from its
// inputs and testable with tables.
//
// On one node the decisions are start, stop, what to do about a failure
// (recover in place or give the group up) and what to do at daemon start
// (adopt what runs, restore what should run). The cluster (cluster.go)
// adds the choice of node (Place) and the leader's decisions: Reconcile
// (failover, cluster return, switchback), the admin's ClusterStart,
// ClusterStop, Relocate, Evacuate, Balance and ClusterShutdown; their
// steps carry the node they run on.
package scheduler
