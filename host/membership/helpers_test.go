package membership

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testInterval = 20 * time.Millisecond
	testMisses   = 10 // generous: a loaded -race run must not flap paths
	waitLimit    = 20 * time.Second
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// record is one captured log record.
type record struct {
	Level   slog.Level
	Message string
}

// capture is a slog.Handler that keeps every record.
type capture struct {
	mu   *sync.Mutex
	recs *[]record
}

func newCapture() *capture { return &capture{mu: new(sync.Mutex), recs: new([]record)} }

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }
func (c *capture) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *capture) WithGroup(string) slog.Handler            { return c }
func (c *capture) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	*c.recs = append(*c.recs, record{r.Level, r.Message})
	return nil
}

// records returns the records so far whose message starts with prefix.
func (c *capture) records(prefix string) []record {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []record
	for _, r := range *c.recs {
		if strings.HasPrefix(r.Message, prefix) {
			out = append(out, r)
		}
	}
	return out
}

func (c *capture) count(prefix string) int { return len(c.records(prefix)) }

// changes collects what OnChange delivers.
type changes struct {
	mu   sync.Mutex
	list []Change
}

func (c *changes) add(ch Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list = append(c.list, ch)
}

func (c *changes) all() []Change {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.list)
}

// member is one node of a test cluster.
type member struct {
	name    string
	cfg     Config
	m       *Membership
	logs    *capture
	changes *changes
	done    chan error
}

// freeAddrs returns n free UDP addresses per path IP: addrs[node][path],
// path i on 127.0.0.(i+1). All are held open until all are chosen, so they
// are distinct.
func freeAddrs(t *testing.T, nodes, paths int) [][]string {
	t.Helper()
	var held []*net.UDPConn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	out := make([][]string, nodes)
	for n := range nodes {
		for p := range paths {
			c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, byte(p+1))})
			if err != nil {
				t.Fatalf("picking a free port: %v", err)
			}
			held = append(held, c)
			out[n] = append(out[n], c.LocalAddr().String())
		}
	}
	return out
}

// newCluster builds (but does not start) a cluster of nodes a, b, c, ...
// with the given number of paths each; tweak may change a member's config.
func newCluster(t *testing.T, nodes, paths int, tweak func(i int, c *Config)) []*member {
	t.Helper()
	addrs := freeAddrs(t, nodes, paths)
	var all []NodeAddrs
	for i := range nodes {
		all = append(all, NodeAddrs{Name: string(rune('a' + i)), Addrs: addrs[i]})
	}
	var ms []*member
	for i := range nodes {
		mb := &member{name: all[i].Name, logs: newCapture(), changes: &changes{}}
		mb.cfg = Config{
			Cluster:    "test",
			Self:       mb.name,
			Key:        testKey,
			ConfigHash: "hash-1",
			Nodes:      all,
			Interval:   testInterval,
			Misses:     testMisses,
			Logger:     slog.New(mb.logs),
			OnChange:   mb.changes.add,
		}
		if tweak != nil {
			tweak(i, &mb.cfg)
		}
		ms = append(ms, mb)
	}
	return ms
}

// start creates and runs every member; they stop when the test ends.
func start(t *testing.T, ms []*member) {
	t.Helper()
	for _, mb := range ms {
		m, err := New(mb.cfg)
		if err != nil {
			t.Fatalf("New(%s): %v", mb.name, err)
		}
		mb.m = m
	}
	ctx, cancel := context.WithCancel(context.Background())
	for _, mb := range ms {
		mb.done = make(chan error, 1)
		go func() { mb.done <- mb.m.Run(ctx) }()
	}
	t.Cleanup(func() {
		cancel()
		for _, mb := range ms {
			select {
			case err := <-mb.done:
				if err != nil {
					t.Errorf("Run(%s): %v", mb.name, err)
				}
			case <-time.After(waitLimit):
				t.Errorf("Run(%s) did not return after cancel", mb.name)
			}
		}
	})
}

// waitFor polls cond until it holds, failing the test after waitLimit.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// settle waits until m has accepted n more heartbeats: time enough for
// anything pending to happen, measured in heartbeats, not in seconds.
func settle(t *testing.T, m *Membership, n uint64) {
	t.Helper()
	target := m.Stats().Received + n
	waitFor(t, fmt.Sprintf("%d more heartbeats", n), func() bool { return m.Stats().Received >= target })
}

// allPathsUp reports whether every path from m to node is up.
func allPathsUp(m *Membership, node string) bool {
	n, ok := m.View().Node(node)
	if !ok || !n.Up {
		return false
	}
	for _, p := range n.Paths {
		if !p.Up {
			return false
		}
	}
	return true
}

func pathFailed(node, local, remote string) string {
	return fmt.Sprintf("COMMUNICATION TO %s BY %s/%s FAILED AT: ", node, local, remote)
}

func pathRestored(node, local, remote string) string {
	return fmt.Sprintf("COMMUNICATION TO %s BY %s/%s RESTORE AT: ", node, local, remote)
}
