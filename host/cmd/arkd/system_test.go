package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ark-ha/ark/host/events"
	"github.com/ark-ha/ark/plugins"
	"github.com/ark-ha/ark/sdk/ark"
)

// The whole-system test (make test-system): the hierarchy of
// examples/hierarchy — app (GenericARK) on a VIP (ip) on a filesystem
// (fs) on a disk reservation (diskres) — on two nodes and a witness,
// each in a network namespace of its own and each arkd in a mount
// namespace of its own, all sharing one loop device as the shared disk.
// A client in a fourth namespace writes numbered records through the
// VIP the whole time.

const (
	sysVIP  = "10.77.0.100"
	sysPort = "7500"
	// The filesystem takes the first 60 MiB of the disk, the lease the
	// block at 62 MiB: one shared device, as a real pair would share one
	// LUN with a small partition for the lease.
	sysDiskMB      = 64
	sysFSMB        = 60
	sysLeaseOffset = 62 << 20
)

// loopDevice attaches a loop device to a new sparse file of sizeMB and
// detaches it when the test ends.
func loopDevice(t *testing.T, sizeMB int) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "shared-disk.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(int64(sizeMB) << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup: %v\n%s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	// Mounts live in the nodes' mount namespaces and end with them; a
	// device still busy is detached when its last user goes (autoclear).
	t.Cleanup(func() { _ = exec.Command("losetup", "-d", dev).Run() })
	return dev
}

// writer is the client: it writes records 1, 2, 3, ... through the VIP,
// one at a time, retrying a record until it is acknowledged.
type writer struct {
	mu    sync.Mutex
	acked map[int]string // record -> the node that acknowledged it
	last  int
	at    []time.Time // when each acknowledgement came
	stop  chan struct{}
	done  chan struct{}
}

func (w *writer) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// run is the writer's loop; it runs on the client namespace's thread
// (lab.in), so that its connections are the client's.
func (w *writer) run(addr string) {
	defer close(w.done)
	var conn net.Conn
	var rd *bufio.Reader
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for n := 1; ; {
		select {
		case <-w.stop:
			return
		default:
		}
		if conn == nil {
			c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
			if err != nil {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			conn, rd = c, bufio.NewReader(c)
		}
		_ = conn.SetDeadline(time.Now().Add(time.Second))
		line := ""
		_, err := fmt.Fprintf(conn, "W %d\n", n)
		if err == nil {
			line, err = rd.ReadString('\n')
		}
		f := strings.Fields(line)
		if err != nil || len(f) != 3 || f[0] != "OK" || f[1] != strconv.Itoa(n) {
			// The outcome is unknown: the same record is sent again, so
			// the journal may hold it twice, never zero times.
			conn.Close()
			conn = nil
			continue
		}
		w.mu.Lock()
		w.acked[n] = f[2]
		w.last = n
		w.at = append(w.at, time.Now())
		w.mu.Unlock()
		n++
	}
}

// system is the whole-system setup: the cluster, the shared disk, the
// hierarchy in service on node1, the safety checkers and the client.
type system struct {
	t        *testing.T
	lab      *netLab
	c        *testCluster
	dev, mnt string
	kinds    []string
	probes   map[string]func(node string) bool
	checkers []*checker
	w        *writer
	stop     func() // stops the client
}

// newSystem makes the lab, the disk and the cluster, defines
// examples/hierarchy, starts it on node1, and starts the checkers and the
// client.
func newSystem(t *testing.T) *system {
	t.Helper()
	skipShort(t)
	needNetns(t)
	for _, tool := range []string{"losetup", "mkfs.ext4", "unshare", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: make deps installs it", tool)
		}
	}
	s := &system{t: t, lab: newNetLab(t, []string{"node1", "node2", "witness", "client"})}
	s.dev = loopDevice(t, sysDiskMB)
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", s.dev, fmt.Sprintf("%dM", sysFSMB)).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4 %s: %v\n%s", s.dev, err, out)
	}
	s.mnt = filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(s.mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, "app", s.lab.clusterAddrs(clusterOpts{
		nodes: []string{"node1", "node2"}, witness: "witness",
		kits: []string{"ip", "fs", "diskres"}, mountns: true,
		heartbeat: 100 * time.Millisecond, misses: 5, lease: 3 * time.Second}))
	s.c = c

	scripts, err := filepath.Abs("../../../examples/cluster")
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := os.ReadFile("../../../examples/hierarchy/resources.yaml")
	if err != nil {
		t.Fatal(err)
	}
	def := strings.NewReplacer("SCRIPTS_DIR", scripts, "VIP", sysVIP, "PREFIX", "24",
		"FS_DEVICE", s.dev, "LEASE_DEVICE", s.dev, "LEASE_OFFSET", strconv.Itoa(sysLeaseOffset),
		"MOUNTPOINT", s.mnt).Replace(string(tmpl))
	defFile := filepath.Join(t.TempDir(), "hierarchy.yaml")
	writeFile(t, defFile, def)
	c.nodes["node1"].must("define", "-f", defFile)
	c.nodes["node2"].must("start", "app")
	c.waitOn("node1", "node1")
	c.waitOn("node2", "node1")

	// Three safety checkers, one per kind of kernel state the group
	// holds: the application's process, the VIP, the mount. Each polls
	// every node and fails the test if two hold it at once. The mount is
	// looked for in the node's mount namespace, through its arkd or its
	// application (the daemon may be down while the mount stays).
	s.kinds = []string{"app", "vip", "data"}
	s.probes = map[string]func(node string) bool{
		"app": func(node string) bool { return pidAlive(appPidfile(node)) },
		"vip": func(node string) bool { return s.lab.hasAddr(node, sysVIP) },
		"data": func(node string) bool {
			if n := c.nodes[node]; n.running() && mounted(n.cmd.Process.Pid, s.mnt) {
				return true
			}
			pid := readPidfile(appPidfile(node))
			return pid > 0 && mounted(pid, s.mnt)
		},
	}
	s.holds("node1", "node2")
	for _, kind := range s.kinds {
		s.checkers = append(s.checkers, c.watch(s.probes[kind]))
	}

	s.w = &writer{acked: map[int]string{}, stop: make(chan struct{}), done: make(chan struct{})}
	go s.lab.nodes["client"].in(func() { s.w.run(net.JoinHostPort(sysVIP, sysPort)) })
	s.stop = sync.OnceFunc(func() { close(s.w.stop); <-s.w.done })
	t.Cleanup(s.stop)
	s.progress("on node1")
	return s
}

// holds checks that every probe sees the group on node on and not on
// off: the probes must tell the nodes apart, or the checkers prove
// nothing.
func (s *system) holds(on, off string) {
	s.t.Helper()
	for _, kind := range s.kinds {
		if p := s.probes[kind]; !p(on) || p(off) {
			s.t.Fatalf("probe %s: %v on %s, %v on %s; want true, false", kind, p(on), on, p(off), off)
		}
	}
}

// progress waits until the client got 20 more records acknowledged.
func (s *system) progress(what string) {
	s.t.Helper()
	from := s.w.count()
	waitFor(s.t, "the client to write through the VIP "+what, func() bool { return s.w.count() >= from+20 })
}

// finish stops the client and the checkers and checks the journal,
// read through node's mount namespace, against the writers expected.
func (s *system) finish(node string, writers ...string) {
	s.t.Helper()
	s.stop()
	for _, ch := range s.checkers {
		ch.finish(s.t)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/root%s/journal", s.c.nodes[node].cmd.Process.Pid, s.mnt))
	if err != nil {
		s.t.Fatalf("reading the journal on %s: %v", node, err)
	}
	checkJournal(s.t, string(b), s.w, writers)
}

// appPidfile is where examples/cluster's restore writes the app's pid.
func appPidfile(node string) string { return "/tmp/ark-echo-app-" + node + ".pid" }

// readPidfile returns the pid in file, or 0.
func readPidfile(file string) int {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// TestSystemHierarchy runs the hierarchy through a resource failure, the
// loss of the disk reservation and a node failure while a client writes
// through the VIP, and checks that no acknowledged record was lost, that
// no two nodes ever wrote at once, and that no resource of the group was
// ever in service on two nodes.
func TestSystemHierarchy(t *testing.T) {
	s := newSystem(t)
	c, lab := s.c, s.lab

	// 1. Resource failure: the application dies on node1. The group is
	// removed there top-down and restored on node2 bottom-up; the client
	// follows the VIP.
	killed := time.Now()
	c.killServices("node1")
	c.waitOn("node1", "node2")
	c.waitOn("node2", "node2")
	s.progress("after the failover to node2")
	s.holds("node2", "node1")
	evs := c.nodes["node1"].events()
	checkOrder(t, evs, killed, "node1", "removed (GROUPFAILOVER)", []string{"app", "vip", "data", "disk"})
	checkOrder(t, evs, killed, "node2", "restored (FAILOVER)", []string{"disk", "data", "vip", "app"})

	// 2. The disk is taken: another host forces its way onto the disk
	// lease (and lets go at once). node2's diskres quickCheck finds its
	// reservation gone; everything above it is removed on node2, top
	// down, before the group comes back on node1.
	taken := time.Now()
	intrude(t, s.dev)
	c.waitOn("node2", "node1")
	c.waitOn("node1", "node1")
	s.progress("after the disk was taken from node2")
	evs = c.nodes["node1"].events()
	checkOrder(t, evs, taken, "node2", "removed (GROUPFAILOVER)", []string{"app", "vip", "data", "disk"})
	checkOrder(t, evs, taken, "node1", "restored (FAILOVER)", []string{"disk", "data", "vip", "app"})

	// 3. Node failure: node1 loses its power: off the network, every
	// process killed (its mount namespace goes with them), its
	// addresses gone. node2 restores the group after the safety rule,
	// and after node1's disk lease ran out.
	crashed := time.Now()
	lab.cut("node1")
	c.crash("node1")
	endMountNS(c.nodes["node1"].mountns)
	ipCmd(t, "-n", lab.nodes["node1"].ns, "addr", "flush", "dev", "eth0")
	c.waitOn("node2", "node2")
	s.progress("after node1's crash")
	checkOrder(t, c.nodes["node2"].events(), crashed, "node2", "restored (FAILOVER)", []string{"disk", "data", "vip", "app"})

	s.finish("node2", "node1", "node2", "node1", "node2")
}

// TestSystemMaintenance is LifeKeeper's lkstop -f / lkstart with the
// whole hierarchy: node1's arkd stops and leaves its services running
// for longer than the disk lease and the cluster lease; nothing moves,
// the client keeps writing through the VIP, and the daemon, back, takes
// the group again without restarting anything.
func TestSystemMaintenance(t *testing.T) {
	s := newSystem(t)
	c := s.c
	pid := readPidfile(appPidfile("node1"))
	down := time.Now()
	c.nodes["node1"].must("shutdown", "--leave-services")
	<-c.nodes["node1"].exited
	// Nothing can be seen to happen, so the test lets time pass: longer
	// than both leases, during which the client must be served.
	time.Sleep(2 * 3 * time.Second)
	s.progress("while node1's arkd is down")
	s.holds("node1", "node2")

	back := time.Now()
	c.nodes["node1"].start()
	c.settle()
	// Back: node1 takes its group again as it runs. The disk lease went
	// stale while nobody renewed it: its quickCheck fails at the
	// daemon's start, and the leader restores it where the rest runs (it
	// is still node1's, so that takes it again at once).
	waitFor(t, "the disk lease taken again on node1", func() bool {
		return len(after(c.nodes["node2"].events(), back, func(e events.Event) bool {
			return e.Kind == events.KindState && e.Tag == "disk" && e.Node == "node1" &&
				(strings.HasPrefix(e.Message, "adopted") || strings.HasPrefix(e.Message, "restored"))
		})) > 0
	})
	for _, tag := range []string{"disk", "data", "vip", "app"} {
		for _, from := range []string{"node1", "node2"} {
			waitFor(t, tag+" ISP on node1 seen from "+from, func() bool {
				st := c.nodes[from].status(tag)
				return st.State == "ISP" && st.Node == "node1"
			})
		}
	}
	s.progress("after node1's arkd is back")
	if now := readPidfile(appPidfile("node1")); now != pid {
		t.Errorf("the application was restarted: pid %d, then %d", pid, now)
	}
	evs := after(c.nodes["node2"].events(), down, func(e events.Event) bool { return e.Kind == events.KindState })
	for _, e := range evs {
		if strings.HasPrefix(e.Message, "removed") || e.Node != "node1" || (strings.HasPrefix(e.Message, "restored") && e.Tag != "disk") {
			t.Errorf("%s %s %s on %s: nothing but node1 taking its group again should happen", e.Time.Format("15:04:05.000"), e.Tag, e.Message, e.Node)
		}
	}
	t.Logf("state changes since node1's shutdown:\n%s", dumpEvents(evs))
	s.finish("node1", "node1")
}

// checkOrder checks that, after since, node's state events show tags
// reaching state (e.g. "removed (GROUPFAILOVER)") in that order.
func checkOrder(t *testing.T, evs []events.Event, since time.Time, node, state string, tags []string) {
	t.Helper()
	var got []string
	for _, e := range evs {
		if e.Kind != events.KindState || e.Node != node || e.Time.Before(since) || !slices.Contains(tags, e.Tag) {
			continue
		}
		if e.Message == state && !slices.Contains(got, e.Tag) {
			got = append(got, e.Tag)
		}
	}
	if !slices.Equal(got, tags) {
		t.Errorf("on %s since %s, %v %s, want %v in that order; events:\n%s",
			node, since.Format("15:04:05.000"), got, state, tags, dumpEvents(evs))
	}
}

// checkJournal checks the records against what the client was told:
// every acknowledged record is there, written by the node that
// acknowledged it; the writers follow each other as want says and never
// interleave.
func checkJournal(t *testing.T, journal string, w *writer, want []string) {
	t.Helper()
	type rec struct {
		n    int
		node string
		ts   int64
	}
	var recs []rec
	seen := map[int][]string{}
	for i, l := range strings.Split(strings.TrimSpace(journal), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			t.Fatalf("journal line %d is torn: %q", i+1, l)
		}
		n, err1 := strconv.Atoi(f[0])
		ts, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("journal line %d is malformed: %q", i+1, l)
		}
		recs = append(recs, rec{n, f[1], ts})
		seen[n] = append(seen[n], f[1])
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var lost []int
	for n, node := range w.acked {
		if !slices.Contains(seen[n], node) {
			lost = append(lost, n)
		}
	}
	slices.Sort(lost)
	if len(lost) > 0 {
		t.Errorf("%d acknowledged records are not in the journal (as written by the node that acknowledged them), first %d", len(lost), lost[0])
	}
	var segments []string
	for i, r := range recs {
		if i > 0 && r.ts < recs[i-1].ts {
			t.Errorf("journal line %d (record %d by %s) is older than the line before it (record %d by %s): two writers at once",
				i+1, r.n, r.node, recs[i-1].n, recs[i-1].node)
		}
		if len(segments) == 0 || segments[len(segments)-1] != r.node {
			segments = append(segments, r.node)
		}
	}
	if !slices.Equal(segments, want) {
		t.Errorf("the journal's writers took turns as %v, want %v", segments, want)
	}
	var gaps []time.Duration
	for i := 1; i < len(w.at); i++ {
		gaps = append(gaps, w.at[i].Sub(w.at[i-1]))
	}
	slices.Sort(gaps)
	slices.Reverse(gaps)
	t.Logf("journal: %d lines, %d records acknowledged (last %d), writers %v; the client's three longest waits: %v",
		len(recs), len(w.acked), w.last, segments, gaps[:min(3, len(gaps))])
}

// intrude takes the disk lease on dev by force, as another host would,
// through the diskres kit's own plugin, and releases it at once.
func intrude(t *testing.T, dev string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := plugins.Launch(ctx, plugins.LaunchConfig{Path: filepath.Join(bin, "ark-diskres")})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(context.Background())
	rt := p.ResourceType()
	info, err := rt.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	params := info.WithDefaults(map[string]string{"device": dev, "offset": strconv.Itoa(sysLeaseOffset), "lease_duration": "3s", "takeover": "force"})
	for _, act := range []func(context.Context, *ark.Request) (ark.Result, error){rt.Restore, rt.Remove} {
		res, err := act(ctx, &ark.Request{Tag: "intruder", ID: "intruder", Params: params,
			Env: map[string]string{"NODE": "intruder", "CLUSTER": "other"}, Log: func(ark.LogLine) {}})
		if err != nil || !res.OK() {
			t.Fatalf("the intruder's diskres action: %+v %v", res, err)
		}
		t.Logf("intruder: %s", res.Message)
	}
}

// mounted reports whether something is mounted at mnt in the mount
// namespace of process pid.
func mounted(pid int, mnt string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == mnt {
			return true
		}
	}
	return false
}

// hasAddr reports whether node's namespace has addr on an interface.
func (lab *netLab) hasAddr(node, addr string) bool {
	var found bool
	lab.nodes[node].in(func() {
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			return
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.String() == addr {
				found = true
			}
		}
	})
	return found
}
