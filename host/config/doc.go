// Package config reads the files an admin writes (DESIGN §7): the node
// file (which kits are enabled on this node, pinned by checksum, where
// the daemon keeps its state, and which cluster file it belongs to), the
// cluster file (the nodes and witnesses of the cluster, their addresses
// as communication paths, the cluster key's file, heartbeat, lease and
// raft timings, DESIGN §5 and §6) and resource definition files (the
// resources, their hierarchy and their policies, DESIGN §3, §4 and §5).
// testdata/good holds a sample of each. A node file without cluster_file
// runs the node alone.
//
// The cluster file is the same on every node: LoadCluster fills in its
// defaults and reads the key, and Cluster.Hash identifies what it means
// (not its comments, layout or order) so that nodes can tell whether
// they agree. It is checked as a whole like the others: unique node
// names and addresses, IP literals only (no name resolution in failure
// detection), a key file of at least 32 bytes readable by its owner only,
// a lease longer than failure detection, raft timeouts hashicorp/raft
// accepts, and a cluster that can keep a quorum (a two-node cluster needs
// a witness).
//
// Parsing is strict, because a typo in an HA configuration is otherwise
// found at failover time: unknown keys, duplicate keys, values of the
// wrong type and values out of range are all errors, and every error
// names the file, the line and the field (resources[2].interval, list
// indexes counting from 0). A file is checked as a whole, so that the
// admin sees all of its errors at once: the parsers return Errors, one
// *Error per problem, sorted by file and line.
//
// Checking resources happens in steps. ParseResources checks what a
// file can say about itself; Check checks a whole set of resources,
// possibly from several files, against each other and against the
// schemas of the kits enabled on the node (unknown types, parameters,
// dependency cycles, children that are not defined, resources of one
// failover group that disagree on its policy, switchback, max_failovers
// or failover_reset_after); CheckNodes checks their priorities against
// the cluster's nodes.
//
// Value rules shared by both files, chosen so that nothing is guessed:
//   - durations are Go durations with a unit (30s, 1m30s, 500ms); a bare
//     0 is allowed, any other bare number is an error;
//   - integers and booleans must be YAML integers and booleans (2, true),
//     not strings ("2", yes);
//   - a timeout of none or 0 means no timeout, stored as -1 so that it
//     overrides the kit's default (model.Resource.Timeout);
//   - parameter values may be any scalar and are kept as written (0755
//     stays "0755"); nested values are an error;
//   - aliases (*name) are followed; merge keys (<<) and a second YAML
//     document in a file are errors.
//
// What must not live here: I/O besides reading the files named by the
// caller (Load* read exactly one file, and the cluster file's key file;
// Parse* and Check* do none, but for ParseCluster reading the key file),
// and any import of the daemon's packages beyond host/model. The daemon,
// arkctl and tests all parse through this package, so it must stay cheap
// to import and free of side effects.
package config
