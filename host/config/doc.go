// Package config reads the files an admin writes (DESIGN §7): the node
// file (which kits are enabled on this node, pinned by checksum, and
// where the daemon keeps its state) and resource definition files (the
// resources, their hierarchy and their policies, DESIGN §3 and §4).
//
// Parsing is strict, because a typo in an HA configuration is found at
// failover time otherwise: unknown keys, duplicate keys, values of the
// wrong type and values out of range are all errors, and every error
// names the file, the line and the field (resources[2].interval). A file
// is checked as a whole, so that the admin sees all of its errors at
// once: the parsers return Errors, one *Error per problem, sorted.
//
// Checking happens in two steps. ParseResources checks what a file can
// say about itself; Check checks a whole set of resources, possibly from
// several files, against each other and against the schemas of the kits
// enabled on the node (unknown types, parameters, dependency cycles,
// children that are not defined).
//
// What must not live here: I/O besides reading the files named by the
// caller (Load* read exactly one file; Parse* and Check do none), and any
// import of the daemon's packages beyond host/model. The daemon, arkctl
// and tests all parse through this package, so it must stay cheap to
// import and free of side effects.
package config
