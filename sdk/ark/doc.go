// Package ark holds the contract between the ark host and a resource type
// (an ARK, Application Recovery Kit): the ResourceType interface, the
// request and result of an action, parameter schemas, log lines, the host
// services a plugin may call back, and the error classes that survive the
// wire.
//
// It is imported by vendors, by the plugin protocol (plugins/) and by the
// host alike, so it must stay free of gRPC, protobuf and host imports: it
// is plain Go types and small helpers only.
package ark
