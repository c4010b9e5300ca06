// Package lease holds the arithmetic of the cluster's safety rule
// (DESIGN §5): a node may keep resources in service only while it holds a
// lease granted by a raft leader that has just verified its leadership,
// and the leader restores a lost node's groups elsewhere only once every
// lease that node could hold has certainly run out.
//
// A leader grants leases in its heartbeats: each Grant says how long the
// lease lasts from the moment the heartbeat arrives, counted from the
// start of the leader's last successful VerifyLeader, so that a deposed
// leader's grants end at most Timeout after a successor can have been
// elected. The Holder (every node) turns grants into an expiry and
// phases; the Grantor (the leader) hands them out and answers when a node
// it no longer hears is certainly stopped.
//
// Everything here is pure: times come in as arguments. No I/O, no
// goroutines, no knowledge of raft or of resources.
package lease
