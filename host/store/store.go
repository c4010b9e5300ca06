package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/ark-ha/ark/host/events"
	"github.com/ark-ha/ark/host/model"
)

// Data is everything the store keeps: resource definitions by tag, their
// statuses by tag, and the kits enabled at run time by name.
type Data struct {
	Resources map[string]*model.Resource `json:"resources"`
	Status    map[string]model.Status    `json:"status"`
	Kits      map[string]model.Kit       `json:"kits"`
	// Groups and Nodes are the cluster's bookkeeping (failover counts,
	// maintenance); a single node leaves them empty.
	Groups map[string]model.GroupStatus `json:"groups,omitempty"`
	Nodes  map[string]model.NodeStatus  `json:"nodes,omitempty"`
}

// Op is one atomic change to Data. Every field is optional; the parts are
// applied in the order Undefine, Define, Status, DisableKits, EnableKits,
// so one Op can replace a resource (undefine and define the same tag) or
// define a resource together with its first status.
//
// An Op is data: it encodes to JSON and back without loss, which is how a
// replicated log carries it.
type Op struct {
	// Define adds resources, or replaces those with the same tag (their
	// status is kept).
	Define []*model.Resource `json:"define,omitempty"`
	// Undefine removes resources by tag, with their status. A tag that
	// is not defined is ignored, so that retrying an Op is harmless.
	Undefine []string `json:"undefine,omitempty"`
	// Status sets the whole status of resources by tag. Each tag must be
	// defined once Undefine and Define have been applied.
	Status map[string]model.Status `json:"status,omitempty"`
	// EnableKits adds kits, or replaces those with the same name.
	EnableKits []model.Kit `json:"enable_kits,omitempty"`
	// DisableKits removes kits by name; an unknown name is ignored.
	DisableKits []string `json:"disable_kits,omitempty"`
	// States sets statuses like Status but keeps each resource's target:
	// a node reports what it observed while only the admin (through the
	// leader) changes targets. Applied after Status. A report from a node
	// about a resource recorded in service (or UNKNOWN) on another node is
	// ignored: it is stale (the node was cut off while the resource moved).
	States map[string]model.Status `json:"states,omitempty"`
	// Groups sets the bookkeeping of failover groups by name; a zero
	// value deletes it.
	Groups map[string]model.GroupStatus `json:"groups,omitempty"`
	// Nodes sets the admin state of nodes by name.
	Nodes map[string]model.NodeStatus `json:"nodes,omitempty"`
	// Events are carried to every node's event history by a replicated
	// store; Data does not keep them.
	Events []events.Event `json:"events,omitempty"`
}

// Empty reports whether op changes nothing.
func (op Op) Empty() bool {
	return len(op.Define) == 0 && len(op.Undefine) == 0 && len(op.Status) == 0 &&
		len(op.EnableKits) == 0 && len(op.DisableKits) == 0 && len(op.States) == 0 &&
		len(op.Groups) == 0 && len(op.Nodes) == 0 && len(op.Events) == 0
}

// Store is the daemon's state. Implementations are safe for concurrent
// use; a change made by Apply is visible to every later Read.
type Store interface {
	// Read returns a deep copy of the whole state, with non-nil maps.
	// It does not block on I/O.
	Read() Data
	// Apply makes op's change atomically: all of it or none of it. An
	// invalid op is rejected with an error wrapping ErrInvalid and
	// changes nothing; an op that was applied but could not be made
	// durable returns an error wrapping ErrNotDurable (see File.Apply).
	// If ctx is done before the change is applied, Apply returns
	// ctx.Err() and changes nothing. Apply blocks until the change is
	// durable or has failed to be.
	Apply(ctx context.Context, op Op) error
	// Close makes pending changes durable if it can, releases the
	// store's resources and returns the first error. Apply after Close
	// fails with ErrClosed.
	Close() error
}

var (
	// ErrInvalid marks an Op that breaks the store's invariants (an empty
	// or repeated tag, the status of an undefined resource...). Nothing
	// was changed.
	ErrInvalid = errors.New("invalid store op")
	// ErrNotDurable marks a change that was applied in memory (Read
	// shows it) but could not be written to stable storage. A later
	// Apply or Flush tries again; until one succeeds, a restart loses
	// the change.
	ErrNotDurable = errors.New("the change is kept in memory only")
	// ErrClosed is returned by Apply and Flush after Close.
	ErrClosed = errors.New("store is closed")
)

// Apply changes d as op says, atomically: op is checked against d first
// and, if invalid, d is left untouched and the error wraps ErrInvalid. It
// is the deterministic state transition every Store implementation uses
// (a replicated log's state machine calls it on every node). Nil maps in d
// are created. d keeps copies of op's resources, never op's own pointers.
func (d *Data) Apply(op Op) error {
	if err := d.check(op); err != nil {
		return err
	}
	if d.Resources == nil {
		d.Resources = map[string]*model.Resource{}
	}
	if d.Status == nil {
		d.Status = map[string]model.Status{}
	}
	if d.Kits == nil {
		d.Kits = map[string]model.Kit{}
	}
	for _, tag := range op.Undefine {
		delete(d.Resources, tag)
		delete(d.Status, tag)
	}
	for _, r := range op.Define {
		d.Resources[r.Tag] = cloneResource(r)
	}
	maps.Copy(d.Status, op.Status)
	for tag, st := range op.States {
		cur := d.Status[tag]
		if cur.Node != "" && st.Node != "" && cur.Node != st.Node && (cur.State.InService() || cur.State == model.Unknown) {
			continue // a stale report: the resource runs on cur.Node now
		}
		st.Target = cur.Target
		d.Status[tag] = st
	}
	for name, g := range op.Groups {
		if d.Groups == nil {
			d.Groups = map[string]model.GroupStatus{}
		}
		if g.IsZero() {
			delete(d.Groups, name)
			continue
		}
		d.Groups[name] = cloneGroup(g)
	}
	for name, n := range op.Nodes {
		if d.Nodes == nil {
			d.Nodes = map[string]model.NodeStatus{}
		}
		d.Nodes[name] = n
	}
	for _, name := range op.DisableKits {
		delete(d.Kits, name)
	}
	for _, k := range op.EnableKits {
		d.Kits[k.Name] = k
	}
	return nil
}

// check reports why op cannot be applied to d, or nil.
func (d *Data) check(op Op) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	undefined := map[string]bool{}
	for _, tag := range op.Undefine {
		if tag == "" {
			return bad("undefine: empty tag")
		}
		undefined[tag] = true
	}
	defined := map[string]bool{}
	for i, r := range op.Define {
		switch {
		case r == nil:
			return bad("define[%d]: no resource", i)
		case r.Tag == "":
			return bad("define[%d]: empty tag", i)
		case defined[r.Tag]:
			return bad("define: resource %q appears twice", r.Tag)
		}
		defined[r.Tag] = true
	}
	for _, m := range []map[string]model.Status{op.Status, op.States} {
		for _, tag := range slices.Sorted(maps.Keys(m)) {
			if tag == "" {
				return bad("status: empty tag")
			}
			if _, ok := d.Resources[tag]; !defined[tag] && (!ok || undefined[tag]) {
				return bad("status of %q: no such resource", tag)
			}
		}
	}
	for _, name := range op.DisableKits {
		if name == "" {
			return bad("disable kit: empty name")
		}
	}
	enabled := map[string]bool{}
	for i, k := range op.EnableKits {
		switch {
		case k.Name == "":
			return bad("enable_kits[%d]: empty name", i)
		case enabled[k.Name]:
			return bad("enable kits: kit %q appears twice", k.Name)
		}
		enabled[k.Name] = true
	}
	return nil
}

// Clone returns a deep copy of d that shares no memory with it, with
// non-nil maps.
func (d Data) Clone() Data {
	c := Data{
		Resources: make(map[string]*model.Resource, len(d.Resources)),
		Status:    maps.Clone(d.Status),
		Kits:      maps.Clone(d.Kits),
	}
	for tag, r := range d.Resources {
		c.Resources[tag] = cloneResource(r)
	}
	if c.Status == nil {
		c.Status = map[string]model.Status{}
	}
	if c.Kits == nil {
		c.Kits = map[string]model.Kit{}
	}
	if d.Groups != nil {
		c.Groups = make(map[string]model.GroupStatus, len(d.Groups))
		for name, g := range d.Groups {
			c.Groups[name] = cloneGroup(g)
		}
	}
	c.Nodes = maps.Clone(d.Nodes)
	return c
}

func cloneGroup(g model.GroupStatus) model.GroupStatus {
	g.FailedOn = maps.Clone(g.FailedOn)
	return g
}

// verify reports the first broken invariant of d (data read back from
// disk), or nil.
func (d Data) verify() error {
	for _, tag := range slices.Sorted(maps.Keys(d.Resources)) {
		switch r := d.Resources[tag]; {
		case r == nil:
			return fmt.Errorf("resource %q is null", tag)
		case r.Tag != tag:
			return fmt.Errorf("resource %q is stored under the tag %q", r.Tag, tag)
		}
	}
	for _, tag := range slices.Sorted(maps.Keys(d.Status)) {
		if d.Resources[tag] == nil {
			return fmt.Errorf("status of %q: no such resource", tag)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(d.Kits)) {
		if k := d.Kits[name]; k.Name != name {
			return fmt.Errorf("kit %q is stored under the name %q", k.Name, name)
		}
	}
	return nil
}

// cloneResource returns a deep copy of r. model.Resource's status and kit
// siblings hold no references, so only resources need this; the test
// TestCloneSharesNothing fails when a field is added that this misses.
func cloneResource(r *model.Resource) *model.Resource {
	c := *r
	c.Params = maps.Clone(r.Params)
	c.DependsOn = slices.Clone(r.DependsOn)
	c.Priorities = maps.Clone(r.Priorities)
	c.Timeouts = maps.Clone(r.Timeouts)
	if r.RestartAttempts != nil {
		n := *r.RestartAttempts
		c.RestartAttempts = &n
	}
	if r.MaxFailovers != nil {
		n := *r.MaxFailovers
		c.MaxFailovers = &n
	}
	return &c
}
