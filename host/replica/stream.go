package replica

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

const (
	// handshakeTimeout bounds an inbound handshake.
	handshakeTimeout = 5 * time.Second
	// defaultDialTimeout bounds a dial whose context has no deadline.
	defaultDialTimeout = 10 * time.Second
	// logEvery is how often one kind of refusal of one node is logged.
	logEvery = time.Minute
)

// peer is another node (or this one) as the stream layer dials it.
type peer struct {
	name  string
	addrs []string
	paths []*pathCounters
	pref  atomic.Int32 // the path to try first: the one that last worked
}

type pathCounters struct {
	dials, failures atomic.Uint64
}

// stream is the raft.StreamLayer of the cluster transport: it listens on
// every address of this node, authenticates every connection both ways and
// routes it by its kind byte to raft (Accept) or to the HTTP server (the
// in-memory listener httpLn).
type stream struct {
	cluster, self, hash string
	key                 []byte
	log                 *slog.Logger
	peers               map[string]*peer
	rebindEvery         time.Duration

	raftCh chan net.Conn
	httpLn *memListener
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup

	mu        sync.Mutex
	listeners []net.Listener // by path of self; nil while not bound
	conns     map[*conn]struct{}
	logged    map[string]time.Time

	authFailures, mismatched atomic.Uint64
}

var _ raft.StreamLayer = (*stream)(nil)

func newStream(cfg *Config, log *slog.Logger) *stream {
	s := &stream{
		cluster:     cfg.Cluster,
		self:        cfg.Self,
		hash:        cfg.ConfigHash,
		key:         cfg.Key,
		log:         log,
		peers:       map[string]*peer{},
		rebindEvery: cfg.ElectionTimeout * 4,
		raftCh:      make(chan net.Conn),
		httpLn:      newMemListener(cfg.Self),
		done:        make(chan struct{}),
		conns:       map[*conn]struct{}{},
		logged:      map[string]time.Time{},
	}
	for _, n := range cfg.Nodes {
		p := &peer{name: n.Name, addrs: n.Addrs}
		for range n.Addrs {
			p.paths = append(p.paths, &pathCounters{})
		}
		s.peers[n.Name] = p
	}
	return s
}

// listen binds every address of this node. An address that cannot be
// bound (its interface is down, say) is retried in the background; Open
// fails only when none can be bound.
func (s *stream) listen() error {
	self := s.peers[s.self]
	s.listeners = make([]net.Listener, len(self.addrs))
	errs := make([]error, len(self.addrs))
	bound := 0
	for i, addr := range self.addrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			errs[i] = err
			continue
		}
		bound++
		s.listeners[i] = ln
		s.wg.Go(func() { s.acceptLoop(ln, i) })
	}
	if bound == 0 {
		return fmt.Errorf("listen on no address of %s: %w", s.self, errors.Join(errs...))
	}
	for i, err := range errs {
		if err != nil {
			s.log.Warn("cannot listen on a path; retrying in the background", "addr", self.addrs[i], "err", err)
			s.wg.Go(func() { s.rebind(i) })
		}
	}
	return nil
}

// rebind retries binding path i of this node until it works or the
// stream is closed.
func (s *stream) rebind(i int) {
	addr := s.peers[s.self].addrs[i]
	t := time.NewTicker(s.rebindEvery)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		s.mu.Lock()
		select {
		case <-s.done:
			s.mu.Unlock()
			ln.Close()
			return
		default:
		}
		s.listeners[i] = ln
		s.mu.Unlock()
		s.log.Info("listening on a path again", "addr", addr)
		s.acceptLoop(ln, i)
		return
	}
}

func (s *stream) acceptLoop(ln net.Listener, path int) {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "addr", ln.Addr(), "err", err)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.wg.Go(func() { s.serveConn(c) })
	}
}

// serveConn runs the listener's side of the handshake on c and hands it to
// raft or to the HTTP server.
func (s *stream) serveConn(raw net.Conn) {
	c := s.track(raw, "", nil, 0)
	if c == nil {
		return
	}
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	peerName, kind, err := s.accept(c)
	if err != nil {
		s.log.Debug("inbound handshake failed", "remote", raw.RemoteAddr(), "err", err)
		c.Close()
		return
	}
	c.SetDeadline(time.Time{})
	c.peer = peerName
	switch kind {
	case kindRaft:
		select {
		case s.raftCh <- c:
		case <-s.done:
			c.Close()
		}
	case kindHTTP:
		if !s.httpLn.deliver(c) {
			c.Close()
		}
	default:
		s.log.Debug("inbound connection of unknown kind", "node", peerName, "kind", kind)
		c.Close()
	}
}

// accept is the listener's side of the handshake; it returns the dialer's
// name and the stream's kind.
func (s *stream) accept(c net.Conn) (string, byte, error) {
	f, err := readFields(c, 6)
	if err != nil {
		return "", 0, err
	}
	if string(f[0]) != magic {
		s.authFailures.Add(1)
		return "", 0, fmt.Errorf("not an ark replica handshake")
	}
	t := transcript{
		cluster: s.cluster, dialer: string(f[2]), listener: s.self,
		dialerHash: string(f[4]), listenerHash: s.hash,
		dialerNonce: f[5], listenNonce: nonce(),
	}
	verdict := verdictOK
	switch cluster, to := string(f[1]), string(f[3]); {
	case cluster != s.cluster:
		verdict = fmt.Sprintf("this is cluster %q, not %q", s.cluster, cluster)
	case to != s.self:
		verdict = fmt.Sprintf("this is node %q, not %q", s.self, to)
	case s.peers[t.dialer] == nil:
		verdict = fmt.Sprintf("node %q is not in cluster %q", t.dialer, s.cluster)
	case len(t.dialerNonce) != nonceSize:
		verdict = "bad nonce"
	}
	if verdict != verdictOK {
		s.authFailures.Add(1)
		s.logLimited("refuse:"+t.dialer+verdict, slog.LevelWarn, "refusing a connection",
			"remote", c.RemoteAddr(), "node", t.dialer, "reason", verdict)
		writeFields(c, []byte(verdict), nil, nil, nil)
		return "", 0, fmt.Errorf("%w: %s", errRefused, verdict)
	}
	if err := writeFields(c, []byte(verdict), t.listenNonce, []byte(s.hash), t.mac(s.key, roleListener)); err != nil {
		return "", 0, err
	}
	g, err := readFields(c, 1)
	if err != nil {
		return "", 0, err
	}
	status := statusOK
	switch {
	case !hmac.Equal(g[0], t.mac(s.key, roleDialer)):
		status = statusBadKey
		s.authFailures.Add(1)
		s.logLimited("badkey:"+t.dialer, slog.LevelError,
			fmt.Sprintf("node %s did not prove the cluster key: refusing it", t.dialer), "remote", c.RemoteAddr())
	case t.dialerHash != s.hash:
		status = statusMismatch
		s.mismatched.Add(1)
		s.logMismatch(t.dialer, t.dialerHash)
	}
	if err := writeFields(c, []byte(status)); err != nil || status != statusOK {
		if err == nil {
			err = errors.New(status)
		}
		return "", 0, err
	}
	var kind [1]byte
	if _, err := io.ReadFull(c, kind[:]); err != nil {
		return "", 0, err
	}
	return t.dialer, kind[0], nil
}

// dialContext connects to node for a stream of kind, trying its paths
// from the one that last worked, each in turn when one fails; each
// attempt gets an equal share of the time left.
func (s *stream) dialContext(ctx context.Context, node string, kind byte) (*conn, error) {
	p := s.peers[node]
	if p == nil {
		return nil, fmt.Errorf("node %q is not in cluster %q", node, s.cluster)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultDialTimeout)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	n := len(p.addrs)
	start := int(p.pref.Load())
	var errs []error
	for i := range n {
		select {
		case <-s.done:
			return nil, net.ErrClosed
		default:
		}
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		path := (start + i) % n
		share := time.Until(deadline) / time.Duration(n-i)
		actx, cancel := context.WithTimeout(ctx, share)
		c, err := s.dialPath(actx, p, path, kind)
		cancel()
		if err == nil {
			p.pref.Store(int32(path))
			return c, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", p.addrs[path], err))
	}
	return nil, &DialError{Node: node, Err: errors.Join(errs...)}
}

// DialError is returned when no path to a node could be connected and
// authenticated. Nothing was sent to the node.
type DialError struct {
	Node string
	Err  error // one error per path tried, joined
}

func (e *DialError) Error() string {
	return fmt.Sprintf("cannot reach node %s: %v", e.Node, e.Err)
}

func (e *DialError) Unwrap() error { return e.Err }

// dialPath connects path of p and runs the dialer's side of the
// handshake.
func (s *stream) dialPath(ctx context.Context, p *peer, path int, kind byte) (*conn, error) {
	pc := p.paths[path]
	pc.dials.Add(1)
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", p.addrs[path])
	if err != nil {
		pc.failures.Add(1)
		return nil, err
	}
	var markFailed *peer
	if kind == kindRaft {
		markFailed = p
	}
	c := s.track(raw, p.name, markFailed, path)
	if c == nil {
		return nil, net.ErrClosed
	}
	// Closing the connection when ctx ends unblocks the handshake.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	err = s.handshake(c, p, kind)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		pc.failures.Add(1)
		c.Close()
		return nil, err
	}
	return c, nil
}

// handshake is the dialer's side of the handshake.
func (s *stream) handshake(c *conn, p *peer, kind byte) error {
	t := transcript{
		cluster: s.cluster, dialer: s.self, listener: p.name,
		dialerHash: s.hash, dialerNonce: nonce(),
	}
	if err := writeFields(c, []byte(magic), []byte(s.cluster), []byte(s.self), []byte(p.name), []byte(s.hash), t.dialerNonce); err != nil {
		return err
	}
	f, err := readFields(c, 4)
	if err != nil {
		return err
	}
	if v := string(f[0]); v != verdictOK {
		s.authFailures.Add(1)
		s.logLimited("refused:"+p.name+v, slog.LevelWarn, fmt.Sprintf("node %s refused us: %s", p.name, v), "remote", c.RemoteAddr())
		return fmt.Errorf("%w: %s", errRefused, v)
	}
	t.listenNonce, t.listenerHash = f[1], string(f[2])
	problem := error(nil)
	switch {
	case len(t.listenNonce) != nonceSize || !hmac.Equal(f[3], t.mac(s.key, roleListener)):
		problem = errBadKey
		s.authFailures.Add(1)
		s.logLimited("badkey:"+p.name, slog.LevelError,
			fmt.Sprintf("node %s did not prove the cluster key: refusing it", p.name), "remote", c.RemoteAddr())
	case t.listenerHash != s.hash:
		problem = errMismatch
		s.mismatched.Add(1)
		s.logMismatch(p.name, t.listenerHash)
	}
	// Our proof goes even when we refuse, so that the listener can tell
	// a wrong key from a differing cluster file and log it too.
	if err := writeFields(c, t.mac(s.key, roleDialer)); err != nil {
		return err
	}
	if problem != nil {
		return problem
	}
	g, err := readFields(c, 1)
	if err != nil {
		return err
	}
	switch string(g[0]) {
	case statusOK:
	case statusMismatch:
		// Cannot happen (we compared the hashes too), unless L's hash
		// changed in between.
		return errMismatch
	default:
		s.authFailures.Add(1)
		s.logLimited("badkey:"+p.name, slog.LevelError,
			fmt.Sprintf("node %s says we did not prove the cluster key", p.name), "remote", c.RemoteAddr())
		return errBadKey
	}
	if _, err := c.Write([]byte{kind}); err != nil {
		return err
	}
	return nil
}

func (s *stream) logMismatch(node, theirs string) {
	s.logLimited("mismatch:"+node+theirs, slog.LevelError,
		fmt.Sprintf("node %s's cluster file differs from ours (%s vs %s): refusing it", node, theirs, s.hash))
}

// logLimited logs msg at most once per logEvery for key.
func (s *stream) logLimited(key string, level slog.Level, msg string, args ...any) {
	now := time.Now()
	s.mu.Lock()
	last, seen := s.logged[key]
	if seen && now.Sub(last) < logEvery {
		s.mu.Unlock()
		return
	}
	s.logged[key] = now
	s.mu.Unlock()
	s.log.Log(context.Background(), level, msg, args...)
}

// Dial implements raft.StreamLayer: address is a node name.
func (s *stream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := s.dialContext(ctx, string(address), kindRaft)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Accept implements net.Listener for raft: authenticated raft streams.
func (s *stream) Accept() (net.Conn, error) {
	select {
	case c := <-s.raftCh:
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

// Close closes the listeners and every connection, inbound or outbound.
func (s *stream) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		close(s.done)
		for _, ln := range s.listeners {
			if ln != nil {
				ln.Close()
			}
		}
		conns := make([]*conn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
		s.httpLn.Close()
	})
	return nil
}

// wait waits for the stream's goroutines after Close.
func (s *stream) wait() { s.wg.Wait() }

// Addr implements net.Listener: this node's name, which is its raft
// ServerAddress.
func (s *stream) Addr() net.Addr { return nodeAddr(s.self) }

// closePath closes path i of this node's listeners (tests).
func (s *stream) closePath(i int) {
	s.mu.Lock()
	ln := s.listeners[i]
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
}

// nodeAddr is a node name as a net.Addr.
type nodeAddr string

func (a nodeAddr) Network() string { return "ark" }
func (a nodeAddr) String() string  { return string(a) }

// track registers raw so that Close closes it; nil when the stream is
// closed. markFailed, when set, is told when the connection fails so that
// the next dial starts with the next path.
func (s *stream) track(raw net.Conn, peerName string, markFailed *peer, path int) *conn {
	c := &conn{Conn: raw, s: s, peer: peerName, markFailed: markFailed, path: path}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		raw.Close()
		return nil
	default:
	}
	s.conns[c] = struct{}{}
	return c
}

// conn is a connection of the cluster transport.
type conn struct {
	net.Conn
	s          *stream
	peer       string // the node at the other end, once authenticated
	markFailed *peer
	path       int
	closed     atomic.Bool
}

func (c *conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil {
		c.failed(err)
	}
	return n, err
}

func (c *conn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if err != nil {
		c.failed(err)
	}
	return n, err
}

// failed makes the next dial of an outbound raft connection start with
// the next path when this one broke (a timeout or a reset, not an orderly
// close by the peer nor our own Close).
func (c *conn) failed(err error) {
	p := c.markFailed
	if p == nil || c.closed.Load() || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || len(p.addrs) < 2 {
		return
	}
	p.pref.CompareAndSwap(int32(c.path), int32((c.path+1)%len(p.addrs)))
}

func (c *conn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.s.mu.Lock()
	delete(c.s.conns, c)
	c.s.mu.Unlock()
	return c.Conn.Close()
}

// memListener is a net.Listener fed with authenticated HTTP streams.
type memListener struct {
	addr nodeAddr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newMemListener(self string) *memListener {
	return &memListener{addr: nodeAddr(self), ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *memListener) deliver(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *memListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *memListener) Addr() net.Addr { return l.addr }
