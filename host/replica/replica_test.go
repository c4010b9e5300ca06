package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ark-ha/ark/host/model"
	"github.com/ark-ha/ark/host/store"
)

// followerOf returns a running node other than leader.
func (c *cluster) followerOf(leader string) string {
	for _, n := range c.nodes {
		if _, ok := c.running[n.Name]; ok && n.Name != leader {
			return n.Name
		}
	}
	c.t.Fatal("no follower")
	return ""
}

// checkOnApply checks that node's OnApply saw want (op summaries), in
// order, with increasing indexes.
func checkOnApply(t *testing.T, node string, rec *recorder, want []string) {
	t.Helper()
	// OnApply runs once the lock Read takes is released: Read may show
	// an entry a moment before OnApply has seen it.
	eventually(t, node+"'s OnApply", func() error {
		if got := rec.tags(); len(got) < len(want) {
			return fmt.Errorf("saw %q", got)
		}
		return nil
	})
	var last uint64
	for _, e := range rec.list() {
		if e.index <= last {
			t.Errorf("%s: OnApply index %d after %d", node, e.index, last)
		}
		last = e.index
	}
	if got := rec.tags(); !slices.Equal(got, want) {
		t.Errorf("%s: OnApply saw %q, want %q", node, got, want)
	}
}

func TestReplicate(t *testing.T) {
	c := newCluster(t, "n1", "n2", "n3")
	for _, n := range []string{"n1", "n2", "n3"} {
		c.start(n)
	}
	leader := c.waitLeader("n1", "n2", "n3")
	term := c.running[leader].r.Term()
	follower := c.followerOf(leader)
	t.Logf("leader %s, applying on follower %s", leader, follower)

	// Forwarded by the follower, then on the leader.
	if err := c.running[follower].r.Apply(ctx(t), define("a")); err != nil {
		t.Fatal(err)
	}
	// Visible on the follower as soon as Apply returns.
	if got := summary(c.running[follower].r.Read()); got != "res=[a] status=[]" {
		t.Errorf("follower reads %s right after its Apply", got)
	}
	if err := c.running[follower].r.Apply(ctx(t), status("a", model.ISP)); err != nil {
		t.Fatal(err)
	}
	if err := c.running[leader].r.Apply(ctx(t), define("b")); err != nil {
		t.Fatal(err)
	}
	if got := summary(c.running[leader].r.Read()); got != "res=[a b] status=[a:ISP]" {
		t.Errorf("leader reads %s right after its Apply", got)
	}
	want := "res=[a b] status=[a:ISP]"
	c.waitState(want, "n1", "n2", "n3")

	// An empty Op changes nothing and is not logged.
	if err := c.running[follower].r.Apply(ctx(t), store.Op{}); err != nil {
		t.Errorf("empty op: %v", err)
	}

	// Invalid ops, from a follower and from the leader: rejected with
	// ErrInvalid, nothing changed, OnApply not called.
	for _, n := range []string{follower, leader} {
		err := c.running[n].r.Apply(ctx(t), status("nope", model.ISP))
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("status of an undefined tag on %s: %v, want ErrInvalid", n, err)
		} else if !strings.Contains(err.Error(), `"nope"`) {
			t.Errorf("error does not name the tag: %v", err)
		}
	}
	// A valid Op after them, so that every node has seen the invalid
	// ones when it is visible.
	if err := c.running[follower].r.Apply(ctx(t), define("c")); err != nil {
		t.Fatal(err)
	}
	c.waitState("res=[a b c] status=[a:ISP]", "n1", "n2", "n3")
	wantOps := []string{"define a", "status a", "define b", "define c"}
	for _, n := range []string{"n1", "n2", "n3"} {
		checkOnApply(t, n, c.running[n].rec, wantOps)
	}

	// The rest assumes leader has stayed the leader: on a loaded machine
	// an election may happen, which is no failure.
	if c.running[leader].r.Term() != term {
		t.Logf("a new election happened (term %d, then %d): leader checks skipped", term, c.running[leader].r.Term())
		return
	}
	// LeaderChanges has the leader (the latest value only).
	select {
	case l := <-c.running[follower].r.LeaderChanges():
		if l != leader {
			t.Errorf("LeaderChanges: %q, want %q", l, leader)
		}
	case <-time.After(wait):
		t.Error("nothing on LeaderChanges")
	}
	if err := c.running[leader].r.VerifyLeader(ctx(t)); err != nil {
		t.Errorf("VerifyLeader on the leader: %v", err)
	}
	if err := c.running[follower].r.VerifyLeader(ctx(t)); err == nil {
		t.Error("VerifyLeader on a follower succeeded")
	}
	st := c.running[leader].r.Stats()
	if st.State != "Leader" || st.Leader != leader || st.Term == 0 || st.AppliedIndex == 0 || st.CommitIndex == 0 {
		t.Errorf("leader stats: %+v", st)
	}
	if len(st.Paths) != 4 {
		t.Errorf("leader stats: %d paths, want 4: %+v", len(st.Paths), st.Paths)
	}
	if st.AuthFailures != 0 || st.Mismatched != 0 {
		t.Errorf("refusals in a healthy cluster: %+v", st)
	}
}

func TestDo(t *testing.T) {
	c := newCluster(t, "n1", "n2")
	a, _ := c.start("n1"), c.start("n2")
	req, _ := http.NewRequest(http.MethodGet, "/hello?x=1", nil)
	for i := range 3 { // a new connection each time
		resp, err := a.r.Do(ctx(t), "n2", req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got, want := string(b), "GET /hello at n2 from n1"; got != want {
			t.Errorf("try %d: %q, want %q", i, got, want)
		}
	}
	// The replica's own paths are not the handler's.
	resp, err := a.r.Do(ctx(t), "n2", mustReq(http.MethodGet, "/internal/replica/nothing"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/internal/replica/nothing: %s", resp.Status)
	}
	if _, err := a.r.Do(ctx(t), "n9", req); err == nil {
		t.Error("Do to an unknown node succeeded")
	}
}

func mustReq(method, path string) *http.Request {
	req, err := http.NewRequest(method, path, nil)
	if err != nil {
		panic(err)
	}
	return req
}

func TestFailoverAndRestart(t *testing.T) {
	c := newCluster(t, "n1", "n2", "n3")
	for _, n := range []string{"n1", "n2", "n3"} {
		c.start(n)
	}
	old := c.waitLeader("n1", "n2", "n3")
	if err := c.running[old].r.Apply(ctx(t), define("a")); err != nil {
		t.Fatal(err)
	}
	c.waitState("res=[a] status=[]", "n1", "n2", "n3")

	c.stop(old)
	var rest []string
	for _, n := range []string{"n1", "n2", "n3"} {
		if n != old {
			rest = append(rest, n)
		}
	}
	leader := c.waitLeader(rest...)
	if leader == old {
		t.Fatalf("closed %s is still the leader", old)
	}
	follower := c.followerOf(leader)
	t.Logf("leader %s closed, new leader %s", old, leader)
	// 2 of 3: Apply works on both.
	if err := c.running[follower].r.Apply(ctx(t), define("b")); err != nil {
		t.Fatal(err)
	}
	if err := c.running[leader].r.Apply(ctx(t), status("b", model.ISP)); err != nil {
		t.Fatal(err)
	}
	want := "res=[a b] status=[b:ISP]"
	c.waitState(want, rest...)

	// Restart the old leader on its Dir: it keeps the data (and gets
	// what it missed), and OnApply replays the log with increasing
	// indexes.
	n := c.start(old)
	c.waitState(want, "n1", "n2", "n3")
	checkOnApply(t, old, n.rec, []string{"define a", "define b", "status b"})

	// A replica restarted while the rest keep going replays the same
	// indexes as before.
	first := c.running[leader].rec.list()
	c.stop(leader)
	m := c.start(leader)
	c.waitState(want, "n1", "n2", "n3")
	eventually(t, "replay", func() error {
		if got := m.rec.list(); len(got) != len(first) {
			return fmt.Errorf("%d entries replayed, want %d", len(got), len(first))
		}
		return nil
	})
	for i, e := range m.rec.list() {
		if e.index != first[i].index || opSummary(e.op) != opSummary(first[i].op) {
			t.Errorf("replay %d: %d %s, first time %d %s", i, e.index, opSummary(e.op), first[i].index, opSummary(first[i].op))
		}
	}
}

// TestSnapshotRestore checks what OnApply sees after a snapshot: one
// empty Op with the snapshot's index, then the entries after it.
func TestSnapshotRestore(t *testing.T) {
	c := newCluster(t, "n1")
	n := c.start("n1")
	c.waitLeader("n1")
	for _, tag := range []string{"a", "b"} {
		if err := n.r.Apply(ctx(t), define(tag)); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.r.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	snapIndex := n.rec.list()[1].index
	if err := n.r.Apply(ctx(t), define("c")); err != nil {
		t.Fatal(err)
	}
	c.stop("n1")
	m := c.start("n1")
	// The snapshot is restored by Open.
	if got, want := summary(m.r.Read()), "res=[a b] status=[]"; got != want {
		t.Errorf("right after Open: %s, want %s", got, want)
	}
	c.waitLeader("n1")
	c.waitState("res=[a b c] status=[]", "n1")
	eventually(t, "OnApply of c", func() error {
		if n := len(m.rec.list()); n < 2 {
			return fmt.Errorf("%d calls", n)
		}
		return nil
	})
	got := m.rec.list()
	if len(got) != 2 || got[0].index != snapIndex || !got[0].op.Empty() || opSummary(got[1].op) != "define c" {
		t.Errorf("OnApply after a restore: %+v (snapshot at %d)", got, snapIndex)
	}
}

func TestRefused(t *testing.T) {
	c := newCluster(t, "n1", "n2", "n3")
	c.start("n1")
	c.start("n2")
	c.waitLeader("n1", "n2")

	cases := []struct {
		name   string
		change func(*Config)
		count  func(Stats) uint64
		log    string
	}{
		{"another cluster file", func(cfg *Config) { cfg.ConfigHash = "sha256:" + strings.Repeat("cd", 32) },
			func(s Stats) uint64 { return s.Mismatched }, "cluster file differs from ours"},
		{"another key", func(cfg *Config) { cfg.Key = randKey() },
			func(s Stats) uint64 { return s.AuthFailures }, "did not prove the cluster key"},
	}
	for i, tc := range cases {
		func() {
			t.Logf("case %s", tc.name)
			before := map[string]uint64{}
			for _, n := range []string{"n1", "n2"} {
				before[n] = tc.count(c.running[n].r.Stats())
			}
			cfg := c.config("n3")
			cfg.Dir = t.TempDir()
			tc.change(&cfg)
			bad := c.startWith(cfg)
			defer c.stop("n3")
			tag := fmt.Sprintf("x%d", i)
			if err := c.running["n1"].r.Apply(ctx(t), define(tag)); err != nil {
				t.Fatal(err)
			}
			eventually(t, "refusals counted on both sides", func() error {
				for _, n := range []string{"n1", "n2"} {
					if got := tc.count(c.running[n].r.Stats()); got <= before[n] {
						return fmt.Errorf("%s counted %d", n, got)
					}
				}
				if got := tc.count(bad.r.Stats()); got == 0 {
					return fmt.Errorf("n3 counted %d", got)
				}
				return nil
			})
			for _, n := range []*tnode{c.running["n1"], bad} {
				if !strings.Contains(n.logs.String(), tc.log) {
					t.Errorf("%s's log does not say %q", n.cfg.Self, tc.log)
				}
			}
			// Let a few election rounds go by: n3 never gets the data
			// nor disturbs the others.
			time.Sleep(5 * testElection)
			if got := summary(bad.r.Read()); got != "res=[] status=[]" {
				t.Errorf("refused n3 reads %s", got)
			}
			if bad.r.IsLeader() || bad.r.Leader() != "" {
				t.Errorf("refused n3 sees leader %q", bad.r.Leader())
			}
			leader := c.waitLeader("n1", "n2")
			if err := c.running[leader].r.Apply(ctx(t), define(tag+"b")); err != nil {
				t.Fatal(err)
			}
		}()
	}
	if strings.Contains(c.running["n1"].logs.String(), "cluster file differs from ours (sha256:"+strings.Repeat("cd", 32)+" vs "+c.hash+")") == false {
		t.Errorf("n1's log does not show both hashes")
	}

	// The real n3 joins and catches up.
	c.start("n3")
	c.waitState("res=[x0 x0b x1 x1b] status=[]", "n1", "n2", "n3")
}

// TestSecondPath: a node whose first address has no listener is reached
// through its second, by raft and by Do.
func TestSecondPath(t *testing.T) {
	c := newCluster(t, "n1", "n2", "n3")
	n3 := c.start("n3")
	n3.r.stream.closePath(0)
	c.start("n1")
	c.start("n2")
	c.waitLeader("n1", "n2", "n3")
	if err := c.running["n1"].r.Apply(ctx(t), define("a")); err != nil {
		t.Fatal(err)
	}
	c.waitState("res=[a] status=[]", "n1", "n2", "n3")
	resp, err := c.running["n1"].r.Do(ctx(t), "n3", mustReq(http.MethodGet, "/x"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got, want := string(b), "GET /x at n3 from n1"; got != want {
		t.Errorf("Do: %q, want %q", got, want)
	}
	for _, p := range c.running["n1"].r.Stats().Paths {
		if p.Node != "n3" {
			continue
		}
		first := p.Addr == c.nodes[2].Addrs[0]
		if first && (p.Failures == 0 || p.Preferred) {
			t.Errorf("n1's closed path to n3: %+v", p)
		}
		if !first && (p.Dials == 0 || p.Failures != 0 || !p.Preferred) {
			t.Errorf("n1's second path to n3: %+v", p)
		}
	}
	if st := n3.r.Stats(); st.AuthFailures != 0 {
		t.Errorf("n3: %+v", st)
	}
}

// TestPathFailsLater: the path that worked is closed while the cluster
// runs; connections move to the other.
func TestPathFailsLater(t *testing.T) {
	c := newCluster(t, "n1", "n2", "n3")
	for _, n := range []string{"n1", "n2", "n3"} {
		c.start(n)
	}
	c.waitLeader("n1", "n2", "n3")
	// Close n2's preferred path (the first) and every connection, as a
	// failing interface would.
	n2 := c.running["n2"].r
	n2.stream.closePath(0)
	n2.stream.mu.Lock()
	var conns []*conn
	for cn := range n2.stream.conns {
		conns = append(conns, cn)
	}
	n2.stream.mu.Unlock()
	for _, cn := range conns {
		cn.Close()
	}
	if err := c.running["n1"].r.Apply(ctx(t), define("a")); err != nil {
		t.Fatal(err)
	}
	c.waitState("res=[a] status=[]", "n1", "n2", "n3")
	resp, err := c.running["n3"].r.Do(ctx(t), "n2", mustReq(http.MethodGet, "/y"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, p := range c.running["n3"].r.Stats().Paths {
		if p.Node == "n2" && p.Preferred != (p.Addr == c.nodes[1].Addrs[1]) {
			t.Errorf("n3's paths to n2 after the first closed: %+v", p)
		}
	}
}

func TestApplyNoLeader(t *testing.T) {
	c := newCluster(t, "n1", "n2", "n3")
	n := c.start("n1")
	cx, cancel := context.WithTimeout(context.Background(), 3*testElection)
	defer cancel()
	err := n.r.Apply(cx, define("a"))
	if !errors.Is(err, ErrNoLeader) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Apply without quorum: %v, want ErrNoLeader and DeadlineExceeded", err)
	}
	if got := summary(n.r.Read()); got != "res=[] status=[]" {
		t.Errorf("reads %s", got)
	}
	c.stop("n1")
	if err := n.r.Apply(ctx(t), define("a")); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Apply after Close: %v", err)
	}
	if _, ok := <-n.r.LeaderChanges(); ok {
		// The channel may hold the last value; it must then be closed.
		if _, ok := <-n.r.LeaderChanges(); ok {
			t.Error("LeaderChanges not closed")
		}
	}
}

func TestOpenErrors(t *testing.T) {
	c := newCluster(t, "n1", "n2")
	good := c.config("n1")
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"short key", func(cfg *Config) { cfg.Key = cfg.Key[:31] }, "at least 32"},
		{"self unknown", func(cfg *Config) { cfg.Self = "n9" }, "not one of the nodes"},
		{"no hash", func(cfg *Config) { cfg.ConfigHash = "" }, "config hash"},
		{"twice", func(cfg *Config) { cfg.Nodes = append(slices.Clone(cfg.Nodes), cfg.Nodes[0]) }, "twice"},
		{"bad name", func(cfg *Config) {
			cfg.Nodes = slices.Clone(cfg.Nodes)
			cfg.Nodes[1].Name = "a/b"
		}, "host name"},
	} {
		cfg := good
		tc.change(&cfg)
		if _, err := Open(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	// The same Dir twice: the second Open fails (raft.db is locked).
	c.start("n1")
	cfg := good
	cfg.Nodes = []Node{{Name: "n1", Addrs: []string{freeAddr(t, "127.0.0.1")}}, c.nodes[1]}
	if _, err := Open(cfg); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("a second Open of the same Dir: %v", err)
	}
	// No address can be bound.
	cfg = c.config("n2")
	ln, err := net.Listen("tcp", c.nodes[1].Addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ln2, err := net.Listen("tcp", c.nodes[1].Addrs[1])
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	if _, err := Open(cfg); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("Open with no address free: %v", err)
	}
}

// TestRebind: an address of this node that is taken at Open (a silent
// listener that never answers) does not stop it; the others reach it on
// its second path, and it takes its first address once it is free.
func TestRebind(t *testing.T) {
	c := newCluster(t, "n1", "n2")
	squat, err := net.Listen("tcp", c.nodes[1].Addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	n2 := c.start("n2")
	if !strings.Contains(n2.logs.String(), "cannot listen on a path") {
		t.Error("no warning about the address taken")
	}
	c.start("n1")
	c.waitLeader("n1", "n2")
	if err := c.running["n1"].r.Apply(ctx(t), define("a")); err != nil {
		t.Fatal(err)
	}
	c.waitState("res=[a] status=[]", "n1", "n2")
	squat.Close()
	eventually(t, "n2 listening on its first address", func() error {
		n2.r.stream.mu.Lock()
		defer n2.r.stream.mu.Unlock()
		if n2.r.stream.listeners[0] == nil {
			return errors.New("not yet")
		}
		return nil
	})
	// The first path works again: a dial that starts there succeeds on it.
	p := c.running["n1"].r.stream.peers["n2"]
	p.pref.Store(0)
	before := p.paths[0].failures.Load()
	resp, err := c.running["n1"].r.Do(ctx(t), "n2", mustReq(http.MethodGet, "/z"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if p.paths[0].failures.Load() != before || p.pref.Load() != 0 {
		t.Errorf("first path after rebind: %d failures (before %d), preferred %d", p.paths[0].failures.Load(), before, p.pref.Load())
	}
}
