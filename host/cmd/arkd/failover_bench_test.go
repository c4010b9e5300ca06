package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ark-ha/ark/host/api"
	"github.com/ark-ha/ark/host/events"
)

// The failover benchmark: a three-node cluster in network namespaces
// (netns_test.go) protecting the echo service on a VIP (the ip kit), and
// a client in a fourth namespace asking the VIP for an echo every 10 ms.
// It crashes the active node (power cut: its processes killed, its
// addresses gone), or kills its service, over and over, and measures how
// long the cluster takes to notice and how long the client goes without
// an answer. It prints figures and asserts nothing about them. Run it
// with `make bench-failover` (root); ARK_BENCH_TRIALS=3 makes a short run.
//
// The cluster harness (newCluster, crash, ...) works on a *testing.T, so
// BenchmarkFailover runs the trials in TestFailoverTrials, in a child
// process of the test binary: that test skips unless the benchmark
// started it.

const failoverChildEnv = "ARK_FAILOVER_BENCH_CHILD"

// BenchmarkFailover prints one line per case, in this form (other tools
// parse it):
//
//	node-crash hb=100ms: detect_p50=0.31s back_p50=0.52s back_p99=0.80s max=0.85s double_active=0
//
// detect: from the kill until the leader records the loss (the
// COMMUNICATIONS <node> FAILED event of a node crash, the failure
// decision of a resource failure); back: from the kill until the client
// gets an answer through the VIP again; max: the longest back;
// double_active: polls where two nodes held the VIP or ran the service.
func BenchmarkFailover(b *testing.B) {
	needNetns(b)
	for range b.N {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFailoverTrials$", "-test.count=1", "-test.timeout=60m")
		cmd.Env = append(os.Environ(), failoverChildEnv+"=1")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			b.Fatalf("the failover trials failed: %v", err)
		}
	}
}

// failoverSettings is one heartbeat setting of the benchmark.
type failoverSettings struct {
	label     string
	heartbeat time.Duration
	misses    int
	lease     time.Duration
}

// failoverCase is the figures of one case: kind and setting.
type failoverCase struct {
	name    string // "node-crash hb=500ms"
	detect  []time.Duration
	back    []time.Duration
	doubles int
}

func (fc failoverCase) String() string {
	maxBack := time.Duration(0)
	if len(fc.back) > 0 {
		maxBack = slices.Max(fc.back)
	}
	return fmt.Sprintf("%s: detect_p50=%.2fs back_p50=%.2fs back_p99=%.2fs max=%.2fs double_active=%d",
		fc.name, percentile(fc.detect, 0.50).Seconds(), percentile(fc.back, 0.50).Seconds(),
		percentile(fc.back, 0.99).Seconds(), maxBack.Seconds(), fc.doubles)
}

// percentile is the nearest-rank percentile of ds (0 when empty).
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// TestFailoverTrials runs the trials of BenchmarkFailover; it skips
// unless the benchmark started it.
func TestFailoverTrials(t *testing.T) {
	if os.Getenv(failoverChildEnv) != "1" {
		t.Skip("the trials of BenchmarkFailover: run `make bench-failover`")
	}
	needNetns(t)
	trials := 20
	if s := os.Getenv("ARK_BENCH_TRIALS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("ARK_BENCH_TRIALS=%q: want a positive number", s)
		}
		trials = n
	}
	var cases []failoverCase
	for _, s := range []failoverSettings{
		{label: "500ms", heartbeat: 500 * time.Millisecond, misses: 4, lease: 6 * time.Second}, // the defaults
		{label: "100ms", heartbeat: 100 * time.Millisecond, misses: 3, lease: 2 * time.Second},
	} {
		t.Run("hb="+s.label, func(t *testing.T) {
			cases = append(cases, failoverTrials(t, s, trials)...)
		})
	}
	fmt.Println()
	for _, fc := range cases {
		fmt.Println(fc)
	}
}

// failoverTrials runs trials node crashes, then trials resource
// failures, on a fresh cluster with the settings s.
func failoverTrials(t *testing.T, s failoverSettings, trials int) []failoverCase {
	nodes := []string{"n1", "n2", "n3"}
	lab := newNetLab(t, append(slices.Clone(nodes), "client"), 1, 2, 3, 100)
	c := newCluster(t, "fo-"+s.label, lab.clusterAddrs(clusterOpts{
		nodes: nodes, kits: []string{"ip"}, heartbeat: s.heartbeat, misses: s.misses, lease: s.lease}))
	scripts, err := filepath.Abs("../../../examples/cluster")
	if err != nil {
		t.Fatal(err)
	}
	def := filepath.Join(t.TempDir(), "vip.yaml")
	writeFile(t, def, fmt.Sprintf(`resources:
  - tag: %[1]s
    type: generic
    depends_on: [%[1]s-vip]
    params: {dir: %[2]s, addr: "%[3]s:7500"}
    priorities: {n1: 1, n2: 2, n3: 3}
    interval: 200ms
    timeouts: {quickCheck: 150ms}
    restart_attempts: 0
    max_failovers: 100000
  - tag: %[1]s-vip
    type: ip
    params: {address: %[3]s/24}
    priorities: {n1: 1, n2: 2, n3: 3}
    interval: 1s
    timeouts: {quickCheck: 900ms}
    max_failovers: 100000
`, c.tag, scripts, benchVIP))
	c.nodes["n1"].must("define", "-f", def)
	c.nodes["n1"].must("start", c.tag)
	for _, n := range nodes {
		c.waitOn(n, "n1")
	}
	p := startPoller(t, lab, "client", c)
	fmt.Printf("hb=%s (misses %d, lease %s): %d trials of each case\n", s.label, s.misses, s.lease, trials)

	crash := failoverCase{name: "node-crash hb=" + s.label}
	from := time.Now()
	for i := range trials {
		active := activeNode(t, c)
		survivor := otherThan(nodes, active, "")
		t0 := time.Now()
		c.crash(active)
		// The power is off: the node's addresses go with it.
		ipCmd(t, "-n", lab.nodes[active].ns, "addr", "del", benchVIP+"/24", "dev", "eth0")
		to := waitMoved(t, c, survivor, active)
		back := p.backAfter(t, t0)
		leader := leaderOf(t, c, survivor)
		detect := eventAfter(t, c, leader, t0, func(e events.Event) bool {
			return strings.HasPrefix(e.Message, "COMMUNICATIONS "+active+" FAILED AT: ")
		})
		crash.detect, crash.back = append(crash.detect, detect), append(crash.back, back)
		fmt.Printf("trial %d/%d %s: %s -> %s detect=%.2fs back=%.2fs\n", i+1, trials, crash.name, active, to, detect.Seconds(), back.Seconds())
		c.nodes[active].start()
		c.settle()
		quiesce(t, c, active, to, t0)
	}
	crash.doubles = p.doubles(from, time.Now())

	failure := failoverCase{name: "resource-failure hb=" + s.label}
	from = time.Now()
	for i := range trials {
		active := activeNode(t, c)
		survivor := otherThan(nodes, active, "")
		t0 := time.Now()
		c.killServices(active)
		to := waitMoved(t, c, survivor, active)
		back := p.backAfter(t, t0)
		detect := eventAfter(t, c, leaderOf(t, c, survivor), t0, func(e events.Event) bool {
			return e.Tag == c.tag && strings.HasPrefix(e.Message, "failure on node "+active+": ")
		})
		failure.detect, failure.back = append(failure.detect, detect), append(failure.back, back)
		fmt.Printf("trial %d/%d %s: %s -> %s detect=%.2fs back=%.2fs\n", i+1, trials, failure.name, active, to, detect.Seconds(), back.Seconds())
		quiesce(t, c, active, to, t0)
	}
	failure.doubles = p.doubles(from, time.Now())
	return []failoverCase{crash, failure}
}

// benchVIP is the address the benchmark's client asks.
const benchVIP = "10.77.0.200"

// activeNode returns the node the group is ISP on, as the first node
// that sees it so says (a node may be between two views for a moment).
func activeNode(t *testing.T, c *testCluster) string {
	t.Helper()
	var active string
	waitFor(t, c.tag+" ISP somewhere", func() bool {
		for _, n := range c.order {
			if active = c.where(n); active != "" {
				return true
			}
		}
		return false
	})
	return active
}

// otherThan returns the first of nodes that is neither a nor b.
func otherThan(nodes []string, a, b string) string {
	for _, n := range nodes {
		if n != a && n != b {
			return n
		}
	}
	return ""
}

// waitMoved waits until node from sees the resource ISP on a node other
// than old, and returns that node.
func waitMoved(t *testing.T, c *testCluster, from, old string) string {
	t.Helper()
	var to string
	waitFor(t, fmt.Sprintf("%s to leave %s (seen from %s)", c.tag, old, from), func() bool {
		to = c.where(from)
		return to != "" && to != old
	})
	return to
}

// leaderOf returns the leader node from sees.
func leaderOf(t *testing.T, c *testCluster, from string) string {
	t.Helper()
	var leader string
	waitFor(t, "a leader seen from "+from, func() bool {
		cs, ok := c.nodes[from].cluster()
		leader = cs.Leader
		return ok && leader != ""
	})
	return leader
}

// eventAfter returns how long after t0 the first event of node matching
// f happened.
func eventAfter(t *testing.T, c *testCluster, node string, t0 time.Time, f func(events.Event) bool) time.Duration {
	t.Helper()
	var d time.Duration
	waitFor(t, "the loss recorded on "+node, func() bool {
		evs := after(c.nodes[node].events(), t0, f)
		if len(evs) > 0 {
			d = evs[0].Time.Sub(t0)
		}
		return len(evs) > 0
	})
	return d
}

// quiesce lets the cluster finish with a trial before the next one:
// every node sees the resource ISP on to, and the leader has had the
// node it left clean up (CLUSTERPRO's cluster return: a remove there
// with ARK_EVENT=RECOVER), so that no plan of this trial is still in
// flight when the next one starts.
func quiesce(t *testing.T, c *testCluster, left, to string, t0 time.Time) {
	t.Helper()
	for _, n := range c.order {
		// A node just restarted answers "not defined" until it has
		// caught up with the replicated log: wait for that too.
		waitFor(t, fmt.Sprintf("%s to see %s ISP on %s", n, c.tag, to), func() bool {
			out, _, code := c.nodes[n].arkctl("status", "--json", c.tag)
			var rs []api.Resource
			return code == 0 && json.Unmarshal([]byte(out), &rs) == nil && len(rs) == 1 && rs[0].State == "ISP" && rs[0].Node == to
		})
	}
	note := "node " + left + " is back: it cleans up after group " + c.tag
	var at time.Time
	deadline := time.Now().Add(10 * time.Second)
	for at.IsZero() && time.Now().Before(deadline) {
		if evs := after(c.nodes[to].events(), t0, func(e events.Event) bool { return strings.HasPrefix(e.Message, note) }); len(evs) > 0 {
			at = evs[0].Time
		}
		time.Sleep(50 * time.Millisecond)
	}
	if at.IsZero() {
		fmt.Printf("note: no cluster return of %s after the trial (no %q event); going on\n", left, note)
		return
	}
	deadline = time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if len(after(c.nodes[left].events(), at, func(e events.Event) bool {
			return e.Kind == events.KindAction && e.Action == "remove" && e.Tag == c.tag
		})) > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
}

// poller is the client: from its own namespace it asks the VIP for an
// echo every 10 ms, and looks in every node for the VIP and the service
// process, keeping every round.
type poller struct {
	nodes []string
	mu    sync.Mutex
	polls []pollRound
}

// pollRound is one round: whether the VIP answered, and how many nodes
// held the VIP and ran the service.
type pollRound struct {
	at       time.Time
	answered bool
	vips     int
	services int
}

func startPoller(t *testing.T, lab *netLab, client string, c *testCluster) *poller {
	p := &poller{nodes: c.order}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			r := pollRound{at: time.Now()}
			lab.nodes[client].in(func() { r.answered = echoQuick(benchVIP + ":7500") })
			for _, n := range p.nodes {
				if lab.hasAddr(n, benchVIP) {
					r.vips++
				}
				if pidAlive(fmt.Sprintf("/tmp/ark-echo-%s-%s.pid", c.tag, n)) {
					r.services++
				}
			}
			p.mu.Lock()
			p.polls = append(p.polls, r)
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return p
}

// backAfter waits until the client, having lost the service after t0,
// gets an answer through the VIP again, and returns how long after t0.
func (p *poller) backAfter(t *testing.T, t0 time.Time) time.Duration {
	t.Helper()
	var d time.Duration
	waitFor(t, "the client to get an answer through the VIP again", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		lost := false
		for _, r := range p.polls {
			switch {
			case !r.at.After(t0):
			case !r.answered:
				lost = true
			case lost:
				d = r.at.Sub(t0)
				return true
			}
		}
		return false
	})
	return d
}

// doubles counts the rounds between from and to where two nodes held
// the VIP or ran the service.
func (p *poller) doubles(from, to time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.polls {
		if !r.at.Before(from) && !r.at.After(to) && (r.vips > 1 || r.services > 1) {
			n++
		}
	}
	return n
}

// pidAlive reports whether the process named in pidfile lives.
func pidAlive(pidfile string) bool {
	pid := readPidfile(pidfile)
	return pid > 0 && syscall.Kill(pid, 0) == nil
}
