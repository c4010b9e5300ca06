package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/ark-ha/ark/host/api"
	"github.com/ark-ha/ark/host/model"
)

const statusHelp = `Usage: arkctl status [-v] [--json] [TAG]
       arkctl status TAG --check

Shows every resource (or only TAG) as TruCluster's caa_stat -t does: its
type, the target the admin asked for (ONLINE/OFFLINE), its state and the
node it is on, sorted by tag. States are LifeKeeper's: ISP in service and
protected, ISU in service and unprotected, OSU out of service, OSF out of
service after a failure, UNKNOWN after a remove that failed (stop -f clears
it).

With -v (caa_stat -v) it adds how often the resource was restarted in
place and how often it failed, since when it is in its state, the pid
of its service when known, and why it is in its state (or which action
is running on it).

With --check it prints nothing and exits 0 if TAG is in service (ISP or
ISU) and 1 if not, for scripts (caa_stat -r); a TAG that is not defined
is a usage error (2), an unreachable daemon 3.
`

func status(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("status", statusHelp, stdout, stderr)
	verbose := c.fs.Bool("v", false, "verbose: add restarts, failures, since, pid and reason")
	check := c.fs.Bool("check", false, "print nothing; exit 0 iff TAG is in service (ISP or ISU), else 1")
	operands, code, done := c.parse(args)
	if done {
		return code
	}
	if len(operands) > 1 {
		return c.usage("give at most one TAG")
	}
	if *check && len(operands) == 0 {
		return c.usage("--check needs a TAG")
	}
	cl, code, ok := c.client()
	if !ok {
		return code
	}
	q := url.Values{}
	if len(operands) == 1 {
		q.Set("tag", operands[0])
	}
	raw, err := c.call(ctx, cl, api.PathStatus, q, nil)
	if err != nil {
		return c.fail(err)
	}
	var rs []api.Resource
	if !c.decode(raw, &rs) {
		return exitFailed
	}
	if *check {
		if len(rs) == 1 && model.State(rs[0].State).InService() {
			return exitOK
		}
		return exitFailed
	}
	if c.json {
		c.printJSON(raw)
		return exitOK
	}
	if len(rs) == 0 {
		fmt.Fprintln(stdout, "no resources are defined")
	}
	slices.SortFunc(rs, func(a, b api.Resource) int { return cmp.Compare(a.Tag, b.Tag) })
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	switch {
	case len(rs) == 0:
	case *verbose:
		fmt.Fprintln(tw, "TAG\tTYPE\tTARGET\tSTATE\tNODE\tRESTARTS\tFAILURES\tSINCE\tPID\tREASON")
	default:
		fmt.Fprintln(tw, "TAG\tTYPE\tTARGET\tSTATE\tNODE")
	}
	for _, r := range rs {
		if !*verbose {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Tag, r.Type, r.Target, r.State, orDash(r.Node))
			continue
		}
		since, pid, reason := "-", "-", r.Reason
		if !r.Since.IsZero() {
			since = r.Since.UTC().Format(time.RFC3339)
		}
		if r.Pid != 0 {
			pid = strconv.Itoa(r.Pid)
		}
		if r.Busy != "" {
			// A running action comes first: it is about to change the
			// state the reason explains.
			reason = "running " + r.Busy
			if r.Reason != "" {
				reason += "; " + r.Reason
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", r.Tag, r.Type, r.Target, r.State, orDash(r.Node),
			r.Restarts, r.Failures, since, pid, orDash(reason))
	}
	tw.Flush()
	if len(operands) == 0 {
		// A node of a cluster adds the members; a single node has none.
		if raw, err := c.call(ctx, cl, api.PathCluster, nil, nil); err == nil {
			var cs api.Cluster
			if c.decode(raw, &cs) {
				printCluster(stdout, cs)
			}
		}
	}
	return exitOK
}
