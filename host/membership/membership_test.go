package membership

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestMembersSeeEachOther(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes int
	}{
		{"two", 2},
		{"three", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := newCluster(t, tc.nodes, 2, nil)
			start(t, ms)
			var want []string
			for _, mb := range ms {
				want = append(want, mb.name)
			}
			for _, mb := range ms {
				for _, other := range ms {
					if other != mb {
						waitFor(t, mb.name+" hears "+other.name+" on every path", func() bool { return allPathsUp(mb.m, other.name) })
					}
				}
				if got := mb.m.Reachable(); !slices.Equal(got, want) {
					t.Errorf("%s: Reachable() = %v, want %v", mb.name, got, want)
				}
			}
			for _, mb := range ms {
				v := mb.m.View()
				if v.Self != mb.name || len(v.Nodes) != tc.nodes-1 {
					t.Fatalf("%s: View() = %+v", mb.name, v)
				}
				for _, n := range v.Nodes {
					if !mb.m.Up(n.Name) || n.LastHeard.IsZero() || len(n.Paths) != 2 {
						t.Errorf("%s: node %+v", mb.name, n)
					}
					for i, p := range n.Paths {
						if p.Index != i || p.Since.IsZero() || p.LastHeard.IsZero() ||
							!strings.HasPrefix(p.Local, "127.0.0."+string(rune('1'+i))) ||
							!strings.HasPrefix(p.Remote, "127.0.0."+string(rune('1'+i))) {
							t.Errorf("%s: node %s path %+v", mb.name, n.Name, p)
						}
					}
				}
				if n := mb.logs.count("COMMUNICATION TO ") + mb.logs.count("COMMUNICATIONS "); n == 0 {
					t.Errorf("%s: no RESTORE lines", mb.name)
				}
				for _, r := range append(mb.logs.records("COMMUNICATION TO "), mb.logs.records("COMMUNICATIONS ")...) {
					if strings.Contains(r.Message, "FAILED") {
						t.Errorf("%s: %q logged while nothing failed", mb.name, r.Message)
					}
				}
				if s := mb.m.Stats(); s.Sent == 0 || s.Forged+s.Replayed+s.WrongCluster+s.Mismatched != 0 {
					t.Errorf("%s: Stats() = %+v", mb.name, s)
				}
			}
		})
	}
}

func TestInitiallyDown(t *testing.T) {
	ms := newCluster(t, 2, 2, nil)
	m, err := New(ms[0].cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Up("b") || !m.Up("a") || m.Up("nobody") {
		t.Errorf("Up: a=%v b=%v nobody=%v", m.Up("a"), m.Up("b"), m.Up("nobody"))
	}
	if got := m.Reachable(); !slices.Equal(got, []string{"a"}) {
		t.Errorf("Reachable() = %v", got)
	}
	n, ok := m.View().Node("b")
	if !ok || n.Up || !n.LastHeard.IsZero() || len(n.Paths) != 2 {
		t.Fatalf("View b = %+v", n)
	}
	for _, p := range n.Paths {
		if p.Up || !p.Since.IsZero() || !p.LastHeard.IsZero() {
			t.Errorf("path %+v", p)
		}
	}
}

var (
	pathLine = regexp.MustCompile(`^COMMUNICATION TO (\S+) BY (\S+)/(\S+) (FAILED|RESTORE) AT: (\S+)$`)
	nodeLine = regexp.MustCompile(`^COMMUNICATIONS (\S+) (FAILED|RESTORE) AT: (\S+)$`)
)

func TestPathsFailAndRestore(t *testing.T) {
	var cut [2]atomic.Bool
	ms := newCluster(t, 2, 2, nil)
	a, b := ms[0], ms[1]
	a.cfg.Drop = func(local, remote string) bool {
		for i := range cut {
			if cut[i].Load() && local == a.cfg.Nodes[0].Addrs[i] && remote == b.cfg.Nodes[1].Addrs[i] {
				return true
			}
		}
		return false
	}
	start(t, ms)
	waitFor(t, "a hears b on both paths", func() bool { return allPathsUp(a.m, "b") })
	local := a.cfg.Nodes[0].Addrs
	remote := a.cfg.Nodes[1].Addrs

	// One path goes: one FAILED line for it, and b stays up.
	cut[0].Store(true)
	waitFor(t, "path 0 FAILED", func() bool { return a.logs.count(pathFailed("b", local[0], remote[0])) > 0 })
	settle(t, a.m, 3*testMisses)
	if n := a.logs.count(pathFailed("b", local[0], remote[0])); n != 1 {
		t.Errorf("%d FAILED lines for path 0, want 1", n)
	}
	if !a.m.Up("b") || a.logs.count("COMMUNICATIONS b FAILED") != 0 {
		t.Fatalf("b went down with one path left")
	}
	if n, _ := a.m.View().Node("b"); n.Paths[0].Up || !n.Paths[1].Up {
		t.Errorf("paths: %+v", n.Paths)
	}

	// The other goes too: b is gone.
	cut[1].Store(true)
	waitFor(t, "COMMUNICATIONS b FAILED", func() bool { return a.logs.count("COMMUNICATIONS b FAILED AT: ") == 1 })
	if a.m.Up("b") || !slices.Equal(a.m.Reachable(), []string{"a"}) {
		t.Errorf("b still up: Reachable() = %v", a.m.Reachable())
	}
	if n := a.logs.count(pathFailed("b", local[1], remote[1])); n != 1 {
		t.Errorf("%d FAILED lines for path 1, want 1", n)
	}
	if !b.m.Up("a") {
		t.Errorf("b lost a, but only a's side was cut")
	}

	// Healing brings both paths and the node back.
	cut[0].Store(false)
	cut[1].Store(false)
	waitFor(t, "COMMUNICATIONS b RESTORE", func() bool { return a.logs.count("COMMUNICATIONS b RESTORE AT: ") == 2 })
	waitFor(t, "both paths RESTORE", func() bool {
		return a.logs.count(pathRestored("b", local[0], remote[0])) == 2 && a.logs.count(pathRestored("b", local[1], remote[1])) == 2
	})
	if !slices.Equal(a.m.Reachable(), []string{"a", "b"}) {
		t.Errorf("Reachable() = %v", a.m.Reachable())
	}

	// Every line: exact shape, level, a local RFC 3339 time; and the
	// changes are the same lines, in the same order.
	var logged []string
	for _, r := range a.logs.records("COMMUNICATION") {
		logged = append(logged, r.Message)
		var when string
		var level slog.Level
		if g := pathLine.FindStringSubmatch(r.Message); g != nil {
			when, level = g[5], map[string]slog.Level{"FAILED": slog.LevelWarn, "RESTORE": slog.LevelInfo}[g[4]]
		} else if g := nodeLine.FindStringSubmatch(r.Message); g != nil {
			when, level = g[3], map[string]slog.Level{"FAILED": slog.LevelError, "RESTORE": slog.LevelInfo}[g[2]]
		} else {
			t.Errorf("malformed line %q", r.Message)
			continue
		}
		if r.Level != level {
			t.Errorf("%q logged at %v, want %v", r.Message, r.Level, level)
		}
		if ts, err := time.Parse(time.RFC3339, when); err != nil || ts.Format(time.RFC3339) != ts.Local().Format(time.RFC3339) {
			t.Errorf("%q: time %q is not local RFC 3339 (%v)", r.Message, when, err)
		}
	}
	var delivered []string
	for _, c := range a.changes.all() {
		delivered = append(delivered, c.Message)
		wantKind := map[string]ChangeKind{
			"COMMUNICATION TO b BY " + c.Local + "/" + c.Remote + " FAILED":  PathFailed,
			"COMMUNICATION TO b BY " + c.Local + "/" + c.Remote + " RESTORE": PathRestored,
			"COMMUNICATIONS b FAILED":  NodeFailed,
			"COMMUNICATIONS b RESTORE": NodeRestored,
		}[c.Message[:strings.Index(c.Message, " AT: ")]]
		if c.Kind != wantKind || c.Node != "b" || c.At.IsZero() {
			t.Errorf("change %+v: kind %v", c, wantKind)
		}
	}
	if !slices.Equal(logged, delivered) {
		t.Errorf("logged:\n%s\ndelivered:\n%s", strings.Join(logged, "\n"), strings.Join(delivered, "\n"))
	}
	// Path 1 failed before the node did, the node came back with its first path.
	i := slices.Index(delivered, a.logs.records("COMMUNICATIONS b FAILED")[0].Message)
	if i < 1 || !strings.HasPrefix(delivered[i-1], pathFailed("b", local[1], remote[1])) {
		t.Errorf("node FAILED not right after its last path's FAILED: %q", delivered)
	}
}

func TestForeignKey(t *testing.T) {
	ms := newCluster(t, 3, 2, func(i int, c *Config) {
		if i == 2 {
			c.Key = []byte("another key, also at least 32 bytes long")
		}
	})
	start(t, ms)
	a, b := ms[0], ms[1]
	waitFor(t, "a and b up", func() bool { return a.m.Up("b") && b.m.Up("a") })
	waitFor(t, "forged heartbeats from c", func() bool { return a.m.Stats().Forged >= 20 && b.m.Stats().Forged >= 20 })
	for _, mb := range ms[:2] {
		if mb.m.Up("c") || slices.Contains(mb.m.Reachable(), "c") {
			t.Errorf("%s: c is up", mb.name)
		}
		if n := mb.logs.count("COMMUNICATION TO c") + mb.logs.count("COMMUNICATIONS c"); n != 0 {
			t.Errorf("%s: %d communication lines about c", mb.name, n)
		}
		if n := mb.logs.count("heartbeat claiming to be from c"); n != 1 {
			t.Errorf("%s: %d authentication warnings about c, want 1", mb.name, n)
		}
	}
	if c := ms[2].m; c.Up("a") || c.Up("b") || c.Stats().Received != 0 {
		t.Errorf("c accepted heartbeats: %+v", c.Stats())
	}
}

// craft builds a heartbeat the way a peer of m would.
func craft(t *testing.T, m *Membership, p packet) []byte {
	t.Helper()
	b, err := p.marshal(nil, m.macKey)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDropRules(t *testing.T) {
	ms := newCluster(t, 2, 2, nil)
	a := ms[0]
	start(t, ms[:1]) // b never runs: every heartbeat "from b" is ours
	m := a.m
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	path0 := net.UDPAddrFromAddrPort(m.socks[0].addr.ap)
	good := packet{cluster: "test", from: "b", to: "a", path: 0, boot: 100, seq: 10, hash: "hash-1"}
	with := func(f func(p *packet)) packet { p := good; f(&p); return p }

	steps := []struct {
		name string
		pkt  []byte
		want Stats
	}{
		{"genuine", craft(t, m, good), Stats{Received: 1}},
		{"same packet again", craft(t, m, good), Stats{Replayed: 1}},
		{"older seq", craft(t, m, with(func(p *packet) { p.seq = 9 })), Stats{Replayed: 1}},
		{"newer seq", craft(t, m, with(func(p *packet) { p.seq = 11 })), Stats{Received: 1}},
		{"older boot", craft(t, m, with(func(p *packet) { p.boot, p.seq = 99, 1000 })), Stats{Replayed: 1}},
		{"newer boot resets seq", craft(t, m, with(func(p *packet) { p.boot, p.seq = 101, 1 })), Stats{Received: 1}},
		{"previous boot now stale", craft(t, m, with(func(p *packet) { p.seq = 12 })), Stats{Replayed: 1}},
		{"other cluster", craft(t, m, with(func(p *packet) { p.cluster = "prod"; p.boot, p.seq = 101, 50 })), Stats{WrongCluster: 1}},
		{"to another node", craft(t, m, with(func(p *packet) { p.to = "b"; p.boot, p.seq = 101, 51 })), Stats{Forged: 1}},
		{"from a stranger", craft(t, m, with(func(p *packet) { p.from = "z"; p.boot, p.seq = 101, 52 })), Stats{Forged: 1}},
		{"from self", craft(t, m, with(func(p *packet) { p.from = "a"; p.boot, p.seq = 101, 53 })), Stats{Forged: 1}},
		{"claims path 1 on path 0", craft(t, m, with(func(p *packet) { p.path = 1; p.boot, p.seq = 101, 54 })), Stats{Forged: 1}},
		{"no such path", craft(t, m, with(func(p *packet) { p.path = 7; p.boot, p.seq = 101, 55 })), Stats{Forged: 1}},
		{"bad mac", func() []byte {
			b := craft(t, m, with(func(p *packet) { p.boot, p.seq = 101, 56 }))
			b[len(b)-1] ^= 1
			return b
		}(), Stats{Forged: 1}},
		{"truncated", craft(t, m, with(func(p *packet) { p.boot, p.seq = 101, 57 }))[:40], Stats{Forged: 1}},
		{"empty", []byte{}, Stats{Forged: 1}},
		{"oversize", make([]byte, maxPacket+100), Stats{Forged: 1}},
		{"still fine after all that", craft(t, m, with(func(p *packet) { p.boot, p.seq = 101, 58 })), Stats{Received: 1}},
	}
	counts := func() Stats { s := m.Stats(); s.Sent = 0; return s }
	before := counts()
	for _, s := range steps {
		if _, err := conn.WriteToUDP(s.pkt, path0); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		want := Stats{
			Received:     before.Received + s.want.Received,
			Forged:       before.Forged + s.want.Forged,
			Replayed:     before.Replayed + s.want.Replayed,
			WrongCluster: before.WrongCluster + s.want.WrongCluster,
			Mismatched:   before.Mismatched + s.want.Mismatched,
		}
		var got Stats
		waitFor(t, s.name+" counted", func() bool { got = counts(); return got != before })
		if got != want {
			t.Fatalf("%s: Stats() = %+v, want %+v", s.name, got, want)
		}
		before = got
	}
	if !m.Up("b") {
		t.Errorf("b not up after genuine heartbeats")
	}
	if n := a.logs.count(`heartbeat of cluster "prod"`); n != 1 {
		t.Errorf("%d wrong-cluster warnings, want 1", n)
	}
}

func TestConfigMismatch(t *testing.T) {
	ms := newCluster(t, 2, 2, func(i int, c *Config) {
		if i == 1 {
			c.ConfigHash = "hash-2"
		}
	})
	start(t, ms)
	a, b := ms[0], ms[1]
	waitFor(t, "mismatched heartbeats both ways", func() bool { return a.m.Stats().Mismatched >= 30 && b.m.Stats().Mismatched >= 30 })
	for _, x := range []struct {
		mb          *member
		peer        string
		theirs, our string
	}{{a, "b", "hash-2", "hash-1"}, {b, "a", "hash-1", "hash-2"}} {
		msg := "node " + x.peer + "'s cluster file differs from ours (" + x.theirs + " vs " + x.our + "): ignoring it until they match"
		waitFor(t, "mismatch logged", func() bool { return x.mb.logs.count("node ") > 0 })
		recs := x.mb.logs.records("node ")
		if len(recs) != 1 || recs[0].Message != msg || recs[0].Level != slog.LevelError {
			t.Errorf("%s: logged %+v, want one ERROR %q", x.mb.name, recs, msg)
		}
		var got []Change
		for _, c := range x.mb.changes.all() {
			if c.Kind == ConfigMismatch {
				got = append(got, c)
			}
		}
		if len(got) != 1 || got[0].Node != x.peer || got[0].Message != msg || got[0].Local == "" || got[0].Remote == "" {
			t.Errorf("%s: ConfigMismatch changes %+v", x.mb.name, got)
		}
		if x.mb.m.Up(x.peer) || x.mb.m.Stats().Received != 0 {
			t.Errorf("%s: %s is up despite another cluster file", x.mb.name, x.peer)
		}
	}
}

func TestGarbage(t *testing.T) {
	ms := newCluster(t, 2, 1, nil)
	start(t, ms)
	a := ms[0]
	waitFor(t, "a hears b", func() bool { return a.m.Up("b") })
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	to := net.UDPAddrFromAddrPort(a.m.socks[0].addr.ap)
	rng := rand.New(rand.NewPCG(1, 2))
	valid := craft(t, a.m, packet{cluster: "test", from: "b", to: "a", boot: 1, seq: 1, hash: "hash-1"})
	sent := uint64(0)
	for batch := 0; batch < 10; batch++ {
		for range 50 {
			var b []byte
			if rng.IntN(2) == 0 {
				b = make([]byte, rng.IntN(maxPacket+200))
				for i := range b {
					b[i] = byte(rng.Uint32())
				}
			} else { // a mangled real packet: mostly-valid structure
				b = slices.Clone(valid)
				for range 1 + rng.IntN(4) {
					b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
				}
				b = b[:rng.IntN(len(b)+1)]
			}
			if _, err := conn.WriteToUDP(b, to); err != nil {
				t.Fatal(err)
			}
			sent++
		}
		waitFor(t, "garbage counted", func() bool {
			s := a.m.Stats()
			return s.Forged+s.WrongCluster+s.Replayed == sent
		})
	}
	if s := a.m.Stats(); s.Forged == 0 {
		t.Errorf("Stats() = %+v", s)
	}
	// Run is alive and well.
	settle(t, a.m, 5)
	if !a.m.Up("b") {
		t.Errorf("b down after garbage")
	}
}

func TestPayload(t *testing.T) {
	type got struct{ from, payload string }
	var mu sync.Mutex
	seen := map[string][]got{}
	ms := newCluster(t, 3, 2, func(i int, c *Config) {
		self := c.Self
		c.Payload = func(to string) []byte { return []byte("from " + self + " to " + to) }
		if i == 2 {
			c.Payload = func(string) []byte { return make([]byte, MaxPayload+1) }
		}
		c.OnPayload = func(from string, payload []byte, received time.Time) {
			if received.IsZero() {
				t.Errorf("zero received time")
			}
			mu.Lock()
			defer mu.Unlock()
			seen[self] = append(seen[self], got{from, string(payload)})
		}
	})
	start(t, ms)
	waitFor(t, "payloads from every peer", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, mb := range ms {
			from := map[string]bool{}
			for _, g := range seen[mb.name] {
				from[g.from] = true
			}
			if len(from) != 2 {
				return false
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	for self, gs := range seen {
		for _, g := range gs {
			want := "from " + g.from + " to " + self
			if g.from == "c" {
				want = "" // too big: heartbeats go without it
			}
			if g.payload != want {
				t.Errorf("%s got %q from %s, want %q", self, g.payload, g.from, want)
			}
		}
	}
	if n := ms[2].logs.count("heartbeat payload to a is 1025 bytes"); n != 1 {
		t.Errorf("%d oversize-payload errors, want 1", n)
	}
}

func TestNewRejects(t *testing.T) {
	addrs := freeAddrs(t, 2, 2)
	good := func() Config {
		return Config{
			Cluster: "test", Self: "a", Key: testKey, Interval: time.Second, Misses: 3,
			Nodes: []NodeAddrs{{"a", addrs[0]}, {"b", addrs[1]}},
		}
	}
	for _, tc := range []struct {
		name string
		edit func(c *Config)
		want string
	}{
		{"no cluster", func(c *Config) { c.Cluster = "" }, "cluster name is empty"},
		{"short key", func(c *Config) { c.Key = c.Key[:31] }, "cluster key is 31 bytes"},
		{"zero interval", func(c *Config) { c.Interval = 0 }, "interval"},
		{"zero misses", func(c *Config) { c.Misses = 0 }, "misses"},
		{"self unknown", func(c *Config) { c.Self = "x" }, `self "x" is not one of`},
		{"duplicate node", func(c *Config) { c.Nodes[1].Name = "a" }, `node "a" is listed twice`},
		{"unnamed node", func(c *Config) { c.Nodes[1].Name = "" }, "node 2 has no name"},
		{"duplicate address", func(c *Config) { c.Nodes[1].Addrs = []string{addrs[0][1]} }, "is already node \"a\" address 2"},
		{"port 0", func(c *Config) { c.Nodes[1].Addrs = []string{"127.0.0.1:0"} }, `node "b" address 1 "127.0.0.1:0": port 0`},
		{"no port", func(c *Config) { c.Nodes[1].Addrs = []string{"127.0.0.1"} }, `node "b" address 1 "127.0.0.1"`},
		{"self without address", func(c *Config) { c.Nodes[0].Addrs = nil }, `self "a" has no address`},
		{"peer without address", func(c *Config) { c.Nodes[1].Addrs = nil }, `node "b" has no address`},
		{"long hash", func(c *Config) { c.ConfigHash = strings.Repeat("h", 256) }, "config hash is longer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.edit(&c)
			m, err := New(c)
			if err == nil {
				m.Close()
				t.Fatalf("New succeeded, want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want it to contain %q", err, tc.want)
			}
		})
	}
	m, err := New(good())
	if err != nil {
		t.Fatalf("good config: %v", err)
	}
	m.Close()
}

func TestBindErrorNamesAddress(t *testing.T) {
	ms := newCluster(t, 2, 2, nil)
	busy, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(mustResolve(t, ms[0].cfg.Nodes[0].Addrs[1])))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, err = New(ms[0].cfg)
	if err == nil || !strings.Contains(err.Error(), "bind "+ms[0].cfg.Nodes[0].Addrs[1]) {
		t.Fatalf("New: %v, want a bind error naming %s", err, ms[0].cfg.Nodes[0].Addrs[1])
	}
	// The first socket was released: New works once the address is free.
	busy.Close()
	m, err := New(ms[0].cfg)
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
}

func mustResolve(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	a, err := resolveAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a.ap
}

func TestRunLifecycle(t *testing.T) {
	ms := newCluster(t, 2, 1, nil)
	m, err := New(ms[0].cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	waitFor(t, "a heartbeat sent", func() bool { return m.Stats().Sent > 0 })
	if err := m.Run(ctx); err == nil {
		t.Errorf("second Run succeeded")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	// The sockets are released.
	m2, err := New(ms[0].cfg)
	if err != nil {
		t.Fatalf("New after Run returned: %v", err)
	}
	// Close stops a running Run, and Run after Close fails.
	done2 := make(chan error, 1)
	go func() { done2 <- m2.Run(context.Background()) }()
	waitFor(t, "a heartbeat sent", func() bool { return m2.Stats().Sent > 0 })
	m2.Close()
	if err := <-done2; err != nil {
		t.Errorf("Run: %v", err)
	}
	if err := m2.Run(context.Background()); err == nil {
		t.Errorf("Run after Close succeeded")
	}
}
