package scheduler

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ark-ha/ark/host/model"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden files in testdata")

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// web is the hierarchy of the tests: app needs fs and ip, fs needs disk;
// db stands alone (its own failover group).
func web(status map[string]model.Status, edit ...func(map[string]*model.Resource)) Snapshot {
	rs := map[string]*model.Resource{
		"app":  {Tag: "app", Type: "generic", DependsOn: []string{"fs", "ip"}},
		"fs":   {Tag: "fs", Type: "fs", DependsOn: []string{"disk"}},
		"ip":   {Tag: "ip", Type: "ip"},
		"disk": {Tag: "disk", Type: "diskres"},
		"db":   {Tag: "db", Type: "generic"},
	}
	for _, e := range edit {
		e(rs)
	}
	var list []*model.Resource
	for _, r := range rs {
		list = append(list, r)
	}
	g, err := model.NewGraph(list)
	if err != nil {
		panic(err)
	}
	return Snapshot{Node: "node1", Graph: g, Status: status, Now: t0}
}

// states builds statuses from "tag=TARGET/STATE" pairs.
func states(pairs ...string) map[string]model.Status {
	out := map[string]model.Status{}
	for _, p := range pairs {
		tag, ts, _ := strings.Cut(p, "=")
		target, state, _ := strings.Cut(ts, "/")
		out[tag] = model.Status{Target: model.Target(target), State: model.State(state)}
	}
	return out
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *rewrite {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -rewrite to create it)", err)
	}
	if got != string(want) {
		t.Errorf("plan differs from %s:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestStartStop(t *testing.T) {
	allUp := states("app=ONLINE/ISP", "fs=ONLINE/ISP", "ip=ONLINE/ISP", "disk=ONLINE/ISP")
	cases := []struct {
		name  string
		snap  Snapshot
		plan  func(Snapshot) (Plan, error)
		error string
	}{
		{name: "start-all-down", snap: web(nil), plan: func(s Snapshot) (Plan, error) { return Start(s, "app") }},
		{name: "start-child-only", snap: web(nil), plan: func(s Snapshot) (Plan, error) { return Start(s, "fs") }},
		{name: "start-partly-up", snap: web(states("disk=ONLINE/ISP", "ip=OFFLINE/OSF")),
			plan: func(s Snapshot) (Plan, error) { return Start(s, "app") }},
		{name: "start-all-up", snap: web(allUp), plan: func(s Snapshot) (Plan, error) { return Start(s, "app") }},
		{name: "start-unknown-child", snap: web(states("disk=ONLINE/UNKNOWN")),
			plan: func(s Snapshot) (Plan, error) { return Start(s, "app") }, error: "resource disk: state is UNKNOWN"},
		{name: "start-undefined", snap: web(nil), plan: func(s Snapshot) (Plan, error) { return Start(s, "nope") },
			error: "resource nope: not defined"},
		{name: "stop-root", snap: web(allUp), plan: func(s Snapshot) (Plan, error) { return Stop(s, "app", false) }},
		{name: "stop-leaf", snap: web(allUp), plan: func(s Snapshot) (Plan, error) { return Stop(s, "disk", false) }},
		{name: "stop-skips-osu", snap: web(states("app=ONLINE/OSU", "fs=ONLINE/ISP", "disk=ONLINE/OSF")),
			plan: func(s Snapshot) (Plan, error) { return Stop(s, "disk", false) }},
		{name: "stop-unknown", snap: web(states("app=ONLINE/UNKNOWN", "fs=ONLINE/ISP", "disk=ONLINE/ISP")),
			plan: func(s Snapshot) (Plan, error) { return Stop(s, "disk", false) }, error: "resource app: state is UNKNOWN"},
		{name: "stop-force-unknown", snap: web(states("app=ONLINE/UNKNOWN", "fs=ONLINE/ISP", "disk=ONLINE/ISP")),
			plan: func(s Snapshot) (Plan, error) { return Stop(s, "disk", true) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := c.plan(c.snap)
			if c.error != "" {
				if err == nil || !strings.HasPrefix(err.Error(), c.error) {
					t.Fatalf("error = %v, want one beginning %q", err, c.error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkOrder(t, c.snap, p)
			golden(t, c.name, p.String())
		})
	}
}

// checkOrder asserts what every plan must respect whatever the golden
// file says: a restore comes after the restores of its children in the
// plan, a remove after the removes of its parents, and After names only
// earlier steps.
func checkOrder(t *testing.T, s Snapshot, p Plan) {
	t.Helper()
	pos := map[string]int{}
	for i, st := range p.Steps {
		pos[st.Tag] = i
		for _, a := range st.After {
			if a >= st.ID {
				t.Errorf("step %d waits for a later step %d", st.ID, a)
			}
		}
	}
	for i, st := range p.Steps {
		var first []string
		if st.Action == "restore" {
			first = s.Graph.Children(st.Tag)
		} else {
			first = s.Graph.Parents(st.Tag)
		}
		for _, f := range first {
			if j, ok := pos[f]; ok && j > i {
				t.Errorf("%s %s runs before %s", st.Action, st.Tag, f)
			}
		}
	}
}

func TestFailure(t *testing.T) {
	two := func(rs map[string]*model.Resource) {
		n := 2
		rs["app"].RestartAttempts = &n
		rs["app"].FailureInterval = 10 * time.Minute
		rs["app"].FailureThreshold = 4
	}
	zero := func(rs map[string]*model.Resource) {
		n := 0
		rs["app"].RestartAttempts = &n
	}
	up := func(app model.Status) map[string]model.Status {
		s := states("fs=ONLINE/ISP", "ip=ONLINE/ISP", "disk=ONLINE/ISP", "db=ONLINE/ISP")
		app.Target, app.State = model.Online, model.ISP
		s["app"] = app
		return s
	}
	cases := []struct {
		name       string
		snap       Snapshot
		canRecover bool
		verdict    Verdict
		restarts   int
		failures   int
	}{
		{name: "first-failure-recovers", snap: web(up(model.Status{})), canRecover: true, verdict: Recover, restarts: 1, failures: 1},
		{name: "no-recover-action", snap: web(up(model.Status{})), canRecover: false, verdict: GiveUp, failures: 1},
		{name: "default-one-attempt-used", snap: web(up(model.Status{Restarts: 1, Failures: 1, WindowStart: t0.Add(-time.Hour)})),
			canRecover: true, verdict: GiveUp, restarts: 1, failures: 2},
		{name: "restart-attempts-zero", snap: web(up(model.Status{}), zero), canRecover: true, verdict: GiveUp, failures: 1},
		{name: "second-of-two", snap: web(up(model.Status{Restarts: 1, Failures: 1, WindowStart: t0.Add(-time.Minute)}), two),
			canRecover: true, verdict: Recover, restarts: 2, failures: 2},
		{name: "window-over-resets", snap: web(up(model.Status{Restarts: 2, Failures: 3, WindowStart: t0.Add(-11 * time.Minute)}), two),
			canRecover: true, verdict: Recover, restarts: 1, failures: 1},
		{name: "threshold-reached", snap: web(up(model.Status{Restarts: 0, Failures: 3, WindowStart: t0.Add(-time.Minute)}), two),
			canRecover: true, verdict: GiveUp, restarts: 0, failures: 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := Failure(c.snap, "app", c.canRecover)
			if err != nil {
				t.Fatal(err)
			}
			if d.Verdict != c.verdict || d.Status.Restarts != c.restarts || d.Status.Failures != c.failures {
				t.Errorf("got %s restarts=%d failures=%d (%s), want %s restarts=%d failures=%d",
					d.Verdict, d.Status.Restarts, d.Status.Failures, d.Why, c.verdict, c.restarts, c.failures)
			}
			if d.Verdict == GiveUp {
				checkOrder(t, c.snap, d.Plan)
				golden(t, "failure-"+c.name, fmt.Sprintf("why %s\n%s", d.Why, d.Plan))
			}
		})
	}
}

func TestBoot(t *testing.T) {
	snap := func(db model.Status) Snapshot {
		s := web(states("app=ONLINE/ISP", "fs=ONLINE/ISP", "ip=ONLINE/ISP", "disk=ONLINE/ISP"))
		s.Status["db"] = db
		return s
	}
	offline := model.Status{Target: model.Offline, State: model.OSU}
	if got, want := strings.Join(Probes(snap(offline)), ","), "app,disk,fs,ip"; got != want {
		t.Errorf("Probes = %s, want %s", got, want)
	}
	allRunning := map[string]Probe{"app": Running, "fs": Running, "ip": Running, "disk": Running}
	cases := []struct {
		name   string
		db     model.Status
		probes map[string]Probe
	}{
		{name: "boot-all-running", db: offline, probes: allRunning},
		{name: "boot-app-and-fs-gone", db: offline, probes: map[string]Probe{"app": Stopped, "fs": Stopped, "ip": Running, "disk": Running}},
		{name: "boot-unprobeable", db: offline, probes: map[string]Probe{"app": Unprobeable, "fs": Running, "ip": Running, "disk": Running}},
		// An orderly shutdown took db down: the next start restores it.
		{name: "boot-after-shutdown", db: model.Status{Target: model.Online, State: model.OSU, Reason: model.ReasonShutdown}, probes: allRunning},
		// A failure took it down: it stays down.
		{name: "boot-osf-stays", db: model.Status{Target: model.Online, State: model.OSF}, probes: allRunning},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := snap(c.db)
			p := Boot(s, c.probes)
			checkOrder(t, s, p)
			for _, st := range p.Steps {
				if c.probes[st.Tag] == Running {
					t.Errorf("step %s on a resource found running", st)
				}
			}
			golden(t, c.name, p.String())
		})
	}
}
