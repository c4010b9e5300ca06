// Package membership is the cluster's membership layer: it tells this node
// which other nodes it can hear, over which communication paths, and says
// so in LifeKeeper's words when that changes.
//
// A communication path is a pair of addresses, one on this node and one on
// a peer: the i-th address of each node in the cluster file (when both
// have one). Every Config.Interval, Run sends one heartbeat on every path
// to every peer, from a UDP socket bound on the local address to the remote
// address. A path is up from its first accepted heartbeat until
// Config.Misses intervals pass without one; a node is up while at least one
// of its paths is up. Each change is logged exactly as LifeKeeper logs it
// and delivered, in order, to Config.OnChange:
//
//	WARN  COMMUNICATION TO <node> BY <local>/<remote> FAILED AT: <time>
//	INFO  COMMUNICATION TO <node> BY <local>/<remote> RESTORE AT: <time>
//	ERROR COMMUNICATIONS <node> FAILED AT: <time>   (its last path went down)
//	INFO  COMMUNICATIONS <node> RESTORE AT: <time>  (its first path came back)
//
// Heartbeats are authenticated with HMAC-SHA256 under a key derived from
// the cluster key, carry the sender's boot id and a sequence number so a
// recorded packet cannot be replayed, and carry the hash of the sender's
// cluster file: a peer whose cluster file differs is reported once and kept
// down until the files match. A heartbeat may carry a small payload
// (Config.Payload, Config.OnPayload) for layers above that want to piggyback
// on it. Packets that fail any check are dropped and counted (Stats); no
// packet, however malformed, stops Run.
//
// What must not live here: decisions. This package observes and reports;
// what to do about a node that is gone (quorum, fencing, failover) belongs
// to the replicated store and the scheduler, which read View, Reachable and
// the Change stream. It must not import any other host/ package, so that
// it can be tested, and reasoned about, on its own; it uses only the
// standard library.
package membership
