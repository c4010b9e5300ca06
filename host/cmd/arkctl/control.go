package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/ark-ha/ark/host/api"
	"github.com/ark-ha/ark/host/events"
)

const startHelp = `Usage: arkctl start [-f] [--node NODE] [--json] TAG

Brings TAG into service, with everything it depends on (children first),
and sets its target to ONLINE. On a single node it runs here; in a
cluster it runs on NODE, else where TAG's failover group already runs,
else on the best node of the group's policy (any node forwards the
request to the leader). Prints one line per
action run or skipped, with its result and duration, then the outcome.

Without -f the first failure ends the start and what it brought up is
removed again (those removes are listed too). With -f the independent
branches go on and what came up stays up.

Exit status: 0 if every action succeeded, 1 if one failed, 2 if the daemon
refused the request (TAG not defined, running elsewhere, ...), 3 if it is
not reachable.
`

const stopHelp = `Usage: arkctl stop [-f] [--json] TAG

Takes TAG out of service, with everything that depends on it (parents
first), and sets its target to OFFLINE. Prints one line per action run or
skipped, with its result and duration, then the outcome.

Without -f the first failure ends the stop, so that a child is never
removed under a parent still running, and a resource in state UNKNOWN
(an earlier remove failed) is refused. With -f the stop pushes through,
and an UNKNOWN resource is removed again (caa_stop -f); it becomes OSU
when that remove succeeds.

Exit status: 0 if every action succeeded, 1 if one failed, 2 if the daemon
refused the request, 3 if it is not reachable.
`

const shutdownHelp = `Usage: arkctl shutdown [--leave-services] [--json]

Stops arkd on this node. By default it first takes every resource it runs
out of service. With --leave-services (LifeKeeper's lkstop -f) the
services keep running unprotected and the node is in maintenance: nothing
fails over, and a daemon started again re-attaches to them without
restarting anything.
`

func start(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return startStop(ctx, "start", startHelp, api.PathStart, args, stdout, stderr)
}

func stop(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return startStop(ctx, "stop", stopHelp, api.PathStop, args, stdout, stderr)
}

func startStop(ctx context.Context, verb, help, path string, args []string, stdout, stderr io.Writer) int {
	c := newCommand(verb, help, stdout, stderr)
	force := c.fs.Bool("f", false, "force: go on past failures (see above)")
	var node *string
	if verb == "start" {
		node = c.fs.String("node", "", "cluster: the node to start it on")
	} else {
		node = new(string)
	}
	operands, code, done := c.parse(args)
	if done {
		return code
	}
	if len(operands) != 1 {
		return c.usage("give one TAG")
	}
	return outcomeCall(ctx, c, path, api.Request{Tag: operands[0], Force: *force, Node: *node}, verb, operands[0])
}

// printOutcome prints the steps aligned, then the notes and a last line
// that says plainly whether the request succeeded.
func printOutcome(w io.Writer, verb, tag string, out api.Outcome) {
	rows := make([][]string, len(out.Steps))
	more := make([]string, len(out.Steps))
	for i, s := range out.Steps {
		dur := events.FormatDuration(s.Duration)
		var result string
		switch {
		case s.Skipped:
			result = "skipped"
		case s.OK:
			result = "ok " + dur
		case s.TimedOut:
			result = "FAILED timed out after " + dur
		default:
			result = fmt.Sprintf("FAILED status %d in %s", s.Status, dur)
		}
		first, rest, _ := strings.Cut(strings.TrimRight(s.Message, "\n"), "\n")
		if first != "" {
			result += ": " + first
		}
		rows[i] = []string{s.Action, s.Tag, result}
		if s.Node != "" {
			rows[i] = []string{s.Action, s.Tag, "on " + s.Node, result}
		}
		more[i] = rest
	}
	printTable(w, rows, more)
	for _, n := range out.Notes {
		fmt.Fprintf(w, "note: %s\n", indent(n))
	}
	switch {
	case out.OK && verb == "start":
		fmt.Fprintf(w, "%s started\n", tag)
	case out.OK && verb == "stop":
		fmt.Fprintf(w, "%s stopped\n", tag)
	case out.OK:
		fmt.Fprintf(w, "%s done\n", verb)
	case out.Error != "":
		fmt.Fprintf(w, "%s %s FAILED: %s\n", verb, tag, indent(out.Error))
	default:
		fmt.Fprintf(w, "%s %s FAILED\n", verb, tag)
	}
}

// printTable aligns rows in columns and prints more[i] (lines of free
// text, such as a script's output or a kit's last error) indented under
// row i. Those lines are kept out of the tabwriter because a line
// without cells would end its column block and misalign the rows below.
func printTable(w io.Writer, rows [][]string, more []string) {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
	if len(rows) == 0 {
		return
	}
	for i, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		fmt.Fprintln(w, l)
		if i < len(more) && more[i] != "" {
			fmt.Fprintf(w, "    %s\n", indent(more[i]))
		}
	}
}

func shutdown(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("shutdown", shutdownHelp, stdout, stderr)
	leave := c.fs.Bool("leave-services", false, "keep the services running, unprotected (lkstop -f)")
	operands, code, done := c.parse(args)
	if done {
		return code
	}
	if len(operands) != 0 {
		return c.usage("takes no operands")
	}
	r, code, done := fetch[api.Reply](ctx, c, api.PathShutdown, nil, api.ShutdownRequest{LeaveServices: *leave})
	if done {
		return code
	}
	if r.Message == "" {
		r.Message = "arkd is stopping"
	}
	fmt.Fprintln(stdout, r.Message)
	return exitOK
}
