package plugins

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/ark-ha/ark/sdk/ark"
)

// The go-plugin handshake of the ark plugin protocol. A plugin and a host
// talk only when all three match. ProtocolVersion changes when the wire
// contract breaks; adding proto fields does not break it.
const (
	ProtocolVersion  = 1
	MagicCookieKey   = "ARK_PLUGIN_MAGIC_COOKIE"
	MagicCookieValue = "7d1c6b0e-ark-resource-type-a3f59e24"
)

// PluginName is the name under which a plugin serves its resource type in
// the go-plugin plugin map.
const PluginName = "resource_type"

// HandshakeConfig returns the go-plugin handshake both sides must use.
func HandshakeConfig() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}

// GRPCPlugin is the go-plugin adapter of the protocol. The plugin side sets
// Impl, the resource type it serves; the host side sets Options, which
// configure the Client that Dispense returns. It speaks gRPC only.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl    ark.ResourceType
	Options ClientOptions
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the resource type service on s (plugin side).
func (p *GRPCPlugin) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	NewServer(p.Impl, broker).Register(s)
	return nil
}

// GRPCClient returns a *Client (host side). doneCtx ends when the plugin
// process exits.
func (p *GRPCPlugin) GRPCClient(doneCtx context.Context, broker *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return newClient(doneCtx, broker, conn, p.Options), nil
}

// PluginSet returns the go-plugin plugin map of a process serving rt (rt
// nil on the host side) whose clients use opts.
func PluginSet(rt ark.ResourceType, opts ClientOptions) plugin.PluginSet {
	return plugin.PluginSet{PluginName: &GRPCPlugin{Impl: rt, Options: opts}}
}
