// Command arkctl is the admin and script writer's command line of ark.
//
// Exit codes: 0 ok, 1 an action or check failed, 2 usage or validation
// error, 3 daemon unreachable.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes, stable for scripts.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitUnreachable = 3
)

const usageText = `arkctl: control ark, the high-availability cluster manager.

Usage:
  arkctl status [-v] [TAG]               resources, their targets and states (caa_stat -t)
  arkctl status TAG --check              exit 0 iff TAG is in service (caa_stat -r)
  arkctl start [-f] [--node N] TAG       bring TAG and what it needs into service
  arkctl stop [-f] TAG                   take TAG and what needs it out of service
  arkctl relocate TAG [--node N]         move TAG's failover group (caa_relocate)
  arkctl relocate --from N               move every group off node N
  arkctl balance                         move each group to its preferred node (caa_balance)
  arkctl maintenance on|off NODE         a node keeps its resources, unmonitored; no failover
  arkctl validate -f FILE                check a resource definition file
  arkctl define|update|undefine -f FILE  add, replace or remove the file's resources
  arkctl events [--since T] [--follow]   the event history, or new events as they happen
  arkctl kit list|enable|disable         the kits (resource type plugins) of this node
  arkctl ins_list -t TAG                 TAG in LifeKeeper's ins_list format
  arkctl shutdown [--leave-services]     stop arkd, with or without its services
  arkctl ark test [flags] DIR|FILES...   run GenericARK scripts through the real plugin
                                          and check they behave as a cluster needs
  arkctl help [COMMAND]                  show help

Run 'arkctl COMMAND --help' for a command's flags. Every command that talks
to arkd takes --json (print the daemon's reply), --socket PATH and
--config NODEFILE (default $ARK_SOCKET, $ARK_CONFIG, /etc/ark/node.yaml).
Exit codes: 0 ok, 1 a check or action failed, 2 usage error, 3 daemon unreachable.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: tests call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "--help":
		if len(args) > 2 && args[1] == "ark" && args[2] == "test" {
			return arkTest(ctx, []string{"--help"}, stdout, stderr)
		}
		if len(args) > 1 && args[1] != "ark" && args[1] != "help" && args[1][0] != '-' {
			return run(ctx, []string{args[1], "--help"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usageText)
		return exitOK
	case "status":
		return status(ctx, args[1:], stdout, stderr)
	case "start":
		return start(ctx, args[1:], stdout, stderr)
	case "stop":
		return stop(ctx, args[1:], stdout, stderr)
	case "validate", "define", "update", "undefine":
		return define(ctx, args[0], args[1:], stdout, stderr)
	case "events":
		return eventsCmd(ctx, args[1:], stdout, stderr)
	case "kit":
		return kit(ctx, args[1:], stdout, stderr)
	case "ins_list":
		return insList(ctx, args[1:], stdout, stderr)
	case "shutdown":
		return shutdown(ctx, args[1:], stdout, stderr)
	case "relocate":
		return relocate(ctx, args[1:], stdout, stderr)
	case "balance":
		return balance(ctx, args[1:], stdout, stderr)
	case "maintenance":
		return maintenance(ctx, args[1:], stdout, stderr)
	case "ark":
		if len(args) > 1 && args[1] == "test" {
			return arkTest(ctx, args[2:], stdout, stderr)
		}
		fmt.Fprintln(stderr, "arkctl ark: unknown subcommand; did you mean 'arkctl ark test'?")
		return exitUsage
	}
	fmt.Fprintf(stderr, "arkctl: unknown command %q\n\n%s", args[0], usageText)
	return exitUsage
}
