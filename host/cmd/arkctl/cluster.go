package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ark-ha/ark/host/api"
)

const relocateHelp = `Usage: arkctl relocate [--json] TAG [--node NODE]
       arkctl relocate [--json] --from NODE

Moves TAG's whole failover group to NODE (TruCluster's caa_relocate):
removes it top-down where it runs (ARK_FACTOR=GROUPMOVE), then restores it
bottom-up on NODE (ARK_EVENT=START). Without --node the group goes to the
best other node of its policy.

With --from every group in service on NODE moves to the best other node
(CLUSTERPRO's server separation: ARK_FACTOR=NODELEAVE on the way out,
ARK_EVENT=FAILOVER on the way in), e.g. before maintenance.

Exit status: 0 if every action succeeded, 1 if one failed, 2 if refused
(no such node, the node may not host the group...), 3 if arkd is not
reachable.
`

const balanceHelp = `Usage: arkctl balance [--json]

Moves every failover group in service to the node its policy prefers now
(TruCluster's caa_balance): the best priority up, or for policy balanced
the node with the fewest groups. Groups already there stay.
`

const maintenanceHelp = `Usage: arkctl maintenance on|off NODE [--json]

In maintenance a node keeps what runs on it, in service but unprotected
(ISU: not monitored), gets nothing new, and nothing fails over because of
it, even if its daemon stops (arkctl shutdown --leave-services puts the
node in maintenance by itself). 'off' brings its resources back to ISP.
`

func relocate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("relocate", relocateHelp, stdout, stderr)
	node := c.fs.String("node", "", "the node to move the group to")
	from := c.fs.String("from", "", "move every group off this node")
	operands, code, done := c.parse(args)
	if done {
		return code
	}
	req := api.RelocateRequest{Node: *node, From: *from}
	switch {
	case *from != "" && (len(operands) != 0 || *node != ""):
		return c.usage("--from takes no TAG and no --node")
	case *from == "" && len(operands) != 1:
		return c.usage("give one TAG, or --from NODE")
	case *from == "":
		req.Tag = operands[0]
	}
	return outcomeCall(ctx, c, api.PathRelocate, req, "relocate", req.Tag)
}

func balance(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("balance", balanceHelp, stdout, stderr)
	operands, code, done := c.parse(args)
	if done {
		return code
	}
	if len(operands) != 0 {
		return c.usage("takes no operands")
	}
	return outcomeCall(ctx, c, api.PathBalance, api.Request{}, "balance", "")
}

// outcomeCall sends a request whose reply is an Outcome (start, stop,
// relocate, balance) and prints it; it exits 1 unless every step succeeded.
func outcomeCall(ctx context.Context, c *command, path string, req any, verb, tag string) int {
	raw, code, ok := c.request(ctx, path, nil, req)
	if !ok {
		return code
	}
	var out api.Outcome
	if !c.decode(raw, &out) {
		return exitFailed
	}
	if c.json {
		c.printJSON(raw)
	} else {
		printOutcome(c.stdout, verb, tag, out)
	}
	if !out.OK {
		return exitFailed
	}
	return exitOK
}

func maintenance(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("maintenance", maintenanceHelp, stdout, stderr)
	operands, code, done := c.parse(args)
	if done {
		return code
	}
	if len(operands) != 2 || (operands[0] != "on" && operands[0] != "off") {
		return c.usage("give on|off and a NODE")
	}
	r, code, done := fetch[api.Reply](ctx, c, api.PathMaintenance, nil, api.MaintenanceRequest{Node: operands[1], On: operands[0] == "on"})
	if done {
		return code
	}
	fmt.Fprintln(stdout, r.Message)
	return exitOK
}

// printCluster prints the members as caa_stat shows them, with each
// communication path, then quorum, leader and this node's lease.
func printCluster(w io.Writer, c api.Cluster) {
	fmt.Fprintf(w, "\ncluster %s: leader %s (term %d), %d voters reachable, %d needed for quorum, seen from %s\n",
		c.Name, orDash(c.Leader), c.Term, c.Reachable, c.Quorum, c.Self)
	if c.Reachable < c.Quorum {
		fmt.Fprintln(w, "NO QUORUM: this node starts nothing and is removing what it runs")
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLE\tSTATE\tGROUPS\tPATHS")
	for _, n := range c.Nodes {
		state := "UP"
		if !n.Up {
			state = "DOWN"
		}
		if n.Maintenance {
			state += ",MAINTENANCE"
		}
		var paths []string
		for _, p := range n.Paths {
			s := "up"
			if !p.Up {
				s = "DOWN"
			}
			paths = append(paths, fmt.Sprintf("%s/%s %s", p.Local, p.Remote, s))
		}
		if n.Name == c.Self {
			paths = []string{"(this node)"}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", n.Name, n.Role, state, n.Groups, strings.Join(paths, ", "))
	}
	tw.Flush()
	lease := c.Lease
	if c.LeaseLeft > 0 {
		lease += fmt.Sprintf(" (%s left)", c.LeaseLeft.Round(10*time.Millisecond))
	}
	fmt.Fprintf(w, "lease: %s; self-fence: %s\n", lease, c.SelfFence)
}
