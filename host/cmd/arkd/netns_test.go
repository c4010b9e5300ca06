package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ark-ha/ark/host/events"
)

// Network namespaces for the cluster tests: every node gets a namespace
// of its own with one interface (eth0, 10.77.0.N/24), the peer of a veth
// whose other end is a port of a bridge in a private "hub" namespace.
// Nothing is created in the host's own namespace: its interfaces and
// routes are never touched. Cutting a node off is setting its hub-side
// port down; healing, setting it up.

// labSeq numbers the labs of one test process, so that every namespace
// name is unique per run (ark-t-<pid>-<seq>-<node>).
var labSeq atomic.Int32

// netLab is a set of node namespaces on one private bridge.
type netLab struct {
	t      testing.TB
	prefix string
	hub    string
	nodes  map[string]*labNode
	order  []string
}

// labNode is one namespace of a lab and the thread that dials from it.
type labNode struct {
	ns   string
	ip   string
	port string // the hub-side end of its veth
	run  chan func()
	quit chan struct{}
	done chan struct{}
}

// needNetns skips a test that needs network namespaces when they cannot
// be made here.
func needNetns(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("network-namespace cluster test: needs root (ip netns, veth, bridge); CI runs it as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		tb.Skip("network-namespace cluster test: the ip command (iproute2) is missing; make deps installs it")
	}
}

// ipCmd runs ip with args and fails the test on an error.
func ipCmd(tb testing.TB, args ...string) {
	tb.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		tb.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newNetLab makes a hub namespace with a bridge and one namespace per
// name, at 10.77.0.<hosts[i]> (10.77.0.<i+1> past the end of hosts).
// Everything it makes is removed when the test ends, failed or not: the
// cleanup is registered before the first namespace exists.
func newNetLab(tb testing.TB, names []string, hosts ...int) *netLab {
	tb.Helper()
	prefix := fmt.Sprintf("ark-t-%d-%d", os.Getpid(), labSeq.Add(1))
	lab := &netLab{t: tb, prefix: prefix, hub: prefix + "-hub", nodes: map[string]*labNode{}}
	var made []string // the namespaces made so far
	tb.Cleanup(func() {
		for _, name := range lab.order {
			n := lab.nodes[name]
			if n.run != nil {
				close(n.quit)
				<-n.done
			}
		}
		for i := len(made) - 1; i >= 0; i-- { // the nodes', then the hub
			if out, err := exec.Command("ip", "netns", "del", made[i]).CombinedOutput(); err != nil {
				tb.Logf("ip netns del %s: %v %s", made[i], err, out)
			}
		}
	})
	made = append(made, lab.hub)
	ipCmd(tb, "netns", "add", lab.hub)
	ipCmd(tb, "-n", lab.hub, "link", "set", "lo", "up")
	ipCmd(tb, "-n", lab.hub, "link", "add", "br0", "type", "bridge")
	ipCmd(tb, "-n", lab.hub, "link", "set", "br0", "up")
	for i, name := range names {
		host := i + 1
		if i < len(hosts) {
			host = hosts[i]
		}
		n := &labNode{ns: prefix + "-" + name, ip: fmt.Sprintf("10.77.0.%d", host), port: "h-" + name}
		made = append(made, n.ns)
		ipCmd(tb, "netns", "add", n.ns)
		ipCmd(tb, "-n", lab.hub, "link", "add", n.port, "type", "veth", "peer", "name", "eth0", "netns", n.ns)
		ipCmd(tb, "-n", lab.hub, "link", "set", n.port, "master", "br0", "up")
		ipCmd(tb, "-n", n.ns, "addr", "add", n.ip+"/24", "dev", "eth0")
		ipCmd(tb, "-n", n.ns, "link", "set", "eth0", "up")
		ipCmd(tb, "-n", n.ns, "link", "set", "lo", "up")
		lab.nodes[name] = n
		lab.order = append(lab.order, name)
	}
	for _, name := range lab.order {
		lab.nodes[name].enter(tb)
	}
	return lab
}

// enter starts the node's dialing thread: a goroutine locked to its OS
// thread, moved into the node's namespace with setns. It never unlocks:
// when it returns (at the lab's cleanup) the runtime discards the thread
// instead of handing a thread of another namespace to other goroutines.
func (n *labNode) enter(tb testing.TB) {
	tb.Helper()
	n.run, n.quit, n.done = make(chan func()), make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		defer close(n.done)
		runtime.LockOSThread()
		fd, err := unix.Open(filepath.Join("/var/run/netns", n.ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			err = unix.Setns(fd, unix.CLONE_NEWNET)
			unix.Close(fd)
		}
		errc <- err
		if err != nil {
			return
		}
		for {
			select {
			case f := <-n.run:
				f()
			case <-n.quit:
				return
			}
		}
	}()
	if err := <-errc; err != nil {
		tb.Fatalf("entering namespace %s: %v", n.ns, err)
	}
}

// in runs f on the node's thread, inside its namespace: the sockets f
// opens belong to that namespace.
func (n *labNode) in(f func()) {
	done := make(chan struct{})
	select {
	case n.run <- func() { defer close(done); f() }:
		<-done
	case <-n.done:
	}
}

// echoFrom probes the echo service at addr from inside node's
// namespace.
func (lab *netLab) echoFrom(node, addr string) bool {
	var ok bool
	lab.nodes[node].in(func() { ok = echoQuick(addr) })
	return ok
}

// probe is the safety checker's probe: node's service, dialed on its
// own address from inside its own namespace, so that it is seen even
// while the node is cut off from everyone else.
func (lab *netLab) probe(node string) bool {
	return lab.echoFrom(node, lab.service(node))
}

func (lab *netLab) comm(node string) string    { return lab.nodes[node].ip + ":7946" }
func (lab *netLab) service(node string) string { return lab.nodes[node].ip + ":7500" }

// clusterAddrs are the addr and netns hooks of clusterOpts for the lab.
func (lab *netLab) clusterAddrs(o clusterOpts) clusterOpts {
	o.addr = func(_ int, name string) (string, string) { return lab.comm(name), lab.service(name) }
	o.netns = func(_ int, name string) string { return lab.nodes[name].ns }
	return o
}

// cut takes node off the network (its bridge port goes down); heal puts
// it back.
func (lab *netLab) cut(node string) {
	ipCmd(lab.t, "-n", lab.hub, "link", "set", lab.nodes[node].port, "down")
}
func (lab *netLab) heal(node string) {
	ipCmd(lab.t, "-n", lab.hub, "link", "set", lab.nodes[node].port, "up")
}

// after returns the events of evs at or after t that match f.
func after(evs []events.Event, t time.Time, f func(events.Event) bool) []events.Event {
	var out []events.Event
	for _, e := range evs {
		if !e.Time.Before(t) && f(e) {
			out = append(out, e)
		}
	}
	return out
}

// TestClusterPartition cuts the active node off the network: the
// minority side removes the service before its lease ends, the majority
// restores it only after that, and nobody ever sees it twice (the
// checker dials every node from inside its namespace, the cut-off one
// included). Healed, the cluster is whole again and the service stays
// where it went (switchback intelligent).
func TestClusterPartition(t *testing.T) {
	skipShort(t)
	needNetns(t)
	lab := newNetLab(t, []string{"n1", "n2", "n3"})
	lease := 3 * time.Second
	c := newCluster(t, "part-web", lab.clusterAddrs(clusterOpts{
		nodes: []string{"n1", "n2", "n3"}, heartbeat: 100 * time.Millisecond, misses: 5, lease: lease}))
	c.define("n1", "")
	c.nodes["n1"].must("start", c.tag)
	c.waitOn("n1", "n1")
	c.waitOn("n2", "n1")
	if !lab.probe("n1") {
		t.Fatal("the service does not answer on n1 from inside n1's namespace")
	}
	if !lab.echoFrom("n2", lab.service("n1")) {
		t.Fatal("the service on n1 does not answer from n2's namespace: the lab's network is broken")
	}
	ch := c.watch(lab.probe)

	for _, name := range c.order {
		if cs, ok := c.nodes[name].cluster(); ok {
			t.Logf("%s self-fence: %s", name, cs.SelfFence)
		}
	}

	cut := time.Now()
	lab.cut("n1")
	if lab.echoFrom("n2", lab.service("n1")) {
		t.Fatal("n1's service still answers from n2 after the cut")
	}
	c.waitOn("n2", "n2")
	c.waitOn("n3", "n2")
	// The checker watches all along; this is the moment that matters.
	if lab.probe("n1") {
		t.Errorf("SAFETY: the service is ISP on n2 %s after the cut and still answers on n1", time.Since(cut).Round(time.Millisecond))
	}
	waitFor(t, "n1 to see its lease lost", func() bool {
		cs, ok := c.nodes["n1"].cluster()
		return ok && cs.Lease != "held"
	})

	// n1, cut off, removed the service on its own (NODELEAVE) before
	// its lease ended, with no need for the self-fence.
	ev1 := c.nodes["n1"].events()
	if len(after(ev1, cut, func(e events.Event) bool { return strings.Contains(e.Message, "no quorum: lease not renewed") })) == 0 {
		t.Error("n1 has no 'no quorum: lease not renewed' event")
	}
	var removeEnd time.Time
	if removes := after(ev1, cut, func(e events.Event) bool {
		return e.Kind == events.KindAction && e.Action == "remove" && e.Tag == c.tag && e.Status != nil && *e.Status == 0
	}); len(removes) > 0 {
		removeEnd = removes[0].Time
	}
	switch {
	case removeEnd.IsZero():
		t.Errorf("no successful remove of %s on n1 by the time n2 restored it; n1's events:\n%s", c.tag, dumpEvents(ev1))
	case removeEnd.After(cut.Add(lease)):
		t.Errorf("n1 removed the service %s after the cut, after its lease (%s) ended", removeEnd.Sub(cut), lease)
	}
	if fenced := after(ev1, cut, func(e events.Event) bool { return strings.Contains(e.Message, "self-fence") }); len(fenced) > 0 {
		t.Errorf("n1 needed its self-fence: %s", fenced[0].Message)
	}

	// The majority restored it on n2, after n1's remove, and logged n1's
	// loss in LifeKeeper's words.
	ev2 := c.nodes["n2"].events()
	restores := after(ev2, cut, func(e events.Event) bool {
		return e.Kind == events.KindAction && e.Action == "restore" && e.Tag == c.tag && e.Status != nil && *e.Status == 0
	})
	if len(restores) == 0 {
		t.Fatalf("no restore of %s on n2 after the cut; n2's events:\n%s", c.tag, dumpEvents(ev2))
	}
	restoreStart := restores[0].Time.Add(-restores[0].Duration)
	if !removeEnd.IsZero() && !restoreStart.After(removeEnd) {
		t.Errorf("n2 started its restore at %s, before n1's remove ended at %s",
			restoreStart.Format("15:04:05.000"), removeEnd.Format("15:04:05.000"))
	}
	t.Logf("cut at %s: n1 removed at +%s, n2 restored from +%s to +%s",
		cut.Format("15:04:05.000"), removeEnd.Sub(cut).Round(time.Millisecond),
		restoreStart.Sub(cut).Round(time.Millisecond), restores[0].Time.Sub(cut).Round(time.Millisecond))
	if len(after(ev2, cut, func(e events.Event) bool { return strings.HasPrefix(e.Message, "COMMUNICATIONS n1 FAILED AT: ") })) == 0 {
		t.Errorf("no 'COMMUNICATIONS n1 FAILED AT: ' event on n2; n2's events:\n%s", dumpEvents(ev2))
	}

	if t.Failed() {
		t.FailNow() // no point healing a partition that went wrong
	}

	// Heal: n1 comes back, gets a lease again, and the service stays
	// on n2.
	heal := time.Now()
	lab.heal("n1")
	c.settle()
	upRE := regexp.MustCompile(`(?m)^n1\s+node\s+UP\s`)
	waitFor(t, "n1 UP in n2's arkctl status", func() bool {
		out, _, code := c.nodes["n2"].arkctl("status")
		return code == 0 && upRE.MatchString(out)
	})
	waitFor(t, "n1 to hold its lease again", func() bool {
		cs, ok := c.nodes["n1"].cluster()
		return ok && cs.Lease == "held" && cs.Leader != ""
	})
	// Let the leader act on n1's return (it cleans up there, it does not
	// move the group back) before looking.
	time.Sleep(2 * time.Second)
	for _, from := range c.order {
		if w := c.where(from); w != "n2" {
			t.Errorf("after the heal, %s sees the service ISP on %q, want n2", from, w)
		}
	}
	if !lab.probe("n2") || lab.probe("n1") {
		t.Errorf("after the heal: answers on n2 %v, on n1 %v; want only n2", lab.probe("n2"), lab.probe("n1"))
	}
	if moved := after(c.nodes["n2"].events(), heal, func(e events.Event) bool {
		return e.Kind == events.KindAction && e.Action == "remove" && e.Tag == c.tag
	}); len(moved) > 0 {
		t.Errorf("the service was removed from n2 after the heal: %s", moved[0].Message)
	}
	ch.finish(t)
}

// dumpEvents formats events for a failure message.
func dumpEvents(evs []events.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "  %s %s %s %s %s\n", e.Time.Format("15:04:05.000"), e.Node, e.Kind, e.Tag, e.Message)
	}
	return b.String()
}

// TestClusterCheckerDetectsDouble is the safety checker's negative
// control: two echo services started by hand in two namespaces, on the
// same port of their own addresses, must be reported as a double by the
// checker with the namespace probe. Its internals are read directly, so
// that the test asserts the detection instead of failing on it.
func TestClusterCheckerDetectsDouble(t *testing.T) {
	needNetns(t)
	lab := newNetLab(t, []string{"a", "b"})
	var mu sync.Mutex
	var procs []*exec.Cmd
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range procs {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
	})
	c := &testCluster{t: t, order: lab.order, service: map[string]string{}}
	for _, name := range lab.order {
		c.service[name] = lab.service(name)
		cmd := exec.Command("ip", "netns", "exec", lab.nodes[name].ns, filepath.Join(bin, "ark-echo"), "serve", "-addr", lab.service(name))
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		procs = append(procs, cmd)
		mu.Unlock()
	}
	for _, name := range lab.order {
		waitFor(t, "ark-echo to answer in "+name, func() bool { return lab.probe(name) })
	}
	// The services only answer in their own namespace: a plain dial
	// from here cannot reach them, which is why the probe enters them.
	if echoQuick(lab.service("a")) {
		t.Fatal("the service in namespace a answers from the host's namespace: the lab leaks")
	}

	ch := c.watch(lab.probe)
	waitFor(t, "the checker to poll", func() bool {
		ch.mu.Lock()
		defer ch.mu.Unlock()
		return len(ch.doubles) >= 3
	})
	close(ch.stop) // finish (at cleanup) then reports nothing
	<-ch.done
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if len(ch.doubles) == 0 || !strings.Contains(ch.doubles[0], "[a b]") {
		t.Fatalf("the checker did not report the two services: %d polls, doubles %v", ch.polls, ch.doubles)
	}
	t.Logf("checker: %d of %d polls saw both services, e.g. %s", len(ch.doubles), ch.polls, ch.doubles[0])
}
