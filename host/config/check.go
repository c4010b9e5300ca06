package config

import (
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"weak"

	"github.com/ark-ha/ark/host/model"
	"github.com/ark-ha/ark/sdk/ark"
)

// Schemas gives the schema of each resource type enabled on the node;
// the plugin manager implements it from its kits' Info, tests with a
// SchemaMap. If it also implements TypeLister, errors about an unknown
// type list the enabled ones.
type Schemas interface {
	Schema(typ string) (ark.Info, bool)
}

// TypeLister is the optional extra of a Schemas that can list its types.
type TypeLister interface {
	// Types returns the enabled resource types, sorted.
	Types() []string
}

// SchemaMap is a Schemas from a fixed set of types, keyed by type name.
type SchemaMap map[string]ark.Info

// Schema implements Schemas.
func (m SchemaMap) Schema(typ string) (ark.Info, bool) {
	i, ok := m[typ]
	return i, ok
}

// Types implements TypeLister.
func (m SchemaMap) Types() []string { return slices.Sorted(maps.Keys(m)) }

var (
	_ Schemas    = SchemaMap(nil)
	_ TypeLister = SchemaMap(nil)
)

// Check checks a whole set of resource definitions, typically every file
// the admin defines at once, for what no single file can tell: tags
// defined twice across files, dependencies on resources that are not
// defined, dependency cycles (each named in full), resources of one
// failover group that set its policy, switchback, max_failovers or
// failover_reset_after to different values, and, when kits is not nil,
// types no enabled kit provides, parameters the kit's schema refuses,
// timeouts for actions the kit does not implement, and a kit's default
// quickCheck timeout that does not fit the resource's interval.
//
// It does no I/O and changes nothing. Errors point at the lines the
// resources were parsed from (the params line of a bad parameter, the
// depends_on item of a missing child) when they came from
// ParseResources, else at their Pos. It returns nil or Errors.
func Check(rs []*model.Resource, kits Schemas) error {
	var errs Errors
	c := checker{errs: &errs}
	byTag := map[string]*model.Resource{}
	var unique []*model.Resource
	for _, r := range rs {
		if prev, dup := byTag[r.Tag]; dup {
			where := "at " + prev.Pos.String()
			switch {
			case prev.Pos.File == "":
				where = "earlier"
			case prev.Pos.File == r.Pos.File && prev.Pos.Line != 0:
				where = fmt.Sprintf("at line %d", prev.Pos.Line)
			}
			c.errorf(r, "tag", "tag %q is also defined %s", r.Tag, where)
			continue
		}
		byTag[r.Tag] = r
		unique = append(unique, r)
	}
	if kits != nil {
		for _, r := range unique {
			c.kit(r, kits)
		}
	}
	if g := c.graph(unique, byTag); g != nil {
		c.groups(unique, g)
	}
	return errs.err()
}

// CheckNodes reports every priority of rs naming a node that is not in
// nodes: the nodes that may host resources (Cluster.Hosts, or the node's
// own name in single-node mode). A name that looks like a typo of one of
// them gets a suggestion. Like Check it does no I/O, points at the
// priority's line when rs came from ParseResources, and returns nil or
// Errors.
func CheckNodes(rs []*model.Resource, nodes []string) error {
	var errs Errors
	c := checker{errs: &errs}
	known := slices.Compact(slices.Sorted(slices.Values(nodes)))
	list := "the cluster has none"
	if len(known) > 0 {
		list = "nodes that may host resources: " + strings.Join(known, ", ")
	}
	for _, r := range rs {
		for _, n := range slices.Sorted(maps.Keys(r.Priorities)) {
			if slices.Contains(known, n) {
				continue
			}
			msg := fmt.Sprintf("%s is not a node of the cluster", n)
			if s := suggest(n, known); s != "" {
				msg += fmt.Sprintf(": did you mean %s?", s)
			}
			c.errorf(r, "priorities."+n, "%s (%s)", msg, list)
		}
	}
	return errs.err()
}

type checker struct {
	errs *Errors
}

// where locates part key of r's definition ("params.dir", "type"):
// where the parser saw it, else r's own line. The field falls back to
// the tag, which is all a resource built in Go has for a name.
func (c checker) where(r *model.Resource, key string) (model.Pos, int, string) {
	src := lookup(r)
	if src == nil {
		return r.Pos, 0, join(r.Tag, key)
	}
	if l, ok := src.at[key]; ok {
		return model.Pos{File: r.Pos.File, Line: l.line}, l.col, l.field
	}
	return r.Pos, 0, join(src.field, key)
}

// errorf records an error about part key of r.
func (c checker) errorf(r *model.Resource, key, format string, args ...any) {
	pos, col, field := c.where(r, key)
	c.errs.addCol(pos, col, field, format, args...)
}

func (c checker) kit(r *model.Resource, kits Schemas) {
	info, ok := kits.Schema(r.Type)
	if !ok {
		msg := fmt.Sprintf("no enabled kit provides resource type %q", r.Type)
		if l, ok := kits.(TypeLister); ok {
			types := l.Types()
			if s := suggest(r.Type, types); s != "" {
				msg += fmt.Sprintf(": did you mean %s?", s)
			}
			if len(types) == 0 {
				msg += " (no kits are enabled)"
			} else {
				msg += fmt.Sprintf(" (enabled: %s)", strings.Join(types, ", "))
			}
		}
		c.errorf(r, "type", "%s", msg)
		return
	}
	c.params(r, info)
	for _, a := range slices.Sorted(maps.Keys(r.Timeouts)) {
		if !info.Supports(a) {
			c.errorf(r, "timeouts."+string(a), "resource type %s does not implement %s", r.Type, a)
		}
	}
	if _, own := r.Timeouts[ark.QuickCheck]; !own && info.Supports(ark.QuickCheck) {
		what := fmt.Sprintf("kit %s's default quickCheck timeout", r.Type)
		if msg := quickCheckVsInterval(info.DefaultTimeouts[ark.QuickCheck], r, what); msg != "" {
			c.errorf(r, "interval", "%s; set timeouts.quickCheck", msg)
		}
	}
}

// params validates r's parameters one by one, so that each error points
// at the parameter's own line, then the required ones.
func (c checker) params(r *model.Resource, info ark.Info) {
	// A copy with nothing required: one parameter alone must not be
	// blamed for the others that are missing.
	lone := info
	lone.Params = slices.Clone(info.Params)
	for i := range lone.Params {
		lone.Params[i].Required = false
	}
	found := false
	for _, k := range slices.Sorted(maps.Keys(r.Params)) {
		if err := lone.ValidateParams(map[string]string{k: r.Params[k]}); err != nil {
			c.errorf(r, "params."+k, "%s", err)
			found = true
		}
	}
	for _, spec := range info.Params {
		if _, ok := r.Params[spec.Name]; spec.Required && !ok {
			c.errorf(r, "params", "missing required parameter %q of resource type %s", spec.Name, r.Type)
			found = true
		}
	}
	// Whatever else the schema checks on the whole set.
	if err := info.ValidateParams(r.Params); err != nil && !found {
		c.errorf(r, "params", "%s", err)
	}
}

// graph reports every missing child, then the dependency cycles among
// the rest: NewGraph stops at the first problem, so missing children are
// found here and left out, and each cycle found is broken and the search
// repeated. It returns the graph of what is left, which has the failover
// groups of rs (breaking a cycle at one edge disconnects nothing), or nil
// if it gave up.
func (c checker) graph(rs []*model.Resource, byTag map[string]*model.Resource) *model.Graph {
	copies := make([]*model.Resource, len(rs))
	for i, r := range rs {
		cp := &model.Resource{Tag: r.Tag}
		for _, child := range r.DependsOn {
			if _, ok := byTag[child]; ok {
				cp.DependsOn = append(cp.DependsOn, child)
				continue
			}
			msg := fmt.Sprintf("%s depends on %s, which is not defined", r.Tag, child)
			if s := suggest(child, slices.Sorted(maps.Keys(byTag))); s != "" {
				msg += fmt.Sprintf(": did you mean %s?", s)
			}
			c.errorf(r, "depends_on."+child, "%s", msg)
		}
		copies[i] = cp
	}
	byCopy := map[string]*model.Resource{}
	for _, cp := range copies {
		byCopy[cp.Tag] = cp
	}
	for range len(copies) + 1 {
		g, err := model.NewGraph(copies)
		var ce *model.CycleError
		if !errors.As(err, &ce) {
			return g
		}
		first := byTag[ce.Cycle[0]]
		_, _, field := c.where(first, "depends_on")
		c.errs.add(first.Pos, field, "dependency cycle: %s", strings.Join(ce.Cycle, " -> "))
		// Break the cycle where it closes, and look for another.
		from, to := byCopy[ce.Cycle[len(ce.Cycle)-2]], ce.Cycle[len(ce.Cycle)-1]
		from.DependsOn = slices.DeleteFunc(from.DependsOn, func(t string) bool { return t == to })
	}
	return nil
}

// groupSettings are the settings of a resource that are its failover
// group's: the group moves as one, so its resources must agree on them.
// value returns a setting as messages show it, and whether r sets it.
var groupSettings = []struct {
	key   string
	value func(r *model.Resource) (string, bool)
}{
	{"policy", func(r *model.Resource) (string, bool) { return strconv.Quote(r.Policy), r.Policy != "" }},
	{"switchback", func(r *model.Resource) (string, bool) { return strconv.Quote(r.Switchback), r.Switchback != "" }},
	{"max_failovers", func(r *model.Resource) (string, bool) {
		if r.MaxFailovers == nil {
			return "", false
		}
		return strconv.Itoa(*r.MaxFailovers), true
	}},
	{"failover_reset_after", func(r *model.Resource) (string, bool) {
		return r.FailoverResetAfter.String(), r.FailoverResetAfter != 0
	}},
}

// groups reports the resources of a failover group that disagree on one
// of groupSettings: the first resource of rs that sets it decides, and
// every later one of the group that sets another value is blamed, with
// where the first one set it. Resources that leave a setting out agree
// with anything.
func (c checker) groups(rs []*model.Resource, g *model.Graph) {
	for _, s := range groupSettings {
		first := map[string]*model.Resource{} // group name -> first resource setting s
		for _, r := range rs {
			v, ok := s.value(r)
			if !ok {
				continue
			}
			grp := g.GroupName(r.Tag)
			ref, seen := first[grp]
			if !seen {
				first[grp] = r
				continue
			}
			if want, _ := s.value(ref); v != want {
				c.errorf(r, s.key, "%s here but %s on resource %s%s of the same failover group %s",
					v, want, ref.Tag, c.seenAt(ref, s.key, r), grp)
			}
		}
	}
}

// seenAt says where part key of r was defined, for a message about from:
// " (line 3)" in the same file, " (a.yaml:3)" in another, or nothing
// when r has no position.
func (c checker) seenAt(r *model.Resource, key string, from *model.Resource) string {
	pos, _, _ := c.where(r, key)
	switch {
	case pos.File == "":
		return ""
	case pos.File == from.Pos.File && pos.Line != 0:
		return fmt.Sprintf(" (line %d)", pos.Line)
	}
	return " (" + pos.String() + ")"
}

// loc is where a part of a resource definition was written.
type loc struct {
	field     string // resources[3].params.dir
	line, col int
}

// source is what Check needs of a resource's file beyond its Pos: the
// field path and line of each part, keyed by "interval", "params.dir",
// "depends_on.web-ip", "timeouts.quickCheck" (canonical action name).
type source struct {
	field string // resources[3]
	at    map[string]loc
}

// sources maps a parsed *model.Resource to its source. model.Resource
// has no room for it and should not: lines are the parser's business.
// The keys are weak, and an entry is dropped when its resource is
// collected, so the map holds on to nothing; it is the package's only
// mutable state, invisible to callers.
var sources sync.Map // weak.Pointer[model.Resource] -> *source

func remember(r *model.Resource, s *source) {
	k := weak.Make(r)
	sources.Store(k, s)
	runtime.AddCleanup(r, func(k weak.Pointer[model.Resource]) { sources.Delete(k) }, k)
}

func lookup(r *model.Resource) *source {
	s, ok := sources.Load(weak.Make(r))
	if !ok {
		return nil
	}
	return s.(*source)
}
