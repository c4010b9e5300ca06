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
  arkctl ark test [flags] DIR|FILES...   run GenericARK scripts through the real plugin
                                          and check they behave as a cluster needs
  arkctl help [COMMAND]                  show help

Run 'arkctl ark test --help' for the harness's flags.
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
		fmt.Fprint(stdout, usageText)
		return exitOK
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
