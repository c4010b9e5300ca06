// Package replica is the cluster's replicated store (DESIGN §6, "Shared
// state"): a store.Store whose state, a store.Data, lives in a
// hashicorp/raft log kept by every voter of the cluster, and the cluster
// transport the nodes talk over.
//
// What lives here:
//
//   - The raft state machine: every log entry is one JSON-encoded
//     store.Op, applied with store.Data.Apply, the same deterministic
//     transition the single-node store uses; an Op that Data.Apply rejects
//     changes nothing on any node and its error (wrapping
//     store.ErrInvalid) goes back to the caller. A snapshot is the JSON of
//     the Data. Config.OnApply reports every applied Op on every node, in
//     log order (and a snapshot restore as an empty Op).
//   - Durability: raft.db (raft-boltdb: log and stable store) and
//     snapshots/ in Config.Dir. A Dir without state is bootstrapped with
//     every node of the cluster file as a voter.
//   - Apply from any node: the leader appends; a follower forwards the Op
//     to the leader and waits until it has applied the entry itself.
//   - The cluster transport: TCP on every communication path of every
//     node. Each connection opens with a mutual challenge–response
//     handshake (HMAC-SHA256 with the cluster key over both sides' fresh
//     nonces, the cluster name, both node names and both config hashes):
//     a node without the key, or whose cluster file differs, is refused
//     and counted. A dial tries a node's paths from the one that last
//     worked, the next when one fails. A connection then carries either
//     raft's RPCs or HTTP: Do sends a request to another node's
//     Config.Handler, and forwarded Applies use the same way.
//   - An adapter from raft's hclog logging to slog.
//
// What must not: decisions (the scheduler, on the leader, decides; this
// package only says who the leader is), the meaning of resources or
// states (host/model), path monitoring and its COMMUNICATION messages
// (heartbeats on every path are another package's; raft's connections
// only use the paths), membership changes after bootstrap, and
// encryption: after the handshake nothing is encrypted or
// integrity-protected, the paths being private networks. It imports
// nothing from host/ besides host/store (and, through it, host/model).
package replica
