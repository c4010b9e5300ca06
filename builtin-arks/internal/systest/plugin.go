package systest

import (
	"context"
	"testing"
	"time"

	"github.com/ark-ha/ark/plugins"
)

// LaunchPlugin is Launch returning the plugin process itself, for tests
// that need to kill it (a node that dies, a plugin that crashes) or to
// see how it ended; its ResourceType method gives the resource type. The
// process is stopped at cleanup.
func LaunchPlugin(t testing.TB, bin, ns string) *plugins.Plugin {
	t.Helper()
	cfg := plugins.LaunchConfig{Path: bin}
	if ns != "" {
		cfg = plugins.LaunchConfig{Path: "nsenter", Args: []string{"--net=" + NetnsPath(ns), bin}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := plugins.Launch(ctx, cfg)
	if err != nil {
		t.Fatalf("launch %s in netns %q: %v", bin, ns, err)
	}
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	return p
}
