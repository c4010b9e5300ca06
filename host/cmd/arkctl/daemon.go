package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"strings"

	"github.com/ark-ha/ark/host/api"
	"github.com/ark-ha/ark/host/config"
)

// defaultNodeFile is where arkd's node file lives unless --config or
// ARK_CONFIG says otherwise; arkctl reads it only for the socket path.
const defaultNodeFile = "/etc/ark/node.yaml"

// socketFlagsHelp is appended to every daemon command's help, so that
// the precedence of the socket sources is written down once.
const socketFlagsHelp = `
The control socket is, first found: --socket, --config's node file,
$ARK_SOCKET, $ARK_CONFIG's node file, /etc/ark/node.yaml if it exists,
else /run/ark/arkd.sock. A command line flag beats the environment.
`

// command is what every command that talks to arkd shares: its flag set
// with --json, --socket and --config, and how its errors become exit
// codes. One is made per invocation.
type command struct {
	name   string // "arkctl status", the prefix of every message
	fs     *flag.FlagSet
	json   bool
	socket string
	config string
	help   func() // prints the help on stdout
	// defaultNode is the node file read when neither flags nor
	// environment name one (a field so that tests need no /etc).
	defaultNode string
	stdout      io.Writer
	stderr      io.Writer
}

func newCommand(name, help string, stdout, stderr io.Writer) *command {
	c := &command{name: "arkctl " + name, defaultNode: defaultNodeFile, stdout: stdout, stderr: stderr}
	c.fs = flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.fs.SetOutput(stderr)
	c.fs.BoolVar(&c.json, "json", false, "print the daemon's reply as JSON instead of a table")
	c.fs.StringVar(&c.socket, "socket", "", "path of arkd's control socket")
	c.fs.StringVar(&c.config, "config", "", "node file whose socket to use (default $ARK_CONFIG, else "+defaultNodeFile+")")
	c.help = func() {
		c.fs.SetOutput(c.stdout)
		fmt.Fprint(c.stdout, help)
		fmt.Fprintln(c.stdout, "\nFlags:")
		c.fs.PrintDefaults()
		fmt.Fprint(c.stdout, socketFlagsHelp)
	}
	// The flag package calls Usage both for -help and after a bad flag,
	// on the same output: help goes to stdout, so parse prints it; a bad
	// flag gets its error and a pointer to the help, not a page of it.
	c.fs.Usage = func() {}
	return c
}

// parse parses args, flags and operands in any order. done means the
// command is over (help was printed, or a flag was bad) with exit code
// code.
func (c *command) parse(args []string) (operands []string, code int, done bool) {
	operands, err := parseInterspersed(c.fs, args)
	if errors.Is(err, flag.ErrHelp) {
		c.help()
		return nil, exitOK, true
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "see '%s --help'\n", c.name)
		return nil, exitUsage, true
	}
	return operands, exitOK, false
}

// usage reports a usage error and returns its exit code.
func (c *command) usage(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "%s: %s (see '%s --help')\n", c.name, fmt.Sprintf(format, args...), c.name)
	return exitUsage
}

// client returns a client for the socket the flags and environment
// name. A node file named explicitly must load, since guessing another
// socket could reach the wrong daemon; the default node file is only a
// hint, so a broken one costs a warning, not the command.
func (c *command) client() (*api.Client, int, bool) {
	if c.socket != "" {
		return api.NewClient(c.socket), exitOK, true
	}
	path, explicit := c.config, c.config != ""
	if !explicit {
		if s := os.Getenv("ARK_SOCKET"); s != "" {
			return api.NewClient(s), exitOK, true
		}
		if p := os.Getenv("ARK_CONFIG"); p != "" {
			path, explicit = p, true
		} else {
			path = c.defaultNode
		}
	}
	n, err := config.LoadNode(path)
	switch {
	case err == nil:
		return api.NewClient(n.Socket), exitOK, true
	case explicit:
		fmt.Fprintf(c.stderr, "%s: node file %s: %s\n", c.name, path, indent(err.Error()))
		return nil, exitUsage, false
	case !errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(c.stderr, "%s: warning: node file %s: %s\n%s: using %s\n", c.name, path, indent(err.Error()), c.name, config.DefaultSocket)
	}
	return api.NewClient(config.DefaultSocket), exitOK, true
}

// call sends body (nil for GET) to path and returns the reply as the
// daemon sent it, so that --json can print it untouched and the table
// can decode it.
func (c *command) call(ctx context.Context, cl *api.Client, path string, query url.Values, body any) (json.RawMessage, error) {
	var raw json.RawMessage
	err := cl.Call(ctx, path, query, body, &raw)
	return raw, err
}

// fail reports err and returns its exit code: 3 when the daemon could
// not be reached, 2 when it refused the request as wrong, else 1.
// request sends body to path on arkd and returns its reply; on failure
// it has reported it and returns the exit code.
func (c *command) request(ctx context.Context, path string, query url.Values, body any) (json.RawMessage, int, bool) {
	cl, code, ok := c.client()
	if !ok {
		return nil, code, false
	}
	raw, err := c.call(ctx, cl, path, query, body)
	if err != nil {
		return nil, c.fail(err), false
	}
	return raw, exitOK, true
}

// fetch sends a request and decodes the reply into a T. done says the
// command is over, with its exit code: the request failed, the reply did
// not decode, or --json printed it as it came.
func fetch[T any](ctx context.Context, c *command, path string, query url.Values, body any) (v T, code int, done bool) {
	raw, code, ok := c.request(ctx, path, query, body)
	switch {
	case !ok:
		return v, code, true
	case c.json:
		c.printJSON(raw)
		return v, exitOK, true
	case !c.decode(raw, &v):
		return v, exitFailed, true
	}
	return v, exitOK, false
}

func (c *command) fail(err error) int {
	var ue *api.UnreachableError
	var re *api.RemoteError
	fmt.Fprintf(c.stderr, "%s: %v\n", c.name, err)
	switch {
	case errors.As(err, &ue):
		return exitUnreachable
	case errors.As(err, &re) && re.Kind == api.KindUsage:
		return exitUsage
	}
	return exitFailed
}

// printJSON prints a reply indented for people; the content is the
// daemon's, byte for byte apart from white space.
func (c *command) printJSON(raw json.RawMessage) {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		b.Reset()
		b.Write(raw)
	}
	b.WriteByte('\n')
	c.stdout.Write(b.Bytes())
}

// decode decodes a reply, naming the command when the daemon sent
// something this arkctl does not understand (a version mismatch).
func (c *command) decode(raw json.RawMessage, v any) bool {
	if err := json.Unmarshal(raw, v); err != nil {
		fmt.Fprintf(c.stderr, "%s: cannot read the daemon's reply (is arkd the same version as arkctl?): %v\n", c.name, err)
		return false
	}
	return true
}

// indent puts continuation lines of a multi-line message under its
// first line, so that a script's output or a list of errors stays
// visibly part of the line it belongs to.
func indent(s string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

// orDash prints an absent value as "-", so that table columns never
// collapse.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
