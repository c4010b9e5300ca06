// Command arkd is ark's daemon: run one on every node. It keeps the
// node's resources in service, checks them, recovers them in place and
// takes them out of service when they cannot be kept (see the admin
// guide, host/README.md).
//
// A signal (SIGTERM, SIGINT) stops arkd and its plugins but never the
// services: they keep running and the next arkd adopts them, as after
// LifeKeeper's lkstop -f. `arkctl shutdown` without --leave-services is
// the one way to take everything down with the daemon.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/ark-ha/ark/host/api"
	"github.com/ark-ha/ark/host/config"
	"github.com/ark-ha/ark/host/daemon"
)

// version is set by the build (-ldflags -X main.version=...).
var version = "dev"

const usageText = `arkd: the ark high-availability daemon (one per node).

Usage:
  arkd [--config FILE] [--log-format text|json] [--log-level LEVEL]

arkd reads the node file (default /etc/ark/node.yaml): the node's name,
its state directory, plugin directory, control socket and the kits
(resource types) it runs, each pinned by sha256. It then starts the kits,
adopts the resources that still run from its last life, restores those
that should run and do not, monitors them, and serves arkctl on the
control socket (root only).

With cluster_file in the node file, arkd is a node of that cluster: it
heartbeats on every communication path, joins the replicated store (raft)
and takes part in failover; the leader decides, every node runs what it
is given. A node that loses quorum removes its resources before its
lease ends (lease_timeout) and kills what is left when it ends; only
then does the leader restore them elsewhere. A node with role: witness
votes and hosts nothing.

SIGTERM or SIGINT stops arkd and its plugins and leaves services running
(the next arkd adopts them). 'arkctl shutdown' takes them down first.

Flags:
`

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("arkd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	cfgPath := fs.String("config", "/etc/ark/node.yaml", "the node file")
	logFormat := fs.String("log-format", "", "text or json (default: the node file's log_format)")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (default: the node file's log_level)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stderr, "arkd", version)
		return 0
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "arkd: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	node, err := config.LoadNode(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "arkd: %v\n", err)
		return 2
	}
	if *logFormat != "" {
		node.LogFormat = *logFormat
	}
	if *logLevel != "" {
		node.LogLevel = *logLevel
	}
	log, err := newLogger(stderr, node.LogFormat, node.LogLevel)
	if err != nil {
		fmt.Fprintf(stderr, "arkd: %v\n", err)
		return 2
	}
	// A dying arkctl or a closed pipe must not kill the daemon.
	signal.Ignore(syscall.SIGPIPE)

	var cluster *config.Cluster
	if node.ClusterFile != "" {
		if cluster, err = config.LoadCluster(node.ClusterFile); err != nil {
			fmt.Fprintf(stderr, "arkd: %v\n", err)
			return 2
		}
		if cluster.Name != node.Cluster {
			fmt.Fprintf(stderr, "arkd: %s: cluster %q, but the node file %s says cluster %q\n", node.ClusterFile, cluster.Name, *cfgPath, node.Cluster)
			return 2
		}
	}
	d, err := daemon.New(daemon.Config{Node: node, Cluster: cluster, Logger: log})
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	ln, err := api.Listen(node.Socket, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		d.Close()
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log.Info("arkd starting", "version", version, "config", *cfgPath, "socket", node.Socket, "state_dir", node.StateDir, "pid", os.Getpid())
	if err := d.Run(ctx, ln); err != nil {
		log.Error("arkd stopped", "err", err)
		return 1
	}
	_ = os.Remove(node.Socket)
	log.Info("arkd stopped")
	return 0
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if level == "" {
		level = "info"
	}
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}
