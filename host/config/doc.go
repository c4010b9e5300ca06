// Package config reads the files an admin writes (DESIGN §7): the node
// file (which kits are enabled on this node, pinned by checksum, and
// where the daemon keeps its state) and resource definition files (the
// resources, their hierarchy and their policies, DESIGN §3 and §4).
// testdata/good holds a sample of each.
//
// Parsing is strict, because a typo in an HA configuration is otherwise
// found at failover time: unknown keys, duplicate keys, values of the
// wrong type and values out of range are all errors, and every error
// names the file, the line and the field (resources[2].interval, list
// indexes counting from 0). A file is checked as a whole, so that the
// admin sees all of its errors at once: the parsers return Errors, one
// *Error per problem, sorted by file and line.
//
// Checking happens in two steps. ParseResources checks what a file can
// say about itself; Check checks a whole set of resources, possibly from
// several files, against each other and against the schemas of the kits
// enabled on the node (unknown types, parameters, dependency cycles,
// children that are not defined).
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
// What must not live here: I/O besides reading the file named by the
// caller (Load* read exactly one file; Parse* and Check do none), and any
// import of the daemon's packages beyond host/model. The daemon, arkctl
// and tests all parse through this package, so it must stay cheap to
// import and free of side effects.
package config
