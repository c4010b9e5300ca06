package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/ark-ha/ark/host/api"
)

const kitHelp = `Usage: arkctl kit list [--json]
       arkctl kit enable NAME [--path PATH] [--json]
       arkctl kit disable NAME [--json]

A kit (ARK) is the plugin binary of a resource type. list shows each kit
enabled on this node: its version, whether its plugin process runs (PID,
how often it was launched), how many resources use it, who enabled it
(the node file or arkctl), the first 12 digits of the sha256 it is pinned
to and its path; a kit that failed shows its last error below its line,
with when the daemon tries again.

enable pins the binary's current sha256 and starts it: a binary replaced
later is refused until enabled again. PATH defaults to
<plugin_dir>/ark-NAME. disable stops a kit no resource uses; a kit the
node file enables is disabled by editing the node file.
`

const insListHelp = `Usage: arkctl ins_list -t TAG [--json]

Prints TAG as LifeKeeper's ins_list does: one line, fields separated by
^A (\001): application (the failover group), type, tag, id, switchback,
node, state, target, reason. Field 7 is the state, so that old scripts
keep working:

  ins_list -t $TAG | cut -f7 -d$'\001'
`

func kit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	sub := ""
	if len(args) > 0 {
		sub, args = args[0], args[1:]
	}
	c := newCommand("kit "+sub, kitHelp, stdout, stderr)
	switch sub {
	case "list":
		return kitList(ctx, c, args)
	case "enable", "disable":
		return kitChange(ctx, c, sub, args)
	case "-h", "-help", "--help", "help":
		c.help()
		return exitOK
	}
	c.name = "arkctl kit"
	if sub == "" {
		return c.usage("give list, enable or disable")
	}
	return c.usage("unknown subcommand %q: give list, enable or disable", sub)
}

func kitList(ctx context.Context, c *command, args []string) int {
	operands, code, done := c.parse(args)
	if done {
		return code
	}
	if len(operands) != 0 {
		return c.usage("takes no operands")
	}
	ks, code, done := fetch[[]api.Kit](ctx, c, api.PathKits, nil, nil)
	if done {
		return code
	}
	if len(ks) == 0 {
		fmt.Fprintln(c.stdout, "no kits are enabled")
		return exitOK
	}
	printKits(c.stdout, ks)
	return exitOK
}

// printKits prints the kit table, each kit's last error under its line.
func printKits(w io.Writer, ks []api.Kit) {
	rows := [][]string{{"NAME", "VERSION", "RUNNING", "PID", "LAUNCHES", "RESOURCES", "SOURCE", "SHA256", "PATH"}}
	more := []string{""}
	for _, k := range ks {
		running, pid, sum := "no", "-", k.SHA256
		if k.Running {
			running = "yes"
		}
		if k.Pid != 0 {
			pid = strconv.Itoa(k.Pid)
		}
		if len(sum) > 12 {
			sum = sum[:12]
		}
		rows = append(rows, []string{k.Name, orDash(k.Version), running, pid, strconv.Itoa(k.Launches),
			strconv.Itoa(k.Resources), orDash(k.Source), orDash(sum), k.Path})
		msg := k.LastError
		if msg != "" && !k.NextTry.IsZero() {
			msg += " (next try " + k.NextTry.UTC().Format(time.RFC3339) + ")"
		}
		more = append(more, msg)
	}
	printTable(w, rows, more)
}

func kitChange(ctx context.Context, c *command, op string, args []string) int {
	var path *string
	if op == "enable" {
		path = c.fs.String("path", "", "the plugin binary (default <plugin_dir>/ark-NAME)")
	}
	operands, code, done := c.parse(args)
	if done {
		return code
	}
	if len(operands) != 1 {
		return c.usage("give one kit NAME")
	}
	req := api.KitRequest{Op: op, Name: operands[0]}
	if path != nil {
		req.Path = *path
	}
	ks, code, done := fetch[[]api.Kit](ctx, c, api.PathKit, nil, req)
	if done {
		return code
	}
	if op == "disable" {
		fmt.Fprintf(c.stdout, "kit %s disabled\n", req.Name)
		return exitOK
	}
	for _, k := range ks {
		if k.Name == req.Name {
			fmt.Fprintf(c.stdout, "kit %s enabled: %s sha256 %s\n", k.Name, k.Path, k.SHA256)
			if k.LastError != "" {
				// Enabled but not started: the pin holds, the admin
				// needs to know the plugin does not run.
				fmt.Fprintf(c.stdout, "    %s\n", indent(k.LastError))
			}
			return exitOK
		}
	}
	fmt.Fprintf(c.stdout, "kit %s enabled\n", req.Name)
	return exitOK
}

func insList(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("ins_list", insListHelp, stdout, stderr)
	tag := c.fs.String("t", "", "the resource's tag (required)")
	operands, code, done := c.parse(args)
	if done {
		return code
	}
	if len(operands) != 0 || *tag == "" {
		return c.usage("give the tag with -t TAG")
	}
	l, code, done := fetch[api.InsList](ctx, c, api.PathInsList, url.Values{"tag": {*tag}}, nil)
	if done {
		return code
	}
	fmt.Fprintln(stdout, l.Line)
	return exitOK
}
