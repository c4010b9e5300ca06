package plugintest

import (
	"testing"

	"github.com/hashicorp/go-plugin"

	"github.com/ark-ha/ark/plugins"
	"github.com/ark-ha/ark/sdk/ark"
)

// Connect serves rt over in-process gRPC and returns the host-side client
// for it. Everything is torn down when the test ends.
func Connect(t testing.TB, rt ark.ResourceType, opts plugins.ClientOptions) *plugins.Client {
	t.Helper()
	gc, gs := plugin.TestPluginGRPCConn(t, true, plugins.PluginSet(rt, opts))
	raw, err := gc.Dispense(plugins.PluginName)
	if err != nil {
		gs.Stop()
		t.Fatalf("dispense %s: %v", plugins.PluginName, err)
	}
	c := raw.(*plugins.Client)
	t.Cleanup(func() {
		_ = c.Close()
		gs.Stop() // before gc.Close, whose Shutdown call would stop it concurrently
		_ = gc.Close()
	})
	return c
}
