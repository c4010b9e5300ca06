// Package store keeps the daemon's durable state on one node: the
// resource definitions, each resource's status (target, state, counters)
// and the kits enabled at run time.
//
// Everything goes through the Store interface: Read returns a deep copy of
// the whole state, Apply makes one atomic change described by an Op. An Op
// is plain, JSON-serialisable data rather than a closure, so that a
// replicated log (hashicorp/raft, a later milestone) can carry it to every
// node and implement Store too; Data.Apply is the one deterministic state
// transition both implementations share.
//
// File is the single-node implementation: the state lives in
// dir/state.json, replaced atomically (temporary file, fsync, rename, fsync
// of the directory) so that the file on disk is always a complete earlier
// or later state, never a torn one. The directory also holds arkd.lock,
// which makes one daemon at a time the owner of the directory.
//
// This package decides nothing: it does not check that a definition is
// valid for its kit, that the dependency graph is acyclic or that a state
// transition makes sense (host/model and the scheduler do). It only keeps
// the few invariants storage itself needs: every resource is stored under
// its own tag, statuses exist only for defined resources, kits are stored
// under their own name. It must not import anything from host/ besides
// host/model.
package store
