// Package plugins is the ark plugin protocol: the gRPC service of
// proto/ark/v1, the go-plugin handshake, and the glue both sides share.
//
//   - Plugin side: Server adapts an ark.ResourceType to the service;
//     sdk.Serve wires it into go-plugin. Vendors never import this package.
//   - Host side: Client implements ark.ResourceType over the wire, so the
//     host cannot tell a plugin from an in-process type. Launch starts a
//     plugin binary (pinned by sha256) and returns a *Plugin; Supervisor
//     relaunches a plugin that crashed or froze on the next call.
//
// Actions stream their log lines to the host as they run and end with a
// result. A running action reaches the host's ark.Host through a
// HostService the Client serves over go-plugin's gRPC broker (multiplexed
// over the plugin connection, so the plugin may dial it at any time; this
// is why reattaching to a running plugin is not supported). Error classes
// travel in gRPC status details and come back as *ark.Error with the
// original message. Every call carries a deadline.
//
// Only convert.go turns protobuf messages into ark types and back: no
// proto type appears in this package's API. This package must not import
// host/ or interpreters/.
package plugins
