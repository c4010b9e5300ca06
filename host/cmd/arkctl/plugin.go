package main

import (
	"context"
	"log/slog"
	"os/exec"
	"time"

	"github.com/ark-ha/ark/plugins"
	"github.com/ark-ha/ark/sdk/ark"
)

var execLookPath = exec.LookPath

// launchPlugin starts the plugin binary under a Supervisor, so that a
// plugin that crashes in one step is started afresh for the next. It
// returns the resource type, the current plugin pid and a stop function.
func launchPlugin(ctx context.Context, path string, logger *slog.Logger) (ark.ResourceType, func() int, func(), error) {
	sup := plugins.NewSupervisor(plugins.LaunchConfig{Path: path, Logger: logger})
	if _, err := sup.Plugin(ctx); err != nil {
		return nil, nil, nil, err
	}
	pid := func() int {
		p, err := sup.Plugin(ctx)
		if err != nil {
			return 0
		}
		return p.Pid()
	}
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = sup.Stop(sctx)
	}
	return sup, pid, stop, nil
}
