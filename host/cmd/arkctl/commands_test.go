package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ark-ha/ark/host/api"
	"github.com/ark-ha/ark/host/config"
	"github.com/ark-ha/ark/host/events"
	"github.com/ark-ha/ark/host/model"
)

// t0 is the fixed time of the canned replies, so that golden files do
// not change between runs; it is not UTC, to show times are printed in
// UTC.
var t0 = time.Date(2026, 11, 22, 19, 0, 0, 0, time.FixedZone("JST", 9*3600))

// cannedResources is arkd's status reply, deliberately not sorted.
var cannedResources = []api.Resource{
	{Tag: "web-store", Type: "generic", ID: "web-store", Target: "OFFLINE", State: "OSF", Node: "node1", Group: "web",
		Failures: 3, Since: t0.Add(-time.Hour), Reason: "restore failed: status 1"},
	{Tag: "web-app", Type: "generic", ID: "WEBAPP", Target: "ONLINE", State: "ISP", Node: "node1", Group: "web",
		DependsOn: []string{"web-ip"}, Restarts: 1, Failures: 2, Since: t0, Pid: 4242},
	{Tag: "web-ip", Type: "ip", ID: "192.0.2.10", Target: "ONLINE", State: "ISU", Node: "node1", Group: "web",
		Since: t0.Add(-2 * time.Minute), Busy: "remove", Reason: "stopping"},
	{Tag: "db", Type: "generic", ID: "db", Target: "OFFLINE", State: "OSU", Node: "node1", Group: "db"},
}

// statusRoute answers like arkd: everything, or one tag, or "not defined".
func statusRoute(w http.ResponseWriter, r *http.Request) {
	tag := r.URL.Query().Get("tag")
	if tag == "" {
		reply(http.StatusOK, cannedResources)(w, r)
		return
	}
	for _, res := range cannedResources {
		if res.Tag == tag {
			reply(http.StatusOK, []api.Resource{res})(w, r)
			return
		}
	}
	usageError("resource "+tag+": not defined")(w, r)
}

func TestStatus(t *testing.T) {
	f := startFake(t, map[string]http.HandlerFunc{"GET " + api.PathStatus: statusRoute})
	tr := newTranscript(t, f)
	tr.run(exitOK, "status", "--socket", f.socket)
	tr.run(exitOK, "status", "-v", "--socket", f.socket)
	tr.run(exitOK, "status", "web-app", "--socket", f.socket)
	tr.run(exitOK, "status", "--json", "--socket", f.socket, "db")
	tr.run(exitOK, "status", "web-app", "--check", "--socket", f.socket)
	tr.run(exitOK, "status", "web-ip", "--check", "--socket", f.socket)
	tr.run(exitFailed, "status", "web-store", "--check", "--socket", f.socket)
	tr.run(exitFailed, "status", "db", "--check", "--socket", f.socket)
	tr.run(exitUsage, "status", "nope", "--check", "--socket", f.socket)
	tr.run(exitUsage, "status", "--check", "--socket", f.socket)
	tr.run(exitUsage, "status", "a", "b", "--socket", f.socket)
	tr.run(exitUsage, "status", "--frob", "--socket", f.socket)
	tr.golden("status.txt")
}

func TestStatusEmpty(t *testing.T) {
	f := startFake(t, map[string]http.HandlerFunc{"GET " + api.PathStatus: reply(http.StatusOK, []api.Resource{})})
	out, _, code := arkctl(t, "status", "--socket", f.socket)
	if code != exitOK || out != "no resources are defined\n" {
		t.Errorf("exit %d, stdout %q", code, out)
	}
}

// outcomeRoute answers start and stop as arkd would for three cases: a
// success, a failure with the rollback, and a refusal.
func outcomeRoute(w http.ResponseWriter, r *http.Request) {
	var req api.Request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		usageError("malformed request: "+err.Error())(w, r)
		return
	}
	switch req.Tag {
	case "web-app":
		reply(http.StatusOK, api.Outcome{OK: true, Steps: []api.Step{
			{Tag: "web-ip", Action: "restore", OK: true, Duration: 120 * time.Millisecond},
			{Tag: "web-app", Action: "restore", OK: true, Duration: 2500 * time.Millisecond},
		}, Notes: []string{"db is already in service"}})(w, r)
	case "web-store":
		reply(http.StatusOK, api.Outcome{Steps: []api.Step{
			{Tag: "web-ip", Action: "restore", OK: true, Duration: 80 * time.Millisecond},
			{Tag: "web-store", Action: "restore", Status: 1, Duration: 500 * time.Millisecond,
				Message: "port 7101 in use\nlsof: nginx 1234"},
			{Tag: "web-cache", Action: "restore", Skipped: true},
			{Tag: "web-db", Action: "restore", TimedOut: true, Duration: 30 * time.Second},
			{Tag: "web-ip", Action: "remove", OK: true, Duration: 40 * time.Millisecond},
		}, Notes: []string{"start of web-store failed: removing what it brought up ([web-ip])"}})(w, r)
	case "web-error":
		reply(http.StatusOK, api.Outcome{Error: "plugin ark-generic crashed"})(w, r)
	default:
		usageError("resource "+req.Tag+": not defined")(w, r)
	}
}

func TestStartStop(t *testing.T) {
	f := startFake(t, map[string]http.HandlerFunc{
		"POST " + api.PathStart: outcomeRoute,
		"POST " + api.PathStop:  outcomeRoute,
	})
	tr := newTranscript(t, f)
	tr.run(exitOK, "start", "web-app", "--socket", f.socket)
	if got := f.last(t).Body; got != `{"tag":"web-app"}` {
		t.Errorf("start sent %s", got)
	}
	tr.run(exitFailed, "start", "-f", "web-store", "--socket", f.socket)
	if got := f.last(t).Body; got != `{"tag":"web-store","force":true}` {
		t.Errorf("start -f sent %s", got)
	}
	tr.run(exitFailed, "stop", "web-error", "--socket", f.socket)
	tr.run(exitOK, "stop", "--json", "web-app", "--socket", f.socket)
	tr.run(exitUsage, "start", "nope", "--socket", f.socket)
	tr.run(exitUsage, "stop", "--socket", f.socket)
	tr.golden("start-stop.txt")
}

// defineRoute answers define requests: errors for update (as arkd
// reports a file's problems), the changes otherwise.
func defineRoute(w http.ResponseWriter, r *http.Request) {
	var req api.DefineRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		usageError("malformed request: "+err.Error())(w, r)
		return
	}
	switch req.Mode {
	case api.ModeUpdate:
		usageError(req.File+":3: resource web-app is not defined: use define\n"+
			req.File+":11: resources[1].params.address: unknown parameter of kit ip")(w, r)
	case api.ModeUndefine:
		reply(http.StatusInternalServerError, api.ErrorReply{Error: "state not saved: disk full", Kind: api.KindFailed})(w, r)
	default:
		reply(http.StatusOK, api.DefineReply{Changes: map[string]string{"web-ip": "unchanged", "web-app": "added"}})(w, r)
	}
}

func TestDefine(t *testing.T) {
	f := startFake(t, map[string]http.HandlerFunc{"POST " + api.PathDefine: defineRoute})
	tr := newTranscript(t, f)
	tr.run(exitOK, "define", "-f", "testdata/resources.yaml", "--socket", f.socket)
	var req api.DefineRequest
	if err := json.Unmarshal([]byte(f.last(t).Body), &req); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile("testdata/resources.yaml")
	if req.Mode != api.ModeDefine || req.File != "testdata/resources.yaml" || string(req.Data) != string(data) {
		t.Errorf("define sent %+v", req)
	}
	tr.run(exitOK, "validate", "-f", "testdata/resources.yaml", "--socket", f.socket)
	tr.run(exitOK, "define", "-f", "testdata/resources.yaml", "--json", "--socket", f.socket)
	tr.run(exitUsage, "update", "-f", "testdata/resources.yaml", "--socket", f.socket)
	tr.run(exitFailed, "undefine", "-f", "testdata/resources.yaml", "--socket", f.socket)
	tr.run(exitUsage, "define", "-f", "testdata/no-such-file.yaml", "--socket", f.socket)
	tr.run(exitUsage, "define", "testdata/resources.yaml", "--socket", f.socket)
	tr.golden("define.txt")
}

func TestValidateOffline(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "arkd.sock")
	tr := newTranscript(t, nil)
	tr.repl = strings.NewReplacer(filepath.Dir(missing), "TMP")
	tr.run(exitUsage, "validate", "-f", "testdata/bad-resources.yaml", "--socket", missing)
	tr.run(exitOK, "validate", "-f", "testdata/resources.yaml", "--socket", missing)
	tr.run(exitOK, "validate", "-f", "testdata/resources.yaml", "--json", "--socket", missing)
	tr.run(exitUnreachable, "define", "-f", "testdata/resources.yaml", "--socket", missing)
	tr.golden("validate-offline.txt")
}

func intp(i int) *int { return &i }

// cannedEvents are the history the fake streams, as JSON lines.
var cannedEvents = []events.Event{
	{Seq: 1, Time: t0, Node: "node1", Kind: events.KindTarget, Level: events.LevelInfo, Tag: "web-app", Message: "target ONLINE (arkctl start)"},
	{Seq: 2, Time: t0.Add(1500 * time.Millisecond), Node: "node1", Kind: events.KindAction, Level: events.LevelError, Tag: "web-app",
		Action: "restore", Status: intp(1), Duration: 230 * time.Millisecond, Output: []string{"port 7101 in use", "bell\a"}, Message: "restore failed"},
	{Seq: 3, Time: t0.Add(2 * time.Second), Node: "node1", Kind: events.KindState, Level: events.LevelInfo, Tag: "web-app",
		From: model.OSU, To: model.OSF, Message: "restore failed"},
	{Seq: 4, Time: t0.Add(3 * time.Second), Node: "node1", Kind: events.KindKit, Level: events.LevelInfo, Message: "kit ip started"},
}

// eventsRoute streams cannedEvents; with follow=1 it then waits, as
// arkd does, until the client goes away.
func eventsRoute(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	for _, e := range cannedEvents {
		enc.Encode(e)
	}
	if r.URL.Query().Get("follow") == "" {
		return
	}
	w.(http.Flusher).Flush()
	<-r.Context().Done()
}

func TestEvents(t *testing.T) {
	f := startFake(t, map[string]http.HandlerFunc{"GET " + api.PathEvents: eventsRoute})
	tr := newTranscript(t, f)
	tr.run(exitOK, "events", "--socket", f.socket)
	tr.run(exitOK, "events", "--tag", "web-app", "--since", "2026-11-22T10:00:00Z", "--socket", f.socket)
	if got := f.last(t).Query["since"]; len(got) != 1 || got[0] != "2026-11-22T10:00:00Z" {
		t.Errorf("since sent as %q", got)
	}
	tr.run(exitOK, "events", "--json", "--tag", "web-app", "--socket", f.socket)
	tr.run(exitUsage, "events", "--since", "yesterday", "--socket", f.socket)
	tr.run(exitUsage, "events", "web-app", "--socket", f.socket)

	// --follow runs until interrupted: cancel once every canned event
	// is printed (5 lines with the action's output), then it exits 0.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{onLine: func(n int) {
		if n >= 5 {
			cancel()
		}
	}}
	tr.runCtx(ctx, out, exitOK, "events", "--follow", "--tag", "web-app", "--socket", f.socket)
	if got := f.last(t).Query["follow"]; len(got) != 1 || got[0] != "1" {
		t.Errorf("follow sent as %q", got)
	}

	// A daemon that stops ends the stream: --follow says so.
	stopping := startFake(t, map[string]http.HandlerFunc{"GET " + api.PathEvents: func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(cannedEvents[3])
	}})
	tr.repl = strings.NewReplacer(f.dir, "TMP", stopping.dir, "TMP")
	tr.run(exitUnreachable, "events", "--follow", "--socket", stopping.socket)
	tr.golden("events.txt")
}

func TestEventsSinceDuration(t *testing.T) {
	f := startFake(t, map[string]http.HandlerFunc{"GET " + api.PathEvents: eventsRoute})
	before := time.Now()
	if _, stderr, code := arkctl(t, "events", "--since", "10m", "--socket", f.socket); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	after := time.Now()
	got, err := time.Parse(time.RFC3339Nano, f.last(t).Query["since"][0])
	if err != nil {
		t.Fatal(err)
	}
	if got.Before(before.Add(-10*time.Minute-time.Second)) || got.After(after.Add(-10*time.Minute)) {
		t.Errorf("--since 10m sent %s, want 10 minutes before %s", got, before)
	}
}

var cannedKits = []api.Kit{
	{Name: "generic", Path: "/usr/lib/ark/plugins/ark-generic", SHA256: "3b0c4f1e9a7d2c58b6e0f4a1d9c3b7e5a2f8d6c4b0e9a1f3d5c7b9e2a4f6d8c0",
		Version: "1.4.0", Source: "node file", Running: true, Pid: 3100, Launches: 1, Resources: 3},
	{Name: "ip", Path: "/usr/lib/ark/plugins/ark-ip", SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Source: "arkctl", Launches: 4, LastError: "ark-ip exited: status 2\nstderr: cannot open /proc/net/route", NextTry: t0.Add(30 * time.Second), Resources: 1},
}

func TestKit(t *testing.T) {
	f := startFake(t, map[string]http.HandlerFunc{
		"GET " + api.PathKits: reply(http.StatusOK, cannedKits),
		"POST " + api.PathKit: func(w http.ResponseWriter, r *http.Request) {
			var req api.KitRequest
			json.NewDecoder(r.Body).Decode(&req)
			switch {
			case req.Name == "generic" && req.Op == "disable":
				usageError("kit generic is enabled by the node file /etc/ark/node.yaml: remove it there")(w, r)
			case req.Op == "enable":
				ks := slices.Clone(cannedKits)
				ks[1].Path = req.Path
				reply(http.StatusOK, ks)(w, r)
			default:
				reply(http.StatusOK, cannedKits[:1])(w, r)
			}
		},
	})
	tr := newTranscript(t, f)
	tr.run(exitOK, "kit", "list", "--socket", f.socket)
	tr.run(exitOK, "kit", "list", "--json", "--socket", f.socket)
	tr.run(exitOK, "kit", "enable", "ip", "--path", "/opt/ark/ark-ip", "--socket", f.socket)
	if got := f.last(t).Body; got != `{"op":"enable","name":"ip","path":"/opt/ark/ark-ip"}` {
		t.Errorf("kit enable sent %s", got)
	}
	tr.run(exitOK, "kit", "disable", "ip", "--socket", f.socket)
	tr.run(exitUsage, "kit", "disable", "generic", "--socket", f.socket)
	tr.run(exitUsage, "kit", "frob")
	tr.run(exitUsage, "kit")
	tr.golden("kit.txt")
}

func TestInsList(t *testing.T) {
	line := strings.Join([]string{"web", "generic", "web-app", "WEBAPP", "intelligent", "node1", "ISP", "ONLINE", ""}, "\x01")
	f := startFake(t, map[string]http.HandlerFunc{
		"GET " + api.PathInsList: func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("tag") != "web-app" {
				usageError("resource "+r.URL.Query().Get("tag")+": not defined")(w, r)
				return
			}
			reply(http.StatusOK, api.InsList{Line: line})(w, r)
		},
	})
	tr := newTranscript(t, f)
	out, _ := tr.run(exitOK, "ins_list", "-t", "web-app", "--socket", f.socket)
	if out != line+"\n" {
		t.Errorf("stdout %q, want the line verbatim", out)
	}
	if got := strings.Split(out, "\x01")[6]; got != "ISP" {
		t.Errorf("field 7 is %q, want the state (cut -f7 -d$'\\001')", got)
	}
	tr.run(exitOK, "ins_list", "-t", "web-app", "--json", "--socket", f.socket)
	tr.run(exitUsage, "ins_list", "-t", "nope", "--socket", f.socket)
	tr.run(exitUsage, "ins_list", "web-app", "--socket", f.socket)
	tr.golden("ins_list.txt")
}

func TestShutdown(t *testing.T) {
	f := startFake(t, map[string]http.HandlerFunc{
		"POST " + api.PathShutdown: func(w http.ResponseWriter, r *http.Request) {
			var req api.ShutdownRequest
			json.NewDecoder(r.Body).Decode(&req)
			msg := "arkd is stopping; its resources are being taken out of service"
			if req.LeaveServices {
				msg = "arkd is stopping; services keep running"
			}
			reply(http.StatusOK, api.Reply{Message: msg})(w, r)
		},
	})
	tr := newTranscript(t, f)
	tr.run(exitOK, "shutdown", "--socket", f.socket)
	tr.run(exitOK, "shutdown", "--leave-services", "--socket", f.socket)
	if got := f.last(t).Body; got != `{"leave_services":true}` {
		t.Errorf("shutdown sent %s", got)
	}
	tr.run(exitOK, "shutdown", "--leave-services", "--json", "--socket", f.socket)
	tr.golden("shutdown.txt")
}

// TestUnreachable: every command that needs the daemon exits 3 with the
// reason on stderr when nothing listens on the socket.
func TestUnreachable(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "arkd.sock")
	tr := newTranscript(t, nil)
	tr.repl = strings.NewReplacer(filepath.Dir(missing), "TMP")
	for _, args := range [][]string{
		{"status"},
		{"status", "web-app", "--check"},
		{"start", "web-app"},
		{"stop", "-f", "web-app"},
		{"define", "-f", "testdata/resources.yaml"},
		{"update", "-f", "testdata/resources.yaml"},
		{"undefine", "-f", "testdata/resources.yaml"},
		{"events", "--follow"},
		{"kit", "list"},
		{"kit", "enable", "ip"},
		{"kit", "disable", "ip"},
		{"ins_list", "-t", "web-app"},
		{"shutdown"},
	} {
		tr.run(exitUnreachable, append(args, "--socket", missing)...)
	}
	tr.golden("unreachable.txt")
}

// TestSocketChoice: --socket, --config, ARK_SOCKET and ARK_CONFIG pick
// the socket in that order.
func TestSocketChoice(t *testing.T) {
	f := startFake(t, map[string]http.HandlerFunc{"GET " + api.PathStatus: statusRoute})
	dir := t.TempDir()
	missing := filepath.Join(dir, "nobody.sock")
	node := filepath.Join(dir, "node.yaml")
	if err := os.WriteFile(node, []byte("node: node1\nsocket: "+f.socket+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wrongNode := filepath.Join(dir, "wrong.yaml")
	if err := os.WriteFile(wrongNode, []byte("node: node1\nsocket: "+missing+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badNode := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badNode, []byte("node: node1\nsokcet: /x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		code      int
		errSubstr string
	}{
		{"--socket beats all", map[string]string{"ARK_SOCKET": missing, "ARK_CONFIG": wrongNode}, []string{"--socket", f.socket, "--config", wrongNode}, exitOK, ""},
		{"--config", map[string]string{"ARK_SOCKET": missing}, []string{"--config", node}, exitOK, ""},
		{"ARK_SOCKET", map[string]string{"ARK_SOCKET": f.socket, "ARK_CONFIG": wrongNode}, nil, exitOK, ""},
		{"ARK_CONFIG", map[string]string{"ARK_CONFIG": node}, nil, exitOK, ""},
		{"node file's socket is used", map[string]string{"ARK_CONFIG": wrongNode}, nil, exitUnreachable, missing},
		{"--config missing", nil, []string{"--config", filepath.Join(dir, "none.yaml")}, exitUsage, "no such file"},
		{"--config bad", nil, []string{"--config", badNode}, exitUsage, "did you mean socket?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("ARK_SOCKET", "")
			t.Setenv("ARK_CONFIG", "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, stderr, code := arkctl(t, append([]string{"status"}, tt.args...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, stderr)
			}
			if !strings.Contains(stderr, tt.errSubstr) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.errSubstr)
			}
		})
	}
}

// TestHelp: every command explains itself on --help (exit 0, stdout),
// and `arkctl help COMMAND` says the same.
func TestHelp(t *testing.T) {
	tr := newTranscript(t, nil)
	cmds := [][]string{{"status"}, {"start"}, {"stop"}, {"validate"}, {"define"}, {"update"}, {"undefine"},
		{"events"}, {"kit"}, {"kit", "list"}, {"kit", "enable"}, {"ins_list"}, {"shutdown"}}
	for _, cmd := range cmds {
		out, _ := tr.run(exitOK, append(cmd, "--help")...)
		if !strings.HasPrefix(out, "Usage: arkctl "+cmd[0]) || !strings.Contains(out, "-json") || !strings.Contains(out, "-socket") {
			t.Errorf("arkctl %s --help lacks the usage line or the common flags:\n%s", strings.Join(cmd, " "), out)
		}
		if len(cmd) == 1 {
			again, _, code := arkctl(t, "help", cmd[0])
			if code != exitOK || again != out {
				t.Errorf("arkctl help %s differs from --help (exit %d)", cmd[0], code)
			}
		}
	}
	tr.golden("help.txt")
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"2026-11-22T09:00:00Z", now.Add(-time.Hour), false},
		{"2026-11-22T18:00:00+09:00", now.Add(-time.Hour), false},
		{"10m", now.Add(-10 * time.Minute), false},
		{"1h30m", now.Add(-90 * time.Minute), false},
		{"-5m", time.Time{}, true},
		{"yesterday", time.Time{}, true},
	} {
		got, err := parseSince(tt.in, now)
		if (err != nil) != tt.err || !got.Equal(tt.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// TestDefaultNodeFile: the node file nobody named is only a hint: absent
// or broken, arkctl uses the default socket (with a warning if broken).
func TestDefaultNodeFile(t *testing.T) {
	t.Setenv("ARK_SOCKET", "")
	t.Setenv("ARK_CONFIG", "")
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("node: node1\nsokcet: /x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("node: node1\nsocket: /run/elsewhere.sock\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, node, warning string
		socket              string
	}{
		{"absent", filepath.Join(dir, "none.yaml"), "", config.DefaultSocket},
		{"broken", bad, "warning: node file " + bad + ": " + bad + ":2: sokcet: unknown field", config.DefaultSocket},
		{"good", good, "", "/run/elsewhere.sock"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb strings.Builder
			c := newCommand("status", "", &out, &errb)
			c.defaultNode = tt.node
			cl, code, ok := c.client()
			if !ok {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			if tt.warning == "" && errb.Len() > 0 || !strings.Contains(errb.String(), tt.warning) {
				t.Errorf("stderr %q, want %q", errb.String(), tt.warning)
			}
			// The client names its socket when it cannot reach it; an
			// arkd running on this machine would answer instead.
			if _, err := os.Stat(tt.socket); err == nil {
				t.Skipf("%s exists: cannot tell which socket the client uses", tt.socket)
			}
			err := cl.Call(context.Background(), api.PathStatus, nil, nil, nil)
			if err == nil || !strings.Contains(err.Error(), "on "+tt.socket+":") {
				t.Errorf("client is for %v, want %s", err, tt.socket)
			}
		})
	}
}
