// Package plugintest runs an ark.ResourceType behind the real plugin
// protocol inside a test: a go-plugin gRPC server and client connected
// in-process, with the broker multiplexed as in a launched plugin, so the
// whole server, client, conversion and host-services path runs without
// building a binary.
//
// It is for tests only (it takes a testing.TB) and must not be imported by
// production code.
package plugintest
