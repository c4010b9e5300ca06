package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ark-ha/ark/host/api"
	"github.com/ark-ha/ark/interpreters/proc"
	"github.com/ark-ha/ark/plugins"
)

// The cluster tests run real multi-process clusters: one arkd per node,
// each with its own state dir, socket and ports (on loopback, or in a
// network namespace of its own), the GenericARK plugin and the echo
// service of examples/cluster. A checker polls every node's service all
// along and fails the test if two ever answer at once.

// clusterOpts shapes a test cluster.
type clusterOpts struct {
	nodes   []string // hosting nodes, priority order
	witness string   // a witness node, if any
	// addr returns node i's communication address (host:port) and the
	// address its service answers on; loopback ports when nil.
	addr func(i int, name string) (comm, service string)
	// netns runs node i in that network namespace, when set.
	netns func(i int, name string) string
	// kits the hosting nodes enable besides generic (ip, fs, diskres).
	kits []string
	// mountns gives every node a mount namespace of its own, kept
	// across daemon restarts (powerOff ends it).
	mountns bool
	// heartbeat, misses and lease of the cluster file.
	heartbeat time.Duration
	misses    int
	lease     time.Duration
}

type testCluster struct {
	t       *testing.T
	dir     string
	tag     string
	nodes   map[string]*node
	order   []string
	service map[string]string // node -> its service address
	netns   map[string]string
}

// newCluster writes the cluster file, the key and every node's node
// file, and starts every arkd.
func newCluster(t *testing.T, tag string, o clusterOpts) *testCluster {
	t.Helper()
	if o.heartbeat == 0 {
		o.heartbeat, o.misses, o.lease = 100*time.Millisecond, 5, 3*time.Second
	}
	dir := t.TempDir()
	c := &testCluster{t: t, dir: dir, tag: tag, nodes: map[string]*node{}, service: map[string]string{}, netns: map[string]string{}}
	key := filepath.Join(dir, "cluster.key")
	if err := os.WriteFile(key, []byte(strings.Repeat("k3y-", 12)), 0o600); err != nil {
		t.Fatal(err)
	}
	names := append([]string{}, o.nodes...)
	if o.witness != "" {
		names = append(names, o.witness)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "cluster: test\nkey_file: %s\nheartbeat: {interval: %s, misses: %d}\nlease_timeout: %s\nremote_timeout: 60s\n",
		key, o.heartbeat, o.misses, o.lease)
	b.WriteString("raft: {heartbeat_timeout: 300ms, election_timeout: 300ms, leader_lease_timeout: 150ms}\nnodes:\n")
	for i, name := range names {
		var comm, svc string
		if o.addr != nil {
			comm, svc = o.addr(i, name)
		} else {
			comm, svc = freePort(t), freePort(t)
		}
		role := "node"
		if name == o.witness {
			role = "witness"
		} else {
			c.service[name] = svc
		}
		fmt.Fprintf(&b, "  - {name: %s, role: %s, addresses: [%s]}\n", name, role, comm)
		if o.netns != nil {
			c.netns[name] = o.netns(i, name)
		}
	}
	writeFile(t, filepath.Join(dir, "cluster.yaml"), b.String())
	kits := "kits:\n"
	for _, k := range append([]string{"generic"}, o.kits...) {
		sum, err := plugins.FileSHA256(filepath.Join(bin, "ark-"+k))
		if err != nil {
			t.Fatal(err)
		}
		kits += fmt.Sprintf("  %s:\n    sha256: %s\n", k, sum)
	}
	for _, name := range names {
		nd := filepath.Join(dir, name)
		if err := os.MkdirAll(nd, 0o700); err != nil {
			t.Fatal(err)
		}
		n := &node{t: t, dir: nd, conf: filepath.Join(nd, "node.yaml"), socket: filepath.Join(nd, "arkd.sock"), netns: c.netns[name]}
		if o.mountns {
			n.mountns = newMountNS(t, filepath.Join(dir, "mntns"), name)
		}
		kits := kits
		if name == o.witness {
			kits = ""
		}
		writeFile(t, n.conf, fmt.Sprintf("node: %s\ncluster: test\ncluster_file: %s\nstate_dir: %s/state\nplugin_dir: %s\nsocket: %s\nlog_level: debug\n%s",
			name, filepath.Join(dir, "cluster.yaml"), nd, bin, n.socket, kits))
		c.nodes[name] = n
		c.order = append(c.order, name)
	}
	t.Cleanup(c.stopServices)
	for _, name := range names {
		c.nodes[name].start()
	}
	c.settle()
	return c
}

// newMountNS makes a mount namespace (private propagation) named by the
// file dir/name, and returns that file. The namespace lives until the
// file is unmounted (endMountNS, at cleanup at the latest) and its last
// process is gone; its mounts go with it, as a machine's do when it
// loses power.
func newMountNS(t *testing.T, dir, name string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// The namespace file must sit on a private mount, or the bind
	// would propagate into the namespace it names.
	if !mounted(os.Getpid(), dir) {
		for _, args := range [][]string{{"--bind", dir, dir}, {"--make-private", dir}} {
			if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
				t.Fatalf("mount %v: %v\n%s", args, err, out)
			}
		}
		t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	}
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("unshare", "--mount="+file, "--propagation", "private", "true").CombinedOutput(); err != nil {
		t.Fatalf("unshare --mount=%s: %v\n%s", file, err, out)
	}
	t.Cleanup(func() { endMountNS(file) })
	return file
}

// endMountNS lets go of a mount namespace made by newMountNS.
func endMountNS(file string) { _ = exec.Command("umount", "-l", file).Run() }

// settle waits until every node sees every other up, a leader, and
// holds its lease.
func (c *testCluster) settle() {
	c.t.Helper()
	for _, name := range c.order {
		n := c.nodes[name]
		if !n.running() {
			continue
		}
		waitFor(c.t, "node "+name+" to see the cluster", func() bool {
			cs, ok := n.cluster()
			if !ok || cs.Leader == "" || (cs.Lease != "held" && cs.Lease != "-") {
				return false
			}
			for _, m := range cs.Nodes {
				if !m.Up && c.nodes[m.Name].running() {
					return false
				}
			}
			return true
		})
	}
}

// cluster returns a node's view of the cluster.
func (n *node) cluster() (api.Cluster, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var cs api.Cluster
	return cs, api.NewClient(n.socket).Call(ctx, api.PathCluster, nil, nil, &cs) == nil
}

func (n *node) running() bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// define defines the test's resource: the echo service of
// examples/cluster, each node on its own address, node priorities in
// the cluster's order, no local recover (a failure fails over).
func (c *testCluster) define(on string, extra string) {
	c.t.Helper()
	scripts, err := filepath.Abs("../../../examples/cluster")
	if err != nil {
		c.t.Fatal(err)
	}
	var params, prios []string
	for i, name := range c.order {
		svc, ok := c.service[name]
		if !ok {
			continue
		}
		params = append(params, fmt.Sprintf("      addr_%s: %q", name, svc))
		prios = append(prios, fmt.Sprintf("%s: %d", name, i+1))
	}
	def := filepath.Join(c.dir, "resources.yaml")
	writeFile(c.t, def, fmt.Sprintf(`resources:
  - tag: %s
    type: generic
    params:
      dir: %s
%s
    priorities: {%s}
    interval: 200ms
    timeouts: {quickCheck: 150ms}
    restart_attempts: 0
%s`, c.tag, scripts, strings.Join(params, "\n"), strings.Join(prios, ", "), extra))
	c.nodes[on].must("define", "-f", def)
}

// where returns the node a running node says the resource is ISP on.
func (c *testCluster) where(from string) string {
	st := c.nodes[from].status(c.tag)
	if st.State != "ISP" {
		return ""
	}
	return st.Node
}

// waitOn waits until node from sees the resource ISP on node.
func (c *testCluster) waitOn(from, node string) {
	c.t.Helper()
	waitFor(c.t, fmt.Sprintf("%s to be ISP on %s (seen from %s)", c.tag, node, from), func() bool {
		return c.where(from) == node
	})
}

// crash kills a node as a power cut would: its arkd, its plugins and the
// process trees of its services, all with SIGKILL.
func (c *testCluster) crash(name string) {
	c.t.Helper()
	n := c.nodes[name]
	pid := n.cmd.Process.Pid
	children := childrenOf(pid)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	for _, p := range children {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	<-n.exited
	c.killServices(name)
}

// killServices kills what a node's actions left running: its cgroup
// tree when there is one, and the echo service by its pidfile.
func (c *testCluster) killServices(name string) {
	if root := proc.CgroupRoot(); root != "" && os.Geteuid() == 0 {
		_, _ = proc.KillTree(filepath.Join(root, "ark", name), 5*time.Second)
	}
	pf := fmt.Sprintf("/tmp/ark-echo-%s-%s.pid", c.tag, name)
	if b, err := os.ReadFile(pf); err == nil {
		if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		_ = os.Remove(pf)
	}
}

func (c *testCluster) stopServices() {
	for _, name := range c.order {
		c.killServices(name)
	}
}

// childrenOf lists the direct children of pid.
func childrenOf(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}

// checker polls every node's service and remembers every moment two
// answered at once.
type checker struct {
	mu      sync.Mutex
	doubles []string
	polls   int
	stop    chan struct{}
	done    chan struct{}
}

// watch starts the checker; probe(node) reports whether node's service
// answers now. It stops at the test's end and fails it on a double.
func (c *testCluster) watch(probe func(node string) bool) *checker {
	ch := &checker{stop: make(chan struct{}), done: make(chan struct{})}
	if probe == nil {
		probe = func(node string) bool { return echoQuick(c.service[node]) }
	}
	go func() {
		defer close(ch.done)
		for {
			select {
			case <-ch.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			var up []string
			for _, name := range c.order {
				if _, ok := c.service[name]; ok && probe(name) {
					up = append(up, name)
				}
			}
			ch.mu.Lock()
			ch.polls++
			if len(up) > 1 {
				ch.doubles = append(ch.doubles, fmt.Sprintf("%s: %v", time.Now().Format("15:04:05.000"), up))
			}
			ch.mu.Unlock()
		}
	}()
	c.t.Cleanup(func() { ch.finish(c.t) })
	return ch
}

func (ch *checker) finish(t *testing.T) {
	select {
	case <-ch.stop:
		return
	default:
	}
	close(ch.stop)
	<-ch.done
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if n := len(ch.doubles); n > 0 {
		t.Errorf("SAFETY: the service answered on two nodes at once in %d of %d polls, first %s, last %s",
			n, ch.polls, ch.doubles[0], ch.doubles[n-1])
		return
	}
	t.Logf("safety checker: %d polls, no double", ch.polls)
}

// echoQuick is a fast in-process probe of the echo service.
func echoQuick(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, 50*time.Millisecond)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := conn.Write([]byte("ping\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && line == "ping\n"
}

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster test: skipped with -short")
	}
}

// TestClusterResourceFailure: the service dies on its node; with no
// local recover, the group is removed there (GROUPFAILOVER) and restored
// on the next node (FAILOVER).
func TestClusterResourceFailure(t *testing.T) {
	skipShort(t)
	c := newCluster(t, "rf-web", clusterOpts{nodes: []string{"n1", "n2", "n3"}})
	c.define("n2", "")
	c.nodes["n3"].must("start", c.tag) // forwarded to the leader from any node
	c.waitOn("n3", "n1")
	ch := c.watch(nil)
	c.killServices("n1")
	// Every node must have caught up with the log before its view is read.
	for _, n := range []string{"n1", "n2", "n3"} {
		c.waitOn(n, "n2")
	}
	ch.finish(t)
	var removed, restored bool
	for _, e := range c.nodes["n2"].events() {
		if e.Tag == c.tag && e.Node == "n1" && strings.Contains(e.Message, "removed (GROUPFAILOVER)") {
			removed = true
		}
		if e.Tag == c.tag && e.Node == "n2" && removed && strings.Contains(e.Message, "restored (FAILOVER)") {
			restored = true
		}
	}
	if !removed || !restored {
		t.Errorf("events: removed on n1 with GROUPFAILOVER %v, then restored on n2 with FAILOVER %v", removed, restored)
	}
	st := c.nodes["n1"].status(c.tag)
	if st.Node != "n2" || st.State != "ISP" {
		t.Errorf("n1's view: %+v, want ISP on n2", st)
	}
}

// TestClusterNodeCrash: the active node dies with its services (kill -9
// of arkd, its plugins and its service); after its lease the survivors
// restore the group on the next node.
func TestClusterNodeCrash(t *testing.T) {
	skipShort(t)
	c := newCluster(t, "crash-web", clusterOpts{nodes: []string{"n1", "n2", "n3"}})
	c.define("n1", "")
	c.nodes["n1"].must("start", c.tag)
	c.waitOn("n2", "n1")
	ch := c.watch(nil)
	c.crash("n1")
	c.waitOn("n2", "n2")
	ch.finish(t)
	if out := c.nodes["n3"].must("status"); !strings.Contains(out, "n1    node  DOWN") {
		t.Errorf("status on n3 does not show n1 DOWN:\n%s", out)
	}
	var lost bool
	for _, e := range c.nodes["n3"].events() {
		if strings.HasPrefix(e.Message, "COMMUNICATIONS n1 FAILED AT: ") {
			lost = true
		}
	}
	if !lost {
		t.Error("no 'COMMUNICATIONS n1 FAILED AT:' event on n3")
	}
}

// TestClusterLeaderLoss: the leader's daemon dies while another node
// runs the service; a new leader is elected, the service stays where it
// is, and the cluster still takes requests.
func TestClusterLeaderLoss(t *testing.T) {
	skipShort(t)
	c := newCluster(t, "leader-web", clusterOpts{nodes: []string{"n1", "n2", "n3"}})
	cs, _ := c.nodes["n1"].cluster()
	leader := cs.Leader
	var host, other string
	for _, n := range c.order {
		if n != leader {
			if host == "" {
				host = n
			} else {
				other = n
			}
		}
	}
	c.define(host, "")
	c.nodes[host].must("start", "--node", host, c.tag)
	c.waitOn(host, host)
	ch := c.watch(nil)
	c.crash(leader)
	waitFor(t, "a new leader", func() bool {
		cs, ok := c.nodes[host].cluster()
		return ok && cs.Leader != "" && cs.Leader != leader
	})
	if w := c.where(other); w != host {
		t.Errorf("after the leader's loss the service is ISP on %q, want it still on %s", w, host)
	}
	c.nodes[other].must("relocate", c.tag, "--node", other)
	c.waitOn(host, other)
	ch.finish(t)
}

// TestClusterWitness: two nodes and a witness. The witness hosts
// nothing, and with its vote the survivor of a node crash has quorum and
// takes the service over.
func TestClusterWitness(t *testing.T) {
	skipShort(t)
	c := newCluster(t, "wit-web", clusterOpts{nodes: []string{"n1", "n2"}, witness: "w"})
	c.define("n1", "")
	c.nodes["w"].must("start", c.tag) // the witness forwards, hosts nothing
	c.waitOn("n2", "n1")
	ch := c.watch(nil)
	c.crash("n1")
	c.waitOn("n2", "n2")
	ch.finish(t)
	cs, _ := c.nodes["w"].cluster()
	for _, n := range cs.Nodes {
		if n.Name == "w" && n.Groups != 0 {
			t.Errorf("witness hosts %d groups", n.Groups)
		}
	}
}
