package model

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Graph is the dependency DAG of a set of resources: edges go from a
// parent to the children it depends on. It is immutable once built.
type Graph struct {
	res      map[string]*Resource
	parents  map[string][]string
	children map[string][]string
	// comp maps a tag to its failover group (sorted tags) and the
	// group's name, computed once: every action asks for them.
	comp map[string]*component
}

type component struct {
	tags    []string
	name    string
	storage []string // members of a storage type
}

// StorageTypes are the resource types whose state makes ARK_DISK
// (CLUSTERPRO's ARMS_DISK): filesystems and disk reservations.
var StorageTypes = []string{"fs", "diskres"}

// MissingChildError is a dependency on a resource that is not defined.
type MissingChildError struct {
	Parent, Child string
}

func (e *MissingChildError) Error() string {
	return fmt.Sprintf("resource %s depends on %s, which is not defined", e.Parent, e.Child)
}

// CycleError is a dependency cycle; Cycle starts and ends with the same
// tag ("a", "b", "a").
type CycleError struct {
	Cycle []string
}

func (e *CycleError) Error() string {
	return "dependency cycle: " + strings.Join(e.Cycle, " -> ")
}

// NewGraph builds the graph of rs. It fails with a *MissingChildError or
// a *CycleError (the first found, in tag order, so the message is stable).
func NewGraph(rs []*Resource) (*Graph, error) {
	g := &Graph{
		res:      make(map[string]*Resource, len(rs)),
		parents:  map[string][]string{},
		children: map[string][]string{},
	}
	for _, r := range rs {
		g.res[r.Tag] = r
	}
	for _, tag := range g.Tags() {
		r := g.res[tag]
		for _, c := range r.DependsOn {
			if _, ok := g.res[c]; !ok {
				return nil, &MissingChildError{Parent: tag, Child: c}
			}
			if !slices.Contains(g.children[tag], c) {
				g.children[tag] = append(g.children[tag], c)
				g.parents[c] = append(g.parents[c], tag)
			}
		}
	}
	for _, m := range []map[string][]string{g.children, g.parents} {
		for _, v := range m {
			slices.Sort(v)
		}
	}
	if c := g.cycle(); c != nil {
		return nil, &CycleError{Cycle: c}
	}
	g.comp = map[string]*component{}
	for _, t := range g.Tags() {
		if g.comp[t] != nil {
			continue
		}
		c := &component{tags: g.walkGroup(t)}
		for _, m := range c.tags {
			g.comp[m] = c
			if slices.Contains(StorageTypes, g.res[m].Type) {
				c.storage = append(c.storage, m)
			}
			if c.name == "" && len(g.parents[m]) == 0 {
				c.name = m
			}
		}
		if c.name == "" {
			c.name = c.tags[0]
		}
	}
	return g, nil
}

// cycle returns a dependency cycle, or nil.
func (g *Graph) cycle() []string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var found []string
	var visit func(string) bool
	visit = func(t string) bool {
		color[t] = grey
		stack = append(stack, t)
		for _, c := range g.children[t] {
			switch color[c] {
			case grey:
				i := slices.Index(stack, c)
				found = append(slices.Clone(stack[i:]), c)
				return true
			case white:
				if visit(c) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[t] = black
		return false
	}
	for _, t := range g.Tags() {
		if color[t] == white && visit(t) {
			return found
		}
	}
	return nil
}

// Tags returns every tag, sorted.
func (g *Graph) Tags() []string { return slices.Sorted(maps.Keys(g.res)) }

// Resource returns the definition of tag, or nil.
func (g *Graph) Resource(tag string) *Resource { return g.res[tag] }

// Children returns the resources tag depends on, sorted.
func (g *Graph) Children(tag string) []string { return slices.Clone(g.children[tag]) }

// Parents returns the resources that depend on tag, sorted.
func (g *Graph) Parents(tag string) []string { return slices.Clone(g.parents[tag]) }

// Below returns tag and everything it depends on, transitively: what
// must be in service for tag to start. Sorted.
func (g *Graph) Below(tag string) []string { return g.closure(tag, g.children) }

// Above returns tag and everything that depends on it, transitively:
// what must stop before tag stops. Sorted.
func (g *Graph) Above(tag string) []string { return g.closure(tag, g.parents) }

// Group returns the failover group of tag, its connected component:
// the unit that moves between nodes. Sorted.
func (g *Graph) Group(tag string) []string {
	if c := g.comp[tag]; c != nil {
		return slices.Clone(c.tags)
	}
	return nil
}

func (g *Graph) walkGroup(tag string) []string {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(t string) {
		if seen[t] || g.res[t] == nil {
			return
		}
		seen[t] = true
		for _, c := range g.children[t] {
			walk(c)
		}
		for _, p := range g.parents[t] {
			walk(p)
		}
	}
	walk(tag)
	return slices.Sorted(maps.Keys(seen))
}

// Storage returns the members of tag's failover group whose type is one
// of StorageTypes, sorted.
func (g *Graph) Storage(tag string) []string {
	if c := g.comp[tag]; c != nil {
		return slices.Clone(c.storage)
	}
	return nil
}

// GroupName names the failover group of tag (ARK_GROUP): its first root
// (a resource nothing depends on) in tag order, like LifeKeeper names a
// hierarchy by its top resource.
func (g *Graph) GroupName(tag string) string {
	if c := g.comp[tag]; c != nil {
		return c.name
	}
	return tag
}

// Groups returns every failover group, each sorted, in order of name.
func (g *Graph) Groups() [][]string {
	seen := map[string]bool{}
	var out [][]string
	for _, t := range g.Tags() {
		if seen[t] {
			continue
		}
		grp := g.Group(t)
		for _, m := range grp {
			seen[m] = true
		}
		out = append(out, grp)
	}
	slices.SortFunc(out, func(a, b []string) int {
		return strings.Compare(g.GroupName(a[0]), g.GroupName(b[0]))
	})
	return out
}

func (g *Graph) closure(tag string, next map[string][]string) []string {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(t string) {
		if seen[t] || g.res[t] == nil {
			return
		}
		seen[t] = true
		for _, n := range next[t] {
			walk(n)
		}
	}
	walk(tag)
	return slices.Sorted(maps.Keys(seen))
}

// StartLayers orders tags for bring-up: each layer holds resources whose
// children (among tags) are all in earlier layers, so a layer's members
// may start in parallel. Each layer is sorted.
func (g *Graph) StartLayers(tags []string) [][]string { return g.layers(tags, g.children) }

// StopLayers orders tags for bring-down: parents before children.
func (g *Graph) StopLayers(tags []string) [][]string { return g.layers(tags, g.parents) }

// layers is Kahn's algorithm on the subgraph of tags, where first[t]
// must come before t.
func (g *Graph) layers(tags []string, first map[string][]string) [][]string {
	in := map[string]bool{}
	for _, t := range tags {
		if g.res[t] != nil {
			in[t] = true
		}
	}
	done := map[string]bool{}
	var out [][]string
	for len(done) < len(in) {
		var layer []string
		for t := range in {
			if done[t] {
				continue
			}
			ready := true
			for _, f := range first[t] {
				if in[f] && !done[f] {
					ready = false
					break
				}
			}
			if ready {
				layer = append(layer, t)
			}
		}
		if len(layer) == 0 {
			break // a cycle: NewGraph refuses them
		}
		slices.Sort(layer)
		for _, t := range layer {
			done[t] = true
		}
		out = append(out, layer)
	}
	return out
}
