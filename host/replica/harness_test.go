package replica

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ark-ha/ark/host/model"
	"github.com/ark-ha/ark/host/store"
)

// Test timings: lower ones flap on a 2-core machine under -race.
const (
	testHeartbeat = 300 * time.Millisecond
	testElection  = 300 * time.Millisecond
	testLease     = 150 * time.Millisecond
	// wait bounds every polling wait: generous, tests never assert speed.
	wait = 30 * time.Second
)

// syncBuf is a log sink shared by goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// applied is one OnApply call.
type applied struct {
	index uint64
	op    store.Op
}

// recorder keeps OnApply's calls.
type recorder struct {
	mu      sync.Mutex
	entries []applied
}

func (r *recorder) onApply(index uint64, op store.Op) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, applied{index, op})
}

func (r *recorder) list() []applied {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.entries)
}

// tags summarizes the recorded ops: the tags defined, the statuses set.
func (r *recorder) tags() []string {
	var out []string
	for _, e := range r.list() {
		out = append(out, opSummary(e.op))
	}
	return out
}

func opSummary(op store.Op) string {
	var parts []string
	for _, d := range op.Define {
		parts = append(parts, "define "+d.Tag)
	}
	for _, tag := range slices.Sorted(maps.Keys(op.Status)) {
		parts = append(parts, "status "+tag)
	}
	if len(parts) == 0 {
		return "empty"
	}
	return strings.Join(parts, ",")
}

// tnode is one running (or stopped) replica of a test cluster.
type tnode struct {
	cfg  Config
	r    *Replica
	rec  *recorder
	logs *syncBuf
}

// cluster is a test cluster on loopback: every node has two paths, on
// 127.0.0.1 and 127.0.0.2.
type cluster struct {
	t       testing.TB
	name    string
	key     []byte
	hash    string
	nodes   []Node
	dirs    map[string]string
	running map[string]*tnode
	all     []*tnode // every replica started, for logs on failure
}

func newCluster(t testing.TB, names ...string) *cluster {
	c := &cluster{
		t:       t,
		name:    "test",
		key:     randKey(),
		hash:    "sha256:" + strings.Repeat("ab", 32),
		dirs:    map[string]string{},
		running: map[string]*tnode{},
	}
	base := t.TempDir()
	for _, n := range names {
		c.nodes = append(c.nodes, Node{Name: n, Addrs: []string{freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2")}})
		c.dirs[n] = filepath.Join(base, n)
	}
	t.Cleanup(func() {
		for _, n := range c.running {
			n.r.Close()
		}
		if t.Failed() || os.Getenv("REPLICA_TEST_LOGS") != "" {
			for _, n := range c.all {
				l := n.logs.String()
				if len(l) > 20000 {
					l = "...\n" + l[len(l)-20000:]
				}
				t.Logf("--- log of %s:\n%s", n.cfg.Self, l)
			}
		}
	})
	return c
}

func randKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// freeAddr returns host:port with a port free at the time of the call.
func freeAddr(t testing.TB, host string) string {
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// config returns the configuration of node name.
func (c *cluster) config(name string) Config {
	return Config{
		Cluster:            c.name,
		Self:               name,
		Dir:                c.dirs[name],
		Nodes:              c.nodes,
		Key:                c.key,
		ConfigHash:         c.hash,
		HeartbeatTimeout:   testHeartbeat,
		ElectionTimeout:    testElection,
		LeaderLeaseTimeout: testLease,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s at %s from %s", r.Method, r.URL.Path, name, Peer(r))
		}),
	}
}

// start opens node name with its default configuration.
func (c *cluster) start(name string) *tnode {
	return c.startWith(c.config(name))
}

// startWith opens a replica with cfg, its log and OnApply recorded.
func (c *cluster) startWith(cfg Config) *tnode {
	c.t.Helper()
	n := &tnode{cfg: cfg, rec: &recorder{}, logs: &syncBuf{}}
	n.cfg.Logger = slog.New(slog.NewTextHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n.cfg.OnApply = n.rec.onApply
	r, err := Open(n.cfg)
	if err != nil {
		c.t.Fatalf("open %s: %v", cfg.Self, err)
	}
	n.r = r
	c.running[cfg.Self] = n
	c.all = append(c.all, n)
	return n
}

// stop closes node name.
func (c *cluster) stop(name string) {
	c.t.Helper()
	n := c.running[name]
	delete(c.running, name)
	if err := n.r.Close(); err != nil {
		c.t.Errorf("close %s: %v", name, err)
	}
}

// eventually polls f until it returns nil, failing the test after wait.
func eventually(t testing.TB, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %v after %v", what, err, wait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLeader waits until one of the named running nodes is the leader and
// all of them agree; it returns the leader's name.
func (c *cluster) waitLeader(names ...string) string {
	c.t.Helper()
	var leader string
	eventually(c.t, "a leader", func() error {
		leader = ""
		for _, n := range names {
			if c.running[n].r.IsLeader() {
				leader = n
			}
		}
		if leader == "" {
			return fmt.Errorf("no leader among %v", names)
		}
		for _, n := range names {
			if l := c.running[n].r.Leader(); l != leader {
				return fmt.Errorf("%s sees leader %q, not %q", n, l, leader)
			}
		}
		return nil
	})
	return leader
}

// ctx returns a context bounded by wait.
func ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

func res(tag string) *model.Resource {
	return &model.Resource{Tag: tag, Type: "generic", Params: map[string]string{"script": "/opt/" + tag}}
}

func define(tags ...string) store.Op {
	var op store.Op
	for _, tag := range tags {
		op.Define = append(op.Define, res(tag))
	}
	return op
}

func status(tag string, s model.State) store.Op {
	return store.Op{Status: map[string]model.Status{tag: {Target: model.Online, State: s, Node: "n1"}}}
}

// summary is a compact picture of d.
func summary(d store.Data) string {
	var st []string
	for _, tag := range slices.Sorted(maps.Keys(d.Status)) {
		st = append(st, tag+":"+string(d.Status[tag].State))
	}
	rs := slices.Sorted(maps.Keys(d.Resources))
	return fmt.Sprintf("res=%v status=%v", rs, st)
}

// waitState waits until every named running node reads want.
func (c *cluster) waitState(want string, names ...string) {
	c.t.Helper()
	eventually(c.t, "state "+want, func() error {
		for _, n := range names {
			if got := summary(c.running[n].r.Read()); got != want {
				return fmt.Errorf("%s reads %s", n, got)
			}
		}
		return nil
	})
}
