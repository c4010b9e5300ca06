package replica

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/ark-ha/ark/host/store"
)

// Node is one voter of the cluster as the cluster file describes it.
type Node struct {
	// Name is the node's name: its raft server ID and address.
	Name string
	// Addrs are the node's TCP host:port, one per communication path, in
	// path order.
	Addrs []string
}

// Config configures Open. Every node of a cluster has the same Cluster,
// Nodes, Key and ConfigHash (they come from the same cluster file) and
// its own Self and Dir.
type Config struct {
	// Cluster is the cluster's name; a node of another cluster is refused.
	Cluster string
	// Self is this node's name, one of Nodes.
	Self string
	// Dir holds the raft data (raft.db, snapshots/); it is created 0700.
	Dir string
	// Nodes lists every voter (a witness included) in cluster-file order.
	// It is the raft configuration the cluster is bootstrapped with; once
	// a Dir has state, membership changes are not made from here.
	Nodes []Node
	// Key is the cluster key (at least 32 bytes) every connection proves.
	Key []byte
	// ConfigHash identifies the cluster file, as "sha256:<hex>": a node
	// whose hash differs is refused (and logged on both sides).
	ConfigHash string
	// HeartbeatTimeout, ElectionTimeout and LeaderLeaseTimeout are raft's;
	// zero means raft's defaults (1s, 1s, 500ms). The I/O timeout of one
	// raft RPC, and the time allowed to connect a node (shared equally
	// between its paths), is ElectionTimeout or 1s, whichever is longer.
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout time.Duration
	// Logger receives the replica's log and raft's (raft's INFO at DEBUG,
	// except leadership changes). Nil discards it.
	Logger *slog.Logger
	// OnApply, if set, is called on every node for every change applied
	// to the state, in log order, with the entry's index: indexes
	// increase but have gaps (raft's own entries, rejected Ops). At start
	// the log is replayed, so OnApply sees entries again (the index lets
	// the caller skip what it saw); they are applied once the cluster's
	// leader says they are committed, not before.
	//
	// After the state is replaced by a snapshot (at start when one
	// exists, or when the leader sends one to a node that fell too far
	// behind), OnApply is called once with the snapshot's index and an
	// empty Op (Op.Empty() is true): the entries before it are not
	// replayed, Read gives the restored state. An empty Op means nothing
	// else: Apply never puts one in the log.
	//
	// OnApply runs on raft's state machine goroutine with no lock held
	// (it may call Read), but while it runs no later entry is applied:
	// it must be quick and must not wait for Apply, VerifyLeader or
	// Close. It may be called before Open returns.
	OnApply func(index uint64, op store.Op)
	// Handler serves the HTTP requests that other nodes send with Do.
	// Paths under /internal/replica/ are the replica's own. Nil: 404.
	// Peer tells which node sent a request.
	Handler http.Handler
}

// Errors of Apply besides those of store.Store.
var (
	// ErrNoLeader is returned (wrapped, with the context's error) by
	// Apply when no leader could be reached before its context ended.
	// Nothing was applied.
	ErrNoLeader = errors.New("no cluster leader")
	// ErrOutcomeUnknown is returned (wrapped) by Apply when the Op was
	// handed to the leader but the answer was lost: the context ended,
	// the leader lost its leadership or shut down, the connection broke.
	// The Op may or may not be applied; Read (or OnApply) will tell, and
	// retrying an Op is harmless (store.Op is written so).
	ErrOutcomeUnknown = errors.New("outcome of the change unknown")
)

// errRetry marks a failure that left the Op unsent: Apply tries again.
var errRetry = errors.New("not applied, retry")

const (
	applyPath = "/internal/replica/apply"
	// retryEvery is how often Apply looks for a leader again.
	retryEvery = 50 * time.Millisecond
	// maxOpSize bounds a forwarded Op.
	maxOpSize = 64 << 20
)

// Replica is the cluster's replicated store: a store.Store whose state
// every node keeps, changed only through the raft log.
type Replica struct {
	cfg    Config
	log    *slog.Logger
	raft   *raft.Raft
	trans  *raft.NetworkTransport
	stream *stream
	fsm    *fsm
	bolt   *raftboltdb.BoltStore
	srv    *http.Server
	client *http.Client
	obs    *raft.Observer

	closing atomic.Bool
	done    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup

	leaderMu sync.Mutex
	leader   string        // the last leader reported on leaderCh
	changed  chan struct{} // closed (and replaced) when leader changes
	leaderCh chan string
	chClosed bool
}

var _ store.Store = (*Replica)(nil)

// Open starts this node's replica: its raft log in cfg.Dir, its listeners
// on every address of cfg.Self. A Dir without raft state is bootstrapped
// with cfg.Nodes as the voters (every node does the same, which raft
// allows). Open does not wait for a leader.
func Open(cfg Config) (*Replica, error) {
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("replica: %w", err)
	}
	cfg.Key = slices.Clone(cfg.Key)
	cfg.Nodes = slices.Clone(cfg.Nodes)
	for i := range cfg.Nodes {
		cfg.Nodes[i].Addrs = slices.Clone(cfg.Nodes[i].Addrs)
	}
	if cfg.HeartbeatTimeout == 0 {
		cfg.HeartbeatTimeout = raft.DefaultConfig().HeartbeatTimeout
	}
	if cfg.ElectionTimeout == 0 {
		cfg.ElectionTimeout = raft.DefaultConfig().ElectionTimeout
	}
	if cfg.LeaderLeaseTimeout == 0 {
		cfg.LeaderLeaseTimeout = raft.DefaultConfig().LeaderLeaseTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Replica{
		cfg:      cfg,
		log:      log,
		done:     make(chan struct{}),
		changed:  make(chan struct{}),
		leaderCh: make(chan string, 1),
	}
	if err := r.open(); err != nil {
		r.cleanup()
		return nil, fmt.Errorf("replica: %w", err)
	}
	return r, nil
}

func (r *Replica) open() error {
	cfg := &r.cfg
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return err
	}
	hlog := newHclog(r.log.With("subsystem", "raft"))

	var err error
	r.bolt, err = raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(cfg.Dir, "raft.db"),
		BoltOptions: &bbolt.Options{Timeout: time.Second},
	})
	if errors.Is(err, bbolt.ErrTimeout) {
		err = fmt.Errorf("%w: in use by another process", err)
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", filepath.Join(cfg.Dir, "raft.db"), err)
	}
	logs, err := raft.NewLogCache(512, r.bolt)
	if err != nil {
		return err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, hlog)
	if err != nil {
		return err
	}
	existing, err := raft.HasExistingState(logs, r.bolt, snaps)
	if err != nil {
		return err
	}

	r.stream = newStream(cfg, r.log)
	if err := r.stream.listen(); err != nil {
		return err
	}
	r.client = &http.Client{Transport: &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return r.stream.dialContext(ctx, host, kindHTTP)
		},
		// A connection per request: nothing stale survives a node's
		// restart.
		DisableKeepAlives: true,
	}}
	r.srv = &http.Server{
		Handler:           http.HandlerFunc(r.serveHTTP),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          newHclog(r.log.With("subsystem", "replica-http")).StandardLogger(nil),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if cc, ok := c.(*conn); ok {
				return context.WithValue(ctx, peerKey{}, cc.peer)
			}
			return ctx
		},
	}
	r.wg.Go(func() { r.srv.Serve(r.stream.httpLn) })

	r.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  r.stream,
		MaxPool: 3,
		Timeout: max(cfg.ElectionTimeout, time.Second),
		Logger:  hlog,
	})

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.Self)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.Logger = hlog
	r.fsm = newFSM(cfg.OnApply)
	r.raft, err = raft.NewRaft(rc, r.fsm, logs, r.bolt, snaps, r.trans)
	if err != nil {
		return err
	}
	if !existing {
		var servers []raft.Server
		for _, n := range cfg.Nodes {
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(n.Name), Address: raft.ServerAddress(n.Name)})
		}
		err := r.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()
		if err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			return fmt.Errorf("bootstrap: %w", err)
		}
		r.log.Info("raft bootstrapped", "dir", cfg.Dir, "voters", len(servers))
	}

	obsCh := make(chan raft.Observation, 16)
	r.obs = raft.NewObserver(obsCh, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.raft.RegisterObserver(r.obs)
	r.wg.Go(func() { r.watchLeader(obsCh) })
	return nil
}

// check reports what is wrong with cfg.
func (cfg *Config) check() error {
	switch {
	case cfg.Cluster == "":
		return errors.New("no cluster name")
	case cfg.Dir == "":
		return errors.New("no raft directory")
	case len(cfg.Key) < 32:
		return fmt.Errorf("cluster key of %d bytes, want at least 32", len(cfg.Key))
	case cfg.ConfigHash == "":
		return errors.New("no config hash")
	}
	seen := map[string]bool{}
	for i, n := range cfg.Nodes {
		if n.Name == "" {
			return fmt.Errorf("node %d has no name", i+1)
		}
		if u, err := url.Parse("http://" + n.Name + "/"); err != nil || u.Host != n.Name || u.Port() != "" {
			return fmt.Errorf("node name %q cannot be used as a host name", n.Name)
		}
		if seen[n.Name] {
			return fmt.Errorf("node %q appears twice", n.Name)
		}
		seen[n.Name] = true
		if len(n.Addrs) == 0 {
			return fmt.Errorf("node %q has no address", n.Name)
		}
		for _, a := range n.Addrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return fmt.Errorf("node %q: address %q: %w", n.Name, a, err)
			}
		}
	}
	if !seen[cfg.Self] {
		return fmt.Errorf("this node %q is not one of the nodes", cfg.Self)
	}
	return nil
}

// cleanup releases what open got, after a failure or on Close.
func (r *Replica) cleanup() error {
	var errs []error
	if r.raft != nil {
		if r.obs != nil {
			r.raft.DeregisterObserver(r.obs)
		}
		if err := r.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("raft shutdown: %w", err))
		}
	}
	close(r.done)
	if r.trans != nil {
		r.trans.Close()
	}
	if r.stream != nil {
		r.stream.Close()
	}
	if r.srv != nil {
		r.srv.Close()
	}
	r.wg.Wait()
	if r.stream != nil {
		r.stream.wait()
	}
	if r.bolt != nil {
		if err := r.bolt.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close raft.db: %w", err))
		}
	}
	r.leaderMu.Lock()
	r.chClosed = true
	close(r.leaderCh)
	r.leaderMu.Unlock()
	return errors.Join(errs...)
}

// Close stops the replica: a leader first hands its leadership to the
// most up-to-date follower (raft's LeadershipTransfer, bounded by the
// election timeout), then raft is shut down, the listeners and every
// connection are closed and raft.db is released. LeaderChanges is closed.
// Apply after Close fails with store.ErrClosed.
func (r *Replica) Close() error {
	var err error
	r.once.Do(func() {
		r.closing.Store(true)
		if r.raft.State() == raft.Leader {
			start := time.Now()
			if err := r.raft.LeadershipTransfer().Error(); err != nil {
				r.log.Warn("leadership transfer failed", "err", err)
			} else {
				r.log.Info("leadership transferred", "took", time.Since(start).Round(time.Millisecond))
			}
		}
		err = r.cleanup()
		if err != nil {
			err = fmt.Errorf("replica: %w", err)
		}
	})
	return err
}

// Read returns a deep copy of this node's state. It implements
// store.Store. On a follower it may lag the leader by the entries not yet
// replicated; after Open it shows the restored snapshot (if any) until the
// log is replayed.
func (r *Replica) Read() store.Data { return r.fsm.read() }

// Applied returns the index of the last entry this node applied (Read
// shows everything up to it).
func (r *Replica) Applied() uint64 { return r.fsm.applied() }

// WaitApplied waits until this node has applied the entry at index, so
// that a follower answering for its leader shows what the leader did.
func (r *Replica) WaitApplied(ctx context.Context, index uint64) error {
	return r.fsm.waitApplied(ctx, index)
}

// Apply makes op's change through the log and returns once it is applied
// on this node (Read shows it). It implements store.Store:
//   - on the leader, the Op is appended to the log and Apply waits for it
//     to be committed and applied;
//   - on a follower, it is forwarded to the leader over the cluster
//     transport, then Apply waits until this node has applied it too (if
//     ctx ends first, Apply returns nil: the change is committed);
//   - with no leader (or none reachable), Apply retries until ctx is done,
//     then returns an error wrapping ErrNoLeader and ctx.Err().
//
// An Op that Data.Apply rejects returns its error, wrapping
// store.ErrInvalid; the state is unchanged. When the answer is lost the
// error wraps ErrOutcomeUnknown; that includes ctx ending once the leader
// has the Op (the error then wraps ctx.Err() too): unlike store.File, the
// change may still be applied. ctx done before the Op reached a leader
// gives an error wrapping ctx.Err() (and ErrNoLeader when Apply was
// waiting for one): nothing was applied. An empty Op changes nothing and returns nil at once. After
// Close, Apply returns store.ErrClosed.
func (r *Replica) Apply(ctx context.Context, op store.Op) error {
	if r.closing.Load() {
		return store.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if op.Empty() {
		return nil
	}
	cmd, err := json.Marshal(op)
	if err != nil {
		return fmt.Errorf("%w: %v", store.ErrInvalid, err)
	}
	var last error
	for {
		if r.closing.Load() {
			return store.ErrClosed
		}
		r.leaderMu.Lock()
		changed := r.changed
		r.leaderMu.Unlock()
		_, id := r.raft.LeaderWithID()
		leader := string(id)
		switch {
		case r.raft.State() == raft.Leader:
			_, err := r.applyLocal(ctx, cmd)
			if !errors.Is(err, errRetry) {
				return err
			}
			last = err
		case leader != "" && leader != r.cfg.Self:
			index, err := r.forward(ctx, leader, cmd)
			if err == nil {
				// Committed: wait until Read shows it here too.
				r.fsm.waitApplied(ctx, index)
				return nil
			}
			if !errors.Is(err, errRetry) {
				return err
			}
			last = err
		}
		t := time.NewTimer(retryEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			if last != nil {
				return fmt.Errorf("%w: %w (last try: %v)", ErrNoLeader, ctx.Err(), last)
			}
			return fmt.Errorf("%w: %w", ErrNoLeader, ctx.Err())
		case <-r.done:
			t.Stop()
			return store.ErrClosed
		case <-changed:
			t.Stop()
		case <-t.C:
		}
	}
}

// applyLocal appends cmd to the log on the leader and waits for it to be
// applied; it returns the entry's index. Errors wrap errRetry (nothing
// appended), store.ErrInvalid (rejected, nothing changed) or
// ErrOutcomeUnknown.
func (r *Replica) applyLocal(ctx context.Context, cmd []byte) (uint64, error) {
	var timeout time.Duration
	if dl, ok := ctx.Deadline(); ok {
		if timeout = time.Until(dl); timeout <= 0 {
			return 0, ctx.Err()
		}
	}
	f := r.raft.Apply(cmd, timeout)
	res := make(chan error, 1)
	go func() { res <- f.Error() }()
	select {
	case <-ctx.Done():
		return 0, fmt.Errorf("%w: %w", ErrOutcomeUnknown, ctx.Err())
	case err := <-res:
		switch {
		case err == nil:
			if e, ok := f.Response().(error); ok && e != nil {
				return 0, e
			}
			return f.Index(), nil
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
			return 0, fmt.Errorf("%w: %w", errRetry, err)
		case errors.Is(err, raft.ErrEnqueueTimeout):
			return 0, fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
		case errors.Is(err, raft.ErrRaftShutdown):
			return 0, fmt.Errorf("%w: %w", store.ErrClosed, ErrOutcomeUnknown)
		default:
			return 0, fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
		}
	}
}

// Leader returns the name of the current leader as this node knows it,
// "" when there is none.
func (r *Replica) Leader() string {
	_, id := r.raft.LeaderWithID()
	return string(id)
}

// IsLeader reports whether this node is the leader.
func (r *Replica) IsLeader() bool { return r.raft.State() == raft.Leader }

// LeaderChanges returns a channel that receives the new leader's name (""
// for none) on every change seen by this node. It holds one value: a
// reader that falls behind gets the latest, never a stale one, and raft is
// never blocked. It is closed by Close.
func (r *Replica) LeaderChanges() <-chan string { return r.leaderCh }

// VerifyLeader checks with a quorum that this node is still the leader
// (raft's VerifyLeader); it fails with raft.ErrNotLeader on a follower.
func (r *Replica) VerifyLeader(ctx context.Context) error {
	f := r.raft.VerifyLeader()
	res := make(chan error, 1)
	go func() { res <- f.Error() }()
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Term returns raft's current term.
func (r *Replica) Term() uint64 { return r.raft.CurrentTerm() }

// Stats is a snapshot of the replica's state and the transport's
// counters.
type Stats struct {
	// State is raft's: Follower, Candidate, Leader or Shutdown.
	State  string
	Term   uint64
	Leader string
	// LastContact is when a leader last contacted this follower (zero on
	// the leader).
	LastContact               time.Time
	CommitIndex, AppliedIndex uint64
	// AuthFailures counts connections refused, in either direction,
	// because a side did not prove the cluster key or named a cluster or
	// node the other does not know.
	AuthFailures uint64
	// Mismatched counts connections refused because the two nodes'
	// cluster files differ (ConfigHash).
	Mismatched uint64
	// Paths has every other node's paths, in Nodes and path order.
	Paths []PathStats
}

// PathStats counts the connections this node made on one path.
type PathStats struct {
	Node, Addr string
	// Dials counts attempts to connect, Failures those that failed to
	// connect or to complete the handshake.
	Dials, Failures uint64
	// Preferred marks the path the next connection to Node tries first.
	Preferred bool
}

// Stats returns the replica's current figures.
func (r *Replica) Stats() Stats {
	s := Stats{
		State:        r.raft.State().String(),
		Term:         r.raft.CurrentTerm(),
		Leader:       r.Leader(),
		LastContact:  r.raft.LastContact(),
		CommitIndex:  r.raft.CommitIndex(),
		AppliedIndex: r.raft.AppliedIndex(),
		AuthFailures: r.stream.authFailures.Load(),
		Mismatched:   r.stream.mismatched.Load(),
	}
	for _, n := range r.cfg.Nodes {
		if n.Name == r.cfg.Self {
			continue
		}
		p := r.stream.peers[n.Name]
		pref := int(p.pref.Load())
		for i, addr := range p.addrs {
			s.Paths = append(s.Paths, PathStats{
				Node: n.Name, Addr: addr,
				Dials: p.paths[i].dials.Load(), Failures: p.paths[i].failures.Load(),
				Preferred: i == pref,
			})
		}
	}
	return s
}

// watchLeader follows raft's leader observations (and checks on a ticker,
// observations being dropped when raft is busy) to feed LeaderChanges.
func (r *Replica) watchLeader(obs <-chan raft.Observation) {
	t := time.NewTicker(r.cfg.HeartbeatTimeout)
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-obs:
		case <-t.C:
		}
		r.updateLeader()
	}
}

func (r *Replica) updateLeader() {
	leader := r.Leader()
	r.leaderMu.Lock()
	if leader == r.leader || r.chClosed {
		r.leaderMu.Unlock()
		return
	}
	r.leader = leader
	close(r.changed)
	r.changed = make(chan struct{})
	select { // keep only the latest
	case <-r.leaderCh:
	default:
	}
	r.leaderCh <- leader // cannot block: emptied above, and we are the only sender
	r.leaderMu.Unlock()
	switch {
	case leader == "":
		r.log.Warn("the cluster has no leader", "term", r.Term())
	case leader == r.cfg.Self:
		r.log.Info("this node is the cluster leader", "term", r.Term())
	default:
		r.log.Info("cluster leader", "leader", leader, "term", r.Term())
	}
}
