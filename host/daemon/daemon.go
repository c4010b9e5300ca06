package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/ark-ha/ark/host/config"
	"github.com/ark-ha/ark/host/events"
	"github.com/ark-ha/ark/host/kits"
	"github.com/ark-ha/ark/host/model"
	"github.com/ark-ha/ark/host/monitor"
	"github.com/ark-ha/ark/host/scheduler"
	"github.com/ark-ha/ark/host/store"
	"github.com/ark-ha/ark/interpreters/proc"
)

// Config is what New needs. Node is required; the rest defaults.
type Config struct {
	Node *config.Node
	// Cluster makes the daemon a node of that cluster (nil: a single
	// node, its state in its own state dir).
	Cluster *config.Cluster
	Logger  *slog.Logger
	Clock   func() time.Time
	Rand    *rand.Rand
}

// Daemon is arkd on one node. Create it with New, run it with Run.
type Daemon struct {
	node  *config.Node
	log   *slog.Logger
	clock func() time.Time

	store  store.Store // single node: everything; cluster: the kits enabled with arkctl
	cl     *clusterState
	events *events.Log
	kits   *kits.Manager
	mon    *monitor.Scheduler

	// ops serialises definition changes (write) against operations
	// (read); locks holds one token per resource for the actions on it.
	ops   sync.RWMutex
	locks *tagLocks

	mu      sync.Mutex
	graph   *model.Graph
	status  map[string]model.Status
	groups  map[string]model.GroupStatus // cluster bookkeeping (mirror)
	nodes   map[string]model.NodeStatus  // cluster node states (mirror)
	busy    map[string]string            // tag -> action running
	watches map[string]*pidWatch
	kitSrc  map[string]string // kit name -> "node file" or "arkctl"

	// pmu guards the status changes waiting to be written (persist.go).
	pmu     sync.Mutex
	pcond   *sync.Cond
	pending map[string]model.Status
	writing bool
	written uint64 // writes done

	pidDir   string
	done     chan struct{}
	stop     context.CancelFunc
	leave    bool
	shutdown bool
	wg       sync.WaitGroup
}

// New opens the state dir (refusing a second daemon on it), the event
// log, and the plugin manager (which kills plugins a crashed daemon left
// behind). It starts nothing: Run does.
func New(cfg Config) (*Daemon, error) {
	if cfg.Node == nil {
		return nil, errors.New("daemon: no node configuration")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
	}
	n := cfg.Node
	log := cfg.Logger.With("node", n.Name)
	st, err := store.Open(n.StateDir, store.Options{})
	if err != nil {
		return nil, err
	}
	ev, err := events.Open(filepath.Join(n.StateDir, "events"), events.Options{Clock: cfg.Clock})
	if err != nil {
		st.Close()
		return nil, err
	}
	d := &Daemon{
		node:    n,
		log:     log,
		clock:   cfg.Clock,
		store:   st,
		events:  ev,
		locks:   newTagLocks(),
		status:  map[string]model.Status{},
		busy:    map[string]string{},
		watches: map[string]*pidWatch{},
		kitSrc:  map[string]string{},
		pidDir:  filepath.Join(n.StateDir, "pids"),
		done:    make(chan struct{}),
	}
	d.pcond = sync.NewCond(&d.pmu)
	if cfg.Cluster != nil {
		self, ok := cfg.Cluster.Node(n.Name)
		if !ok {
			ev.Close()
			st.Close()
			return nil, fmt.Errorf("node %s is not a node of cluster %s (%s)", n.Name, cfg.Cluster.Name, cfg.Cluster.Pos)
		}
		d.cl = &clusterState{cfg: cfg.Cluster, self: self, kick: make(chan struct{}, 1), resync: make(chan struct{}, 1), ready: make(chan struct{}),
			inflight: map[string]bool{}, notes: map[string]string{}, unsynced: map[string]model.Status{}}
		d.cl.holder.Timeout = cfg.Cluster.LeaseTimeout
		// Nodes sharing a kernel (tests, the demo) must not share the
		// cgroups of the process trees each may have to kill.
		os.Setenv(proc.EnvParent, filepath.Join("ark", proc.SafeName(n.Name)))
		d.cl.cgroupDir = proc.DefaultParent()
	}
	km, err := kits.New(kits.Config{
		Logger:   log,
		StateDir: n.StateDir,
		Clock:    cfg.Clock,
		OnEvent:  d.kitEvent,
	})
	if err != nil {
		ev.Close()
		st.Close()
		return nil, err
	}
	d.kits = km
	d.mon = monitor.New(monitor.Config{Check: d.quickCheck, Clock: monitor.RealClock(), Rand: cfg.Rand})
	if err := os.MkdirAll(d.pidDir, 0o700); err != nil {
		d.Close()
		return nil, fmt.Errorf("state dir: %w", err)
	}
	data := st.Read()
	if d.cl != nil {
		// The replicated store holds the cluster's state; the mirror is
		// filled once it is open (Run).
		data.Resources, data.Status = nil, map[string]model.Status{}
	}
	g, err := model.NewGraph(slices.Collect(maps.Values(data.Resources)))
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("state dir %s: the stored definitions are inconsistent: %w", n.StateDir, err)
	}
	d.graph = g
	d.status = data.Status
	return d, nil
}

// Close releases what New opened (plugins, event log, state lock) when
// Run is not called; Run does it itself.
func (d *Daemon) Close() {
	d.flush()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = d.kits.Stop(ctx)
	d.closeCluster()
	_ = d.events.Close()
	_ = d.store.Close()
}

// event records e, tagging it with this node; a failure to record is
// logged, never fatal.
func (d *Daemon) event(e events.Event) {
	e.Node = d.node.Name
	if e.Level == "" {
		e.Level = "info"
	}
	if _, err := d.events.Append(e); err != nil {
		d.log.Error("event history", "err", err)
	}
}

func (d *Daemon) kitEvent(k kits.KitEvent) {
	lvl := events.LevelInfo
	switch k.Kind {
	case kits.KitCrashed, kits.KitLaunchFailed, kits.KitChanged:
		lvl = events.LevelError
	case kits.KitOrphanKilled:
		lvl = events.LevelWarn
	}
	msg := fmt.Sprintf("kit %s %s", k.Kit, k.Kind)
	if k.Pid != 0 {
		msg += fmt.Sprintf(" (pid %d)", k.Pid)
	}
	if k.Status != "" {
		msg += ": " + k.Status
	}
	if k.Err != nil {
		msg += ": " + k.Err.Error()
	}
	if !k.NextTry.IsZero() {
		msg += "; next try at " + k.NextTry.UTC().Format(time.RFC3339)
	}
	d.event(events.Event{Kind: events.KindKit, Level: lvl, Message: msg})
}

// snapshot returns what the scheduler decides from.
func (d *Daemon) snapshot() scheduler.Snapshot {
	d.mu.Lock()
	defer d.mu.Unlock()
	return scheduler.Snapshot{Node: d.node.Name, Graph: d.graph, Status: maps.Clone(d.status), Now: d.clock()}
}

// get returns a resource's definition and status.
func (d *Daemon) get(tag string) (*model.Resource, model.Status) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.graph.Resource(tag), d.status[tag]
}

// setStatus records new statuses, in memory first and then durably; a
// state change is an event, and monitoring follows the state: only ISP
// resources are checked.
func (d *Daemon) setStatus(why string, changes map[string]model.Status) {
	now := d.clock()
	d.mu.Lock()
	var evs []events.Event
	for tag, st := range changes {
		r := d.graph.Resource(tag)
		if r == nil {
			delete(changes, tag) // undefined meanwhile
			continue
		}
		old := d.status[tag]
		if st.State != old.State {
			st.Since = now
			evs = append(evs, events.Event{Kind: events.KindState, Tag: tag, From: old.State, To: st.State,
				Level: stateLevel(st.State), Message: why})
		}
		if st.Target != old.Target && old.Target != "" {
			evs = append(evs, events.Event{Kind: events.KindTarget, Tag: tag,
				Message: fmt.Sprintf("target %s -> %s", old.Target, st.Target)})
		}
		st.Node = d.node.Name
		changes[tag] = st
		if d.cl != nil {
			continue // the replicated store's mirror follows (clusterSetStatus)
		}
		d.status[tag] = st
		if st.State == model.ISP {
			d.mon.Set(tag, r.CheckInterval())
		} else {
			d.mon.Remove(tag)
		}
	}
	d.mu.Unlock()
	slices.SortFunc(evs, func(a, b events.Event) int { return cmp.Compare(a.Tag, b.Tag) })
	if d.cl != nil {
		d.clusterSetStatus(changes, evs)
		return
	}
	for _, e := range evs {
		d.event(e)
	}
	d.persist(changes)
}

func stateLevel(s model.State) string {
	switch s {
	case model.OSF, model.Unknown:
		return "error"
	}
	return "info"
}

// update changes one resource's status with fn.
func (d *Daemon) update(tag, why string, fn func(*model.Status)) {
	d.mu.Lock()
	st := d.status[tag]
	d.mu.Unlock()
	fn(&st)
	d.setStatus(why, map[string]model.Status{tag: st})
}

// setState sets one resource's state, with a reason for OSF/UNKNOWN.
func (d *Daemon) setState(tag string, s model.State, why string) {
	d.update(tag, why, func(st *model.Status) {
		st.State = s
		st.Reason = ""
		if s == model.OSF || s == model.Unknown || s == model.ISU {
			st.Reason = why
		}
	})
}

// state implements ark.Host: the state of any resource, for state() and
// ins_list in scripts.
func (d *Daemon) State(_ context.Context, tag string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.graph.Resource(tag) == nil {
		return "", fmt.Errorf("resource %s is not defined", tag)
	}
	st := d.status[tag].State
	if st == "" {
		st = model.OSU
	}
	return string(st), nil
}
