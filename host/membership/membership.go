package membership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ChangeKind says what a Change reports.
type ChangeKind int

const (
	// PathFailed: a path that was up went Misses intervals without an
	// accepted heartbeat. Logged at WARN.
	PathFailed ChangeKind = iota + 1
	// PathRestored: a path that was down (or never up) accepted a
	// heartbeat. Logged at INFO.
	PathRestored
	// NodeFailed: the last up path of a node failed. Logged at ERROR,
	// after that path's PathFailed.
	NodeFailed
	// NodeRestored: the first path of a node that was down (or never up)
	// came up. Logged at INFO, after that path's PathRestored.
	NodeRestored
	// ConfigMismatch: a peer's heartbeats carry another cluster-file hash
	// than ours; reported once per peer and hash. Logged at ERROR.
	ConfigMismatch
)

var kindNames = [...]string{
	PathFailed:     "PathFailed",
	PathRestored:   "PathRestored",
	NodeFailed:     "NodeFailed",
	NodeRestored:   "NodeRestored",
	ConfigMismatch: "ConfigMismatch",
}

// String returns the kind's Go name, e.g. "PathFailed".
func (k ChangeKind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("ChangeKind(%d)", int(k))
}

// Change is one change of a path's or a node's state, or a configuration
// mismatch, as delivered to Config.OnChange.
type Change struct {
	// Kind says what changed.
	Kind ChangeKind
	// Node is the peer concerned.
	Node string
	// Local and Remote are the configured addresses of the path
	// concerned; both are empty for NodeFailed and NodeRestored. For
	// ConfigMismatch they are where the heartbeat arrived and the address
	// it came from.
	Local, Remote string
	// At is when the change was detected.
	At time.Time
	// Message is the logged line, e.g.
	// "COMMUNICATION TO node2 BY 10.0.0.1:7405/10.0.0.2:7405 FAILED AT: 2026-01-02T15:04:05+09:00".
	Message string
}

// View is a snapshot of what this node knows of its peers.
type View struct {
	// Self is this node's name.
	Self string
	// Nodes are the peers (Self excluded), in cluster-file order.
	Nodes []NodeState
}

// Node returns the state of the named peer, and whether it is one.
func (v View) Node(name string) (NodeState, bool) {
	for _, n := range v.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return NodeState{}, false
}

// NodeState is one peer in a View.
type NodeState struct {
	// Name is the peer's name.
	Name string
	// Up is true while at least one of its paths is up.
	Up bool
	// LastHeard is when its last accepted heartbeat arrived (zero if
	// none has).
	LastHeard time.Time
	// Paths are the paths to it, by index.
	Paths []PathState
}

// PathState is one communication path in a View.
type PathState struct {
	// Index is the path's index: Local is Self's Index-th address and
	// Remote the peer's.
	Index int
	// Local and Remote are the path's configured addresses.
	Local, Remote string
	// Up is true from an accepted heartbeat until Misses intervals pass
	// without one.
	Up bool
	// Since is when the path last went up or down; zero while it has
	// never been up.
	Since time.Time
	// LastHeard is when its last accepted heartbeat arrived (zero if
	// none has).
	LastHeard time.Time
}

// Stats counts heartbeats. Every datagram received (and not discarded by
// Config.Drop) is counted exactly once, in Received if it was accepted or
// in the counter of the first check it failed.
type Stats struct {
	// Sent counts heartbeats sent successfully.
	Sent uint64
	// Received counts heartbeats accepted.
	Received uint64
	// Forged counts datagrams that were malformed, failed
	// authentication, were addressed to another node, came from a node
	// not in the cluster, or arrived on another path than they claim.
	Forged uint64
	// Replayed counts authentic heartbeats seen before (or older than
	// one seen): a boot id lower than the sender's highest, or the same
	// boot and a sequence number not above the highest on that path.
	Replayed uint64
	// WrongCluster counts well-formed heartbeats of another cluster
	// (they are not authenticated: another cluster has another key).
	WrongCluster uint64
	// Mismatched counts authentic heartbeats whose cluster-file hash
	// differs from ours.
	Mismatched uint64
}

// Membership runs the heartbeats of one node. Create it with New, run it
// with Run; its query methods may be called at any time from any
// goroutine.
type Membership struct {
	cfg     Config
	log     *slog.Logger
	macKey  []byte
	boot    uint64
	timeout time.Duration
	socks   []*socket
	peers   []*peer          // cluster-file order
	byName  map[string]*peer // peers by name
	known   map[netip.AddrPort]string

	seq                                                      atomic.Uint64
	sent, received, forged, replayed, wrongCluster, mismatch atomic.Uint64

	payloadMu sync.Mutex // serializes OnPayload

	closeOnce sync.Once
	closed    chan struct{}

	mu           sync.Mutex // guards everything below and peer/path state
	running      bool
	pending      []Change
	wake         chan struct{}
	mismatchSeen map[string]map[string]bool // peer -> their hashes reported
	authWarned   map[string]bool            // peers warned about failed MACs since their last accepted heartbeat
	clusterWarn  map[string]bool            // foreign cluster names warned about
	lastTick     time.Time

	payloadWarn map[string]bool // peers whose payload was too big, since it last fit; only Run's goroutine touches it
}

type socket struct {
	index int
	addr  addr
	conn  *net.UDPConn
}

type peer struct {
	name  string
	paths []*path // paths[i] is path i, nil where there is none
	up    bool
	boot  uint64 // highest boot id seen
}

type path struct {
	index      int
	local      string
	remote     addr
	up         bool
	since      time.Time
	lastHeard  time.Time
	seq        uint64 // highest seq seen on this path for peer.boot
	sendFailed bool   // last send failed (and was logged); only Run's goroutine touches it
}

// New validates cfg and binds one UDP socket on each of Self's addresses.
// Errors name what is wrong (a bind error names the address). The sockets
// are released by Run when it returns, or by Close.
func New(cfg Config) (*Membership, error) {
	r, err := cfg.validate()
	if err != nil {
		return nil, fmt.Errorf("membership: %w", err)
	}
	key, err := deriveKey(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("membership: deriving heartbeat key: %w", err)
	}
	cfg.Key = slices.Clone(cfg.Key)
	cfg.Nodes = slices.Clone(cfg.Nodes)
	for i := range cfg.Nodes {
		cfg.Nodes[i].Addrs = slices.Clone(cfg.Nodes[i].Addrs)
	}
	m := &Membership{
		cfg:          cfg,
		log:          cfg.Logger,
		macKey:       key,
		boot:         uint64(time.Now().UnixNano()),
		timeout:      time.Duration(cfg.Misses) * cfg.Interval,
		byName:       map[string]*peer{},
		known:        map[netip.AddrPort]string{},
		closed:       make(chan struct{}),
		wake:         make(chan struct{}, 1),
		mismatchSeen: map[string]map[string]bool{},
		authWarned:   map[string]bool{},
		clusterWarn:  map[string]bool{},
		payloadWarn:  map[string]bool{},
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	for i, n := range cfg.Nodes {
		addrs, ok := r.peers[i]
		if !ok {
			continue
		}
		p := &peer{name: n.Name, paths: make([]*path, min(len(addrs), len(r.self)))}
		for j := range p.paths {
			p.paths[j] = &path{index: j, local: r.self[j].text, remote: addrs[j]}
		}
		for _, a := range addrs {
			m.known[a.ap] = a.text
		}
		m.peers = append(m.peers, p)
		m.byName[n.Name] = p
	}
	for i, a := range r.self {
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(a.ap))
		if err != nil {
			m.closeSockets()
			return nil, fmt.Errorf("membership: bind %s: %w", a.text, err)
		}
		m.socks = append(m.socks, &socket{index: i, addr: a, conn: conn})
	}
	return m, nil
}

// Close releases the sockets and makes a running Run return; a Run called
// after Close returns an error at once. It is for a Membership that will
// not run after all, or a shutdown without a context. It is idempotent and
// never fails; the error is for io.Closer.
func (m *Membership) Close() error {
	m.closeOnce.Do(func() { close(m.closed) })
	m.mu.Lock()
	running := m.running
	m.mu.Unlock()
	if !running {
		m.closeSockets()
	}
	return nil
}

func (m *Membership) closeSockets() {
	for _, s := range m.socks {
		s.conn.Close()
	}
}

// Run sends and receives heartbeats until ctx is done or Close is called,
// then closes the sockets, delivers the changes still queued to OnChange
// and returns nil. It returns an error at once if called a second time or
// after Close. Bad packets and socket errors are counted or logged, never
// returned.
func (m *Membership) Run(ctx context.Context) error {
	m.mu.Lock()
	select {
	case <-m.closed:
		m.mu.Unlock()
		return errors.New("membership: Run after Close")
	default:
	}
	if m.running {
		m.mu.Unlock()
		return errors.New("membership: Run called twice")
	}
	m.running = true
	m.mu.Unlock()

	var readers sync.WaitGroup
	for _, s := range m.socks {
		readers.Go(func() { m.readLoop(s) })
	}
	stopDispatch := make(chan struct{})
	dispatched := make(chan struct{})
	go func() {
		defer close(dispatched)
		m.dispatch(stopDispatch)
	}()

	ticker := time.NewTicker(m.cfg.Interval)
	m.tick()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-m.closed:
			break loop
		case <-ticker.C:
			m.tick()
		}
	}
	ticker.Stop()
	m.closeOnce.Do(func() { close(m.closed) })
	m.closeSockets()
	readers.Wait()
	close(stopDispatch)
	<-dispatched
	return nil
}

// tick sends one heartbeat on every path and fails the paths that have
// been silent too long.
func (m *Membership) tick() {
	now := time.Now()
	for _, p := range m.peers {
		payload := m.payloadFor(p.name)
		for _, pa := range p.paths {
			if pa != nil {
				m.send(p, pa, payload)
			}
		}
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	// If this goroutine itself was held up for a whole timeout (a paused
	// VM, a stopped process), silence proves nothing about the peers:
	// give their queued heartbeats one interval to be read first.
	stalled := !m.lastTick.IsZero() && now.Sub(m.lastTick) > m.timeout
	m.lastTick = now
	if stalled {
		return
	}
	for _, p := range m.peers {
		for _, pa := range p.paths {
			if pa == nil || !pa.up || now.Sub(pa.lastHeard) < m.timeout {
				continue
			}
			pa.up = false
			pa.since = now
			m.queue(Change{Kind: PathFailed, Node: p.name, Local: pa.local, Remote: pa.remote.text, At: now,
				Message: fmt.Sprintf("COMMUNICATION TO %s BY %s/%s FAILED AT: %s", p.name, pa.local, pa.remote.text, stamp(now))})
			if p.up && !p.anyUp() {
				p.up = false
				m.queue(Change{Kind: NodeFailed, Node: p.name, At: now,
					Message: fmt.Sprintf("COMMUNICATIONS %s FAILED AT: %s", p.name, stamp(now))})
			}
		}
	}
}

func (p *peer) anyUp() bool {
	for _, pa := range p.paths {
		if pa != nil && pa.up {
			return true
		}
	}
	return false
}

func stamp(t time.Time) string { return t.Local().Format(time.RFC3339) }

// payloadFor asks Config.Payload for the payload to a peer; an oversize
// one is logged (once until it fits again) and not sent.
func (m *Membership) payloadFor(to string) []byte {
	if m.cfg.Payload == nil {
		return nil
	}
	b := m.cfg.Payload(to)
	if len(b) > MaxPayload {
		if !m.payloadWarn[to] {
			m.payloadWarn[to] = true
			m.log.Error(fmt.Sprintf("heartbeat payload to %s is %d bytes, more than %d: sending heartbeats without it", to, len(b), MaxPayload), "node", to)
		}
		return nil
	}
	delete(m.payloadWarn, to)
	return b
}

// send sends one heartbeat on one path. A failure is logged when it starts
// and when it ends, not on every interval.
func (m *Membership) send(p *peer, pa *path, payload []byte) {
	hb := packet{
		cluster: m.cfg.Cluster,
		from:    m.cfg.Self,
		to:      p.name,
		path:    pa.index,
		boot:    m.boot,
		seq:     m.seq.Add(1),
		hash:    m.cfg.ConfigHash,
		payload: payload,
	}
	b, err := hb.marshal(make([]byte, 0, 128+len(payload)), m.macKey)
	if err == nil {
		_, err = m.socks[pa.index].conn.WriteToUDPAddrPort(b, pa.remote.ap)
	}
	switch {
	case err != nil && !pa.sendFailed:
		pa.sendFailed = true
		m.log.Warn(fmt.Sprintf("sending heartbeat to %s by %s/%s: %v", p.name, pa.local, pa.remote.text, err),
			"node", p.name, "local", pa.local, "remote", pa.remote.text)
	case err == nil && pa.sendFailed:
		pa.sendFailed = false
		m.log.Info(fmt.Sprintf("sending heartbeats to %s by %s/%s works again", p.name, pa.local, pa.remote.text),
			"node", p.name, "local", pa.local, "remote", pa.remote.text)
	}
	if err == nil {
		m.sent.Add(1)
	}
}

// readLoop receives on one socket until it is closed.
func (m *Membership) readLoop(s *socket) {
	buf := make([]byte, maxPacket+1) // one more, to see oversize datagrams
	for {
		n, src, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			m.log.Warn(fmt.Sprintf("receiving heartbeats on %s: %v", s.addr.text, err), "local", s.addr.text)
			select { // do not spin on a persistent error
			case <-m.closed:
			case <-time.After(min(m.cfg.Interval, 100*time.Millisecond)):
			}
			continue
		}
		m.receive(s, src, buf[:n], time.Now())
	}
}

// receive checks one datagram and, if it is an acceptable heartbeat,
// records it. b is only valid during the call.
func (m *Membership) receive(s *socket, src netip.AddrPort, b []byte, now time.Time) {
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	remote, ok := m.known[src]
	if !ok {
		remote = src.String()
	}
	if m.cfg.Drop != nil && m.cfg.Drop(s.addr.text, remote) {
		return
	}
	hb, err := parse(b)
	if err != nil {
		m.forged.Add(1)
		return
	}
	if hb.cluster != m.cfg.Cluster {
		m.wrongCluster.Add(1)
		m.warnOnce(m.clusterWarn, hb.cluster, 16, func() {
			m.log.Warn(fmt.Sprintf("heartbeat of cluster %q, not %q, on %s from %s: dropping them", hb.cluster, m.cfg.Cluster, s.addr.text, remote),
				"local", s.addr.text, "remote", remote)
		})
		return
	}
	if !verify(b, m.macKey) {
		m.forged.Add(1)
		if _, known := m.byName[hb.from]; known {
			m.warnOnce(m.authWarned, hb.from, len(m.peers), func() {
				m.log.Warn(fmt.Sprintf("heartbeat claiming to be from %s on %s from %s failed authentication (another cluster key?): dropping them", hb.from, s.addr.text, remote),
					"node", hb.from, "local", s.addr.text, "remote", remote)
			})
		}
		return
	}
	p := m.byName[hb.from]
	if hb.to != m.cfg.Self || p == nil {
		m.forged.Add(1)
		return
	}
	if hb.hash != m.cfg.ConfigHash {
		m.mismatch.Add(1)
		m.mismatched(p.name, hb.hash, s.addr.text, remote, now)
		return
	}
	if hb.path != s.index || hb.path >= len(p.paths) || p.paths[hb.path] == nil {
		m.forged.Add(1)
		return
	}

	m.mu.Lock()
	pa := p.paths[hb.path]
	if hb.boot > p.boot {
		p.boot = hb.boot
		for _, x := range p.paths {
			if x != nil {
				x.seq = 0
			}
		}
	}
	if hb.boot < p.boot || hb.seq <= pa.seq {
		m.mu.Unlock()
		m.replayed.Add(1)
		return
	}
	pa.seq = hb.seq
	pa.lastHeard = now
	delete(m.authWarned, p.name)
	if !pa.up {
		pa.up = true
		pa.since = now
		m.queue(Change{Kind: PathRestored, Node: p.name, Local: pa.local, Remote: pa.remote.text, At: now,
			Message: fmt.Sprintf("COMMUNICATION TO %s BY %s/%s RESTORE AT: %s", p.name, pa.local, pa.remote.text, stamp(now))})
		if !p.up {
			p.up = true
			m.queue(Change{Kind: NodeRestored, Node: p.name, At: now,
				Message: fmt.Sprintf("COMMUNICATIONS %s RESTORE AT: %s", p.name, stamp(now))})
		}
	}
	m.mu.Unlock()
	m.received.Add(1)

	if m.cfg.OnPayload != nil {
		var payload []byte
		if len(hb.payload) > 0 {
			payload = slices.Clone(hb.payload)
		}
		m.payloadMu.Lock()
		defer m.payloadMu.Unlock()
		m.cfg.OnPayload(p.name, payload, now)
	}
}

// warnOnce runs warn unless key is in seen, then records it; seen holds at
// most limit keys, so unauthenticated input cannot grow it without bound.
func (m *Membership) warnOnce(seen map[string]bool, key string, limit int, warn func()) {
	m.mu.Lock()
	if seen[key] || len(seen) >= limit {
		m.mu.Unlock()
		return
	}
	seen[key] = true
	m.mu.Unlock()
	warn()
}

// mismatched reports, once per peer and hash, an authentic heartbeat
// carrying another cluster-file hash.
func (m *Membership) mismatched(node, theirs, local, remote string, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := m.mismatchSeen[node]
	if seen == nil {
		seen = map[string]bool{}
		m.mismatchSeen[node] = seen
	}
	if seen[theirs] {
		return
	}
	seen[theirs] = true
	m.queue(Change{Kind: ConfigMismatch, Node: node, Local: local, Remote: remote, At: now,
		Message: fmt.Sprintf("node %s's cluster file differs from ours (%s vs %s): ignoring it until they match", node, theirs, m.cfg.ConfigHash)})
}

// queue appends a change for dispatch. m.mu must be held, which is what
// keeps changes in the order they happened.
func (m *Membership) queue(c Change) {
	m.pending = append(m.pending, c)
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// dispatch logs queued changes and hands them to OnChange, in order, until
// stop is closed; then it does so for what is left and returns.
func (m *Membership) dispatch(stop <-chan struct{}) {
	for {
		select {
		case <-m.wake:
			m.flush()
		case <-stop:
			m.flush()
			return
		}
	}
}

func (m *Membership) flush() {
	for {
		m.mu.Lock()
		batch := m.pending
		m.pending = nil
		m.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		for _, c := range batch {
			m.logChange(c)
			if m.cfg.OnChange != nil {
				m.cfg.OnChange(c)
			}
		}
	}
}

func (m *Membership) logChange(c Change) {
	level := slog.LevelInfo
	switch c.Kind {
	case PathFailed:
		level = slog.LevelWarn
	case NodeFailed, ConfigMismatch:
		level = slog.LevelError
	}
	attrs := []any{"node", c.Node}
	if c.Local != "" {
		attrs = append(attrs, "local", c.Local, "remote", c.Remote)
	}
	m.log.Log(context.Background(), level, c.Message, attrs...)
}

// View returns a snapshot of every peer's and path's state.
func (m *Membership) View() View {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := View{Self: m.cfg.Self, Nodes: make([]NodeState, 0, len(m.peers))}
	for _, p := range m.peers {
		n := NodeState{Name: p.name, Up: p.up}
		for _, pa := range p.paths {
			if pa == nil {
				continue
			}
			n.Paths = append(n.Paths, PathState{
				Index: pa.index, Local: pa.local, Remote: pa.remote.text,
				Up: pa.up, Since: pa.since, LastHeard: pa.lastHeard,
			})
			if pa.lastHeard.After(n.LastHeard) {
				n.LastHeard = pa.lastHeard
			}
		}
		v.Nodes = append(v.Nodes, n)
	}
	return v
}

// Up reports whether node is up: Self always is; an unknown name is not.
func (m *Membership) Up(node string) bool {
	if node == m.cfg.Self {
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.byName[node]
	return p != nil && p.up
}

// Reachable returns the names of the nodes that are up, Self included,
// sorted.
func (m *Membership) Reachable() []string {
	m.mu.Lock()
	names := []string{m.cfg.Self}
	for _, p := range m.peers {
		if p.up {
			names = append(names, p.name)
		}
	}
	m.mu.Unlock()
	slices.Sort(names)
	return names
}

// Stats returns the heartbeat counters so far.
func (m *Membership) Stats() Stats {
	return Stats{
		Sent:         m.sent.Load(),
		Received:     m.received.Load(),
		Forged:       m.forged.Load(),
		Replayed:     m.replayed.Load(),
		WrongCluster: m.wrongCluster.Load(),
		Mismatched:   m.mismatch.Load(),
	}
}
