package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ark-ha/ark/host/api"
	"github.com/ark-ha/ark/host/config"
	"github.com/ark-ha/ark/host/events"
	"github.com/ark-ha/ark/host/model"
	"github.com/ark-ha/ark/host/store"
)

// UsageError is a request the daemon refuses because of what it asks
// (bad file, unknown resource): arkctl exits 2 on it.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usage(format string, a ...any) error { return &UsageError{Err: fmt.Errorf(format, a...)} }

// Define validates a definition file against the running configuration
// and the kits' schemas and, unless mode is validate, applies it all or
// nothing: define adds resources (an identical definition is left
// alone, a different one must go through update), update replaces
// existing ones, undefine removes the file's resources (out of service,
// and nothing else may depend on them).
func (d *Daemon) Define(ctx context.Context, mode, file string, data []byte) (api.DefineReply, error) {
	rs, err := config.ParseResources(file, data)
	if err != nil {
		return api.DefineReply{}, &UsageError{Err: err}
	}
	if mode == api.ModeValidate {
		d.ops.RLock()
		defer d.ops.RUnlock()
	} else {
		d.ops.Lock()
		defer d.ops.Unlock()
	}
	d.mu.Lock()
	cur := map[string]*model.Resource{}
	for _, t := range d.graph.Tags() {
		cur[t] = d.graph.Resource(t)
	}
	status := maps.Clone(d.status)
	d.mu.Unlock()

	reply := api.DefineReply{Changes: map[string]string{}}
	next := maps.Clone(cur)
	var op store.Op
	var errs []string
	for _, r := range rs {
		old, exists := cur[r.Tag]
		switch mode {
		case api.ModeValidate, api.ModeDefine:
			switch {
			case !exists:
				reply.Changes[r.Tag] = "added"
			case old.Same(r):
				reply.Changes[r.Tag] = "unchanged"
				continue
			case mode == api.ModeDefine:
				errs = append(errs, fmt.Sprintf("%s: resource %s is already defined (%s) differently: use update", r.Pos, r.Tag, old.Pos))
				continue
			default:
				reply.Changes[r.Tag] = "updated"
			}
		case api.ModeUpdate:
			switch st := status[r.Tag].State; {
			case !exists:
				errs = append(errs, fmt.Sprintf("%s: resource %s is not defined: use define", r.Pos, r.Tag))
				continue
			case old.Same(r):
				reply.Changes[r.Tag] = "unchanged"
				continue
			case r.Type != old.Type && (st.InService() || st == model.Unknown):
				// The new type's remove would not stop what the old one started.
				errs = append(errs, fmt.Sprintf("%s: resource %s is %s as type %s: stop it before changing its type to %s",
					r.Pos, r.Tag, st, old.Type, r.Type))
				continue
			}
			reply.Changes[r.Tag] = "updated"
		case api.ModeUndefine:
			switch st := status[r.Tag].State; {
			case !exists:
				errs = append(errs, fmt.Sprintf("%s: resource %s is not defined", r.Pos, r.Tag))
			case st.InService() || st == model.Unknown:
				errs = append(errs, fmt.Sprintf("%s: resource %s is %s on node %s: stop it first", r.Pos, r.Tag, st, d.node.Name))
			default:
				reply.Changes[r.Tag] = "removed"
				delete(next, r.Tag)
				op.Undefine = append(op.Undefine, r.Tag)
			}
			continue
		default:
			return api.DefineReply{}, usage("unknown mode %q", mode)
		}
		next[r.Tag] = r
		op.Define = append(op.Define, r)
	}
	if len(errs) > 0 {
		return api.DefineReply{}, &UsageError{Err: errors.New(strings.Join(errs, "\n"))}
	}
	all := slices.Collect(maps.Values(next))
	slices.SortFunc(all, func(a, b *model.Resource) int { return strings.Compare(a.Tag, b.Tag) })
	if err := config.Check(all, d.kits); err != nil {
		return api.DefineReply{}, &UsageError{Err: err}
	}
	if d.cl != nil {
		if err := config.CheckNodes(all, d.cl.cfg.Hosts()); err != nil {
			return api.DefineReply{}, &UsageError{Err: err}
		}
	}
	// The kit's own validation, for what changes.
	for _, r := range op.Define {
		rt, ok := d.kits.Type(r.Type)
		if !ok {
			continue // config.Check named it
		}
		info, _ := d.kits.Schema(r.Type)
		if err := rt.Validate(ctx, info.WithDefaults(r.Params)); err != nil {
			errs = append(errs, fmt.Sprintf("%s: resource %s: params: %v", r.Pos, r.Tag, err))
		}
	}
	if len(errs) > 0 {
		return api.DefineReply{}, &UsageError{Err: errors.New(strings.Join(errs, "\n"))}
	}
	if mode == api.ModeValidate {
		return reply, nil
	}
	if len(op.Define) == 0 && len(op.Undefine) == 0 {
		return reply, nil
	}
	g, err := model.NewGraph(all)
	if err != nil {
		return api.DefineReply{}, &UsageError{Err: err}
	}
	op.Status = map[string]model.Status{}
	for _, r := range op.Define {
		if _, ok := status[r.Tag]; !ok {
			op.Status[r.Tag] = model.Status{Target: model.Offline, State: model.OSU}
			if d.cl == nil {
				op.Status[r.Tag] = model.Status{Target: model.Offline, State: model.OSU, Node: d.node.Name}
			}
		}
	}
	if d.cl != nil {
		if err := d.record(ctx, op); err != nil {
			return api.DefineReply{}, fmt.Errorf("definitions not replicated: %w", err)
		}
		for _, t := range slices.Sorted(maps.Keys(reply.Changes)) {
			if c := reply.Changes[t]; c != "unchanged" {
				d.event(events.Event{Kind: events.KindConfig, Tag: t, Message: fmt.Sprintf("resource %s %s from %s", t, c, file)})
			}
		}
		return reply, nil
	}
	if err := d.store.Apply(ctx, op); err != nil && !errors.Is(err, store.ErrNotDurable) {
		return api.DefineReply{}, err
	} else if err != nil {
		d.event(events.Event{Kind: events.KindError, Level: "error", Message: "definitions not saved (kept in memory): " + err.Error()})
	}
	d.mu.Lock()
	d.graph = g
	for tag, st := range op.Status {
		d.status[tag] = st
	}
	for _, tag := range op.Undefine {
		delete(d.status, tag)
		d.mon.Remove(tag)
	}
	// A changed interval takes effect now.
	for _, r := range op.Define {
		if d.status[r.Tag].State == model.ISP {
			d.mon.Set(r.Tag, r.CheckInterval())
		}
	}
	d.mu.Unlock()
	for _, t := range slices.Sorted(maps.Keys(reply.Changes)) {
		if c := reply.Changes[t]; c != "unchanged" {
			d.event(events.Event{Kind: events.KindConfig, Tag: t, Message: fmt.Sprintf("resource %s %s from %s", t, c, file)})
		}
	}
	return reply, nil
}
