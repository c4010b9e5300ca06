package replica

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// testStream returns the stream layer of node name in a two-node
// configuration, not listening.
func testStream(t *testing.T, name string, key []byte, logs io.Writer) *stream {
	cfg := &Config{
		Cluster: "test", Self: name, Key: key, ConfigHash: "sha256:00",
		Nodes: []Node{
			{Name: "a", Addrs: []string{"127.0.0.1:1"}},
			{Name: "b", Addrs: []string{"127.0.0.1:2"}},
		},
		ElectionTimeout: time.Second,
	}
	return newStream(cfg, slog.New(slog.NewTextHandler(logs, nil)))
}

// recordConn records what is written to it.
type recordConn struct {
	net.Conn
	w bytes.Buffer
}

func (c *recordConn) Write(p []byte) (int, error) {
	c.w.Write(p)
	return c.Conn.Write(p)
}

// TestHandshakeReplay: what a dialer sent in a successful handshake,
// replayed on a new connection, is refused: the listener's nonce is new.
func TestHandshakeReplay(t *testing.T) {
	key := randKey()
	var logs syncBuf
	a, b := testStream(t, "a", key, &logs), testStream(t, "b", key, &logs)

	// A real handshake, a → b, recording a's bytes.
	ca, cb := net.Pipe()
	rec := &recordConn{Conn: ca}
	type result struct {
		peer string
		kind byte
		err  error
	}
	res := make(chan result, 1)
	go func() {
		p, k, err := b.accept(cb)
		res <- result{p, k, err}
	}()
	c := &conn{Conn: rec, s: a}
	if err := a.handshake(c, a.peers["b"], kindHTTP); err != nil {
		t.Fatal(err)
	}
	if r := <-res; r.err != nil || r.peer != "a" || r.kind != kindHTTP {
		t.Fatalf("accept: %+v", r)
	}
	ca.Close()
	sent := rec.w.Bytes()

	// Replay: b must refuse it, and count it.
	ca, cb = net.Pipe()
	defer ca.Close()
	go func() {
		p, k, err := b.accept(cb)
		res <- result{p, k, err}
		cb.Close()
	}()
	go func() {
		ca.Write(sent) // b stops reading at the bad proof
	}()
	io.Copy(io.Discard, ca)
	r := <-res
	if r.err == nil || b.authFailures.Load() != 1 {
		t.Errorf("replayed handshake: %+v, %d failures", r, b.authFailures.Load())
	}
	if !strings.Contains(logs.String(), "node a did not prove the cluster key") {
		t.Errorf("log: %s", logs.String())
	}
}

func TestDialTriesEveryPath(t *testing.T) {
	key := randKey()
	var logs syncBuf
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := freeAddr(t, "127.0.0.1")
	nodes := []Node{
		{Name: "a", Addrs: []string{"127.0.0.1:1"}},
		{Name: "b", Addrs: []string{dead, ln.Addr().String()}},
	}
	mk := func(name string) *stream {
		return newStream(&Config{Cluster: "test", Self: name, Key: key, ConfigHash: "sha256:00", Nodes: nodes, ElectionTimeout: time.Second},
			slog.New(slog.NewTextHandler(&logs, nil)))
	}
	a, b := mk("a"), mk("b")
	b.listeners = []net.Listener{nil, ln}
	b.wg.Go(func() { b.acceptLoop(ln, 1) })
	defer func() { b.Close(); b.wait() }()
	defer a.Close()

	for range 2 {
		go func() {
			if c, err := b.Accept(); err == nil {
				c.Close()
			}
		}()
		c, err := a.dialContext(context.Background(), "b", kindRaft)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	p := a.peers["b"]
	if p.paths[0].dials.Load() != 1 || p.paths[0].failures.Load() != 1 || p.paths[1].dials.Load() != 2 || p.pref.Load() != 1 {
		t.Errorf("dials %d/%d failures %d/%d pref %d: the dead path should be tried once",
			p.paths[0].dials.Load(), p.paths[1].dials.Load(), p.paths[0].failures.Load(), p.paths[1].failures.Load(), p.pref.Load())
	}
	if _, err := a.dialContext(context.Background(), "c", kindRaft); err == nil {
		t.Error("dial to an unknown node succeeded")
	}
}

func TestSlogLevel(t *testing.T) {
	for _, tc := range []struct {
		level hclog.Level
		msg   string
		want  slog.Level
	}{
		{hclog.Info, "entering leader state", slog.LevelInfo},
		{hclog.Info, "creating new snapshot", slog.LevelDebug},
		{hclog.Warn, "heartbeat timeout reached", slog.LevelWarn},
		{hclog.Error, "failed to appendEntries", slog.LevelError},
		{hclog.Trace, "x", levelTrace},
	} {
		if got := slogLevel(tc.level, tc.msg); got != tc.want {
			t.Errorf("%v %q: %v, want %v", tc.level, tc.msg, got, tc.want)
		}
	}
	var buf syncBuf
	l := newHclog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))).Named("raft").With("k", 1)
	l.Info("pipelining replication", "peer", "n2", "dangling")
	if got := buf.String(); !strings.Contains(got, "level=DEBUG") || !strings.Contains(got, "raft_logger=raft k=1 peer=n2 EXTRA_VALUE_AT_END=dangling") {
		t.Errorf("log line: %s", got)
	}
}
