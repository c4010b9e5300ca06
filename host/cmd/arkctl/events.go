package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/ark-ha/ark/host/api"
	"github.com/ark-ha/ark/host/events"
)

const eventsHelp = `Usage: arkctl events [--since T] [--follow] [--tag TAG] [--json]

Prints the node's event history, oldest first: state changes, action
results, targets set, definitions, kits, daemon starts and stops, warnings
and errors. One line per event:

  TIME NODE [LEVEL] [TAG] [ACTION] [FROM -> TO]  MESSAGE [(DETAILS)]

with TIME in UTC; the output an action left is printed indented below its
line. With --json each event is printed as the daemon sends it, one JSON
object per line.

--since takes an RFC 3339 time (2026-11-22T10:00:00Z) or a duration
meaning that long ago (10m, 2h). With --follow, new events are printed as
they happen until interrupted (Ctrl-C: exit status 0); if arkd ends the
stream (it stopped) the exit status is 3. --tag keeps only the events
about one resource.
`

func eventsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("events", eventsHelp, stdout, stderr)
	since := c.fs.String("since", "", "only events from this time on: RFC 3339, or a duration ago (10m)")
	follow := c.fs.Bool("follow", false, "keep printing new events until interrupted")
	tag := c.fs.String("tag", "", "only events about this resource")
	operands, code, done := c.parse(args)
	if done {
		return code
	}
	if len(operands) != 0 {
		return c.usage("unexpected %q: filter by resource with --tag", operands[0])
	}
	q := url.Values{}
	if *since != "" {
		t, err := parseSince(*since, time.Now())
		if err != nil {
			return c.usage("--since: %v", err)
		}
		q.Set("since", t.UTC().Format(time.RFC3339Nano))
	}
	if *follow {
		q.Set("follow", "1")
	}
	cl, code, ok := c.client()
	if !ok {
		return code
	}
	err := cl.Stream(ctx, api.PathEvents, q, func(line json.RawMessage) error {
		var e events.Event
		if err := json.Unmarshal(line, &e); err != nil {
			return fmt.Errorf("cannot read an event (is arkd the same version as arkctl?): %w", err)
		}
		if *tag != "" && e.Tag != *tag {
			return nil
		}
		if c.json {
			fmt.Fprintf(stdout, "%s\n", line)
			return nil
		}
		fmt.Fprintln(stdout, e.String())
		for _, o := range e.Output {
			fmt.Fprintf(stdout, "    %s\n", escapeControls(o))
		}
		return nil
	})
	if ctx.Err() != nil {
		// Interrupting --follow is how it ends.
		return exitOK
	}
	if err != nil {
		return c.fail(err)
	}
	if *follow {
		// Only arkd stopping ends a followed stream: a script watching
		// events must learn that it is no longer watching anything.
		fmt.Fprintf(stderr, "%s: arkd ended the event stream (did it stop?)\n", c.name)
		return exitUnreachable
	}
	return exitOK
}

// parseSince reads an RFC 3339 time, or a duration before now, since an
// admin chasing a failure thinks "the last ten minutes" more often than
// in timestamps.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-11-22T10:00:00Z) nor a duration (10m)", s)
	}
	return now.Add(-d), nil
}

// escapeControls keeps a line of an action's output on one terminal
// line and harmless: a script may print anything, escape sequences
// included.
func escapeControls(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\n':
			b.WriteString(`\n`)
		case unicode.IsControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
