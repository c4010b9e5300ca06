package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/ark-ha/ark/host/api"
	"github.com/ark-ha/ark/host/config"
)

// offlineNote is what validate says when only the local parse could be
// done, so that a clean result is not mistaken for a full check.
const offlineNote = "file parses; daemon not reachable, so kit schemas and the running configuration were not checked"

var defineHelps = map[string]string{
	api.ModeValidate: `Usage: arkctl validate -f FILE [--json]

Checks a resource definition file without changing anything: first here,
for what the file says about itself (keys, types, values, tags unique,
dependencies without cycles), then by the daemon, against the kits'
parameter schemas and the resources already defined. Prints what define
or update would do to each tag.

Without a daemon the local check still runs: a clean file then exits 0
with a note on stderr saying what was not checked.

Errors are printed one per line as FILE:LINE: FIELD: MESSAGE on stderr;
exit status 2.
`,
	api.ModeDefine: `Usage: arkctl define -f FILE [--json]

Adds the resources of a definition file, all or nothing, after the same
checks as validate. A resource already defined identically is left alone;
one defined differently is an error (use update). New resources start
with target OFFLINE: bring them up with arkctl start.

Prints each tag of the file with what happened to it (added, unchanged).
Errors are printed one per line as FILE:LINE: FIELD: MESSAGE on stderr;
exit status 2 (3 if the daemon is not reachable).
`,
	api.ModeUpdate: `Usage: arkctl update -f FILE [--json]

Replaces the definitions of resources already defined with those of FILE,
all or nothing, after the same checks as validate. Every tag in FILE must
exist (use define for new ones).

Prints each tag of the file with what happened to it (updated, unchanged).
Errors are printed one per line as FILE:LINE: FIELD: MESSAGE on stderr;
exit status 2 (3 if the daemon is not reachable).
`,
	api.ModeUndefine: `Usage: arkctl undefine -f FILE [--json]

Removes the resources FILE defines, all or nothing. They must be out of
service (arkctl stop) and nothing still defined may depend on them.

Prints each tag of the file with what happened to it (removed).
Errors are printed one per line as FILE:LINE: FIELD: MESSAGE on stderr;
exit status 2 (3 if the daemon is not reachable).
`,
}

// validateWords says what a change would be, since validate changes
// nothing and "added" would read as done.
var validateWords = map[string]string{
	"added":   "would be added",
	"updated": "would be updated",
	"removed": "would be removed",
}

func define(ctx context.Context, mode string, args []string, stdout, stderr io.Writer) int {
	c := newCommand(mode, defineHelps[mode], stdout, stderr)
	file := c.fs.String("f", "", "the resource definition file (required)")
	operands, code, done := c.parse(args)
	if done {
		return code
	}
	if len(operands) != 0 {
		return c.usage("unexpected %q: name the file with -f FILE", operands[0])
	}
	if *file == "" {
		return c.usage("name the definition file with -f FILE")
	}
	data, err := os.ReadFile(*file)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", c.name, err)
		return exitUsage
	}
	var local []string
	if mode == api.ModeValidate {
		rs, err := config.ParseResources(*file, data)
		if err != nil {
			printErrors(stderr, err)
			return exitUsage
		}
		for _, r := range rs {
			local = append(local, r.Tag)
		}
	}
	cl, code, ok := c.client()
	if !ok {
		return code
	}
	raw, err := c.call(ctx, cl, api.PathDefine, nil, api.DefineRequest{Mode: mode, File: *file, Data: data})
	var ue *api.UnreachableError
	var re *api.RemoteError
	switch {
	case err == nil:
	case mode == api.ModeValidate && errors.As(err, &ue):
		return validatedOffline(c, local)
	case errors.As(err, &re) && re.Kind == api.KindUsage:
		printErrors(stderr, err)
		return exitUsage
	default:
		return c.fail(err)
	}
	if c.json {
		c.printJSON(raw)
		return exitOK
	}
	var reply api.DefineReply
	if !c.decode(raw, &reply) {
		return exitFailed
	}
	if len(reply.Changes) == 0 {
		fmt.Fprintf(stdout, "%s defines no resources\n", *file)
	}
	for _, tag := range slices.Sorted(maps.Keys(reply.Changes)) {
		change := reply.Changes[tag]
		if w, ok := validateWords[change]; ok && mode == api.ModeValidate {
			change = w
		}
		fmt.Fprintf(stdout, "%s: %s\n", tag, change)
	}
	return exitOK
}

// validatedOffline reports a file that parsed here while the daemon was
// away: each tag "parses", in the shape of a DefineReply so that --json
// readers need one decoder.
func validatedOffline(c *command, tags []string) int {
	fmt.Fprintf(c.stderr, "%s: %s\n", c.name, offlineNote)
	slices.Sort(tags)
	if c.json {
		reply := api.DefineReply{Changes: map[string]string{}}
		for _, t := range tags {
			reply.Changes[t] = "parses"
		}
		b, _ := json.Marshal(reply)
		c.printJSON(b)
		return exitOK
	}
	for _, t := range tags {
		fmt.Fprintf(c.stdout, "%s: parses\n", t)
	}
	return exitOK
}

// printErrors prints validation errors one per line, unprefixed, so that
// an editor or a compiler-error parser can jump to FILE:LINE.
func printErrors(w io.Writer, err error) {
	msg := err.Error()
	var re *api.RemoteError
	if errors.As(err, &re) {
		msg = re.ErrorReply.Error
	}
	for _, l := range strings.Split(strings.TrimRight(msg, "\n"), "\n") {
		fmt.Fprintln(w, l)
	}
}
