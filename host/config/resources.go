package config

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/ark-ha/ark/host/model"
	"github.com/ark-ha/ark/sdk/ark"
)

var (
	tagName   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	paramName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
)

// resourceFields are the keys of a resource definition, in the order the
// documentation lists them (and "known:" messages do).
var resourceFields = []string{
	"tag", "type", "id", "depends_on", "priorities", "interval", "timeouts",
	"restart_attempts", "failure_interval", "failure_threshold",
	"policy", "switchback", "max_failovers", "failover_reset_after",
	"quickcheck_timeout_is_failure", "pidfile", "params",
}

// policies and switchbacks are the values of policy and switchback.
var (
	policies    = []string{model.PolicyPriority, model.PolicyStable, model.PolicyBalanced}
	switchbacks = []string{model.SwitchbackIntelligent, model.SwitchbackAutomatic}
)

// LoadResources reads and parses the resource definition file at path.
// Errors are the os error of reading the file, or Errors.
func LoadResources(path string) ([]*model.Resource, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseResources(path, data)
}

// ParseResources parses a resource definition file read from the file
// called name (used in Pos and errors only; it does no I/O). It checks
// everything the file says about itself — keys, types, ranges, tags
// unique within the file, a quickCheck timeout shorter than the interval
// — and returns the resources in file order, or nil and Errors. What
// needs other files or the enabled kits is Check's job.
//
// Optional fields the file leaves out stay zero in the result (see
// model.Resource): the parser fills in no defaults, so that what the
// admin wrote is what an update compares.
func ParseResources(name string, data []byte) ([]*model.Resource, error) {
	p := &parser{file: name}
	root := p.document(data, "a resources: list")
	if root == nil {
		return nil, p.errs.err()
	}
	entries, ok := p.mapping(root, "", []string{"resources"})
	if !ok {
		return nil, p.errs.err()
	}
	if len(entries) == 0 {
		if len(p.errs) == 0 {
			p.errorf(root, "resources", "required field not set: the list of resources")
		}
		return nil, p.errs.err()
	}
	items, ok := p.list(entries[0].v, "resources")
	if !ok {
		return nil, p.errs.err()
	}
	var (
		rs      []*model.Resource
		sources []*source
		first   = map[string]int{}
	)
	for i, item := range items {
		field := index("resources", i)
		r, src := p.resource(item, field)
		if r == nil {
			continue
		}
		if r.Tag != "" {
			if line, dup := first[r.Tag]; dup {
				p.errs.add(r.Pos, join(field, "tag"), "duplicate tag %q (first defined at line %d)", r.Tag, line)
			} else {
				first[r.Tag] = r.Pos.Line
			}
		}
		rs = append(rs, r)
		sources = append(sources, src)
	}
	if err := p.errs.err(); err != nil {
		return nil, err
	}
	for i, r := range rs {
		remember(r, sources[i])
	}
	return rs, nil
}

// resource parses one item of the resources list. It returns nil when
// the item is not a mapping at all.
func (p *parser) resource(item *yaml.Node, field string) (*model.Resource, *source) {
	entries, ok := p.mapping(item, field, resourceFields)
	if !ok {
		return nil, nil
	}
	r := &model.Resource{Pos: p.pos(item)}
	src := &source{field: field, at: map[string]loc{}}
	note := func(key string, n *yaml.Node, f string) { src.at[key] = loc{field: f, line: n.Line, col: n.Column} }
	has := map[string]bool{}
	intervalOK := true
	for _, e := range entries {
		f := join(field, e.key)
		has[e.key] = true
		note(e.key, e.k, f)
		switch e.key {
		case "tag":
			r.Pos = p.pos(e.k)
			if s, ok := p.scalar(e.v, f); ok {
				if tagName.MatchString(s) {
					r.Tag = s
				} else {
					p.errorf(e.v, f, "%q is not a valid tag: use letters, digits, '_', '.' and '-', starting with a letter or digit", s)
				}
			}
		case "type":
			if s, ok := p.scalar(e.v, f); ok {
				if typeName.MatchString(s) {
					r.Type = s
				} else {
					p.errorf(e.v, f, "%q is not a valid resource type name: use a-z, 0-9, '-' and '_', starting with a letter", s)
				}
			}
		case "id":
			if s, ok := p.scalar(e.v, f); ok {
				if s == "" || strings.ContainsFunc(s, func(c rune) bool { return unicode.IsSpace(c) || !unicode.IsPrint(c) }) {
					p.errorf(e.v, f, "%q is not a valid id: it must be non-empty, without spaces", s)
				} else {
					r.ID = s
				}
			}
		case "depends_on":
			r.DependsOn = p.dependsOn(e.v, f, src)
		case "priorities":
			r.Priorities = p.priorities(e.v, f, src)
		case "interval":
			d, ok := p.duration(e.v, f)
			switch {
			case !ok:
				intervalOK = false
			case d < model.MinInterval:
				intervalOK = false
				p.errorf(e.v, f, "%s is shorter than the minimum %s", e.v.Value, model.MinInterval)
			default:
				r.Interval = d
			}
		case "timeouts":
			r.Timeouts = p.timeouts(e.v, f, src)
		case "restart_attempts":
			if n, ok := p.count(e.v, f); ok {
				r.RestartAttempts = &n
			}
		case "failure_interval":
			if d, ok := p.duration(e.v, f); ok {
				r.FailureInterval = d
			}
		case "failure_threshold":
			if n, ok := p.count(e.v, f); ok {
				r.FailureThreshold = n
			}
		case "policy":
			if s, ok := p.oneOf(e.v, f, policies); ok {
				r.Policy = s
			}
		case "switchback":
			if s, ok := p.oneOf(e.v, f, switchbacks); ok {
				r.Switchback = s
			}
		case "max_failovers":
			if n, ok := p.count(e.v, f); ok {
				r.MaxFailovers = &n
			}
		case "failover_reset_after":
			if d, ok := p.duration(e.v, f); ok {
				if d == 0 {
					p.errorf(e.v, f, "0 is no quiet period: give a duration, or leave it out for the default %s", model.DefaultFailoverResetAfter)
				} else {
					r.FailoverResetAfter = d
				}
			}
		case "quickcheck_timeout_is_failure":
			if b, ok := p.boolean(e.v, f); ok {
				r.QuickCheckTimeoutIsFailure = b
			}
		case "pidfile":
			if s, ok := p.scalar(e.v, f); ok {
				if filepath.IsAbs(s) {
					r.PidFile = filepath.Clean(s)
				} else {
					p.errorf(e.v, f, "%q is not an absolute path", s)
				}
			}
		case "params":
			r.Params = p.params(e.v, f, src)
		}
	}
	for _, req := range []string{"tag", "type"} {
		if !has[req] {
			p.errs.add(r.Pos, join(field, req), "required field not set")
		}
	}
	if r.Tag != "" {
		if l, ok := src.at["depends_on."+r.Tag]; ok {
			p.errs.addCol(model.Pos{File: p.file, Line: l.line}, l.col, l.field, "%s depends on itself", r.Tag)
		}
	}
	if d, ok := r.Timeouts[ark.QuickCheck]; ok && intervalOK {
		l := src.at["timeouts."+string(ark.QuickCheck)]
		pos := model.Pos{File: p.file, Line: l.line}
		if msg := quickCheckVsInterval(d, r, "the quickCheck timeout"); msg != "" {
			p.errs.addCol(pos, l.col, l.field, "%s", msg)
		}
	}
	return r, src
}

// quickCheckVsInterval explains why timeout d (what names it) does not
// fit r's interval, or returns "". A check must end before the next one
// is due (DESIGN §4), so none does not fit either.
func quickCheckVsInterval(d time.Duration, r *model.Resource, what string) string {
	interval := "the interval"
	if r.Interval == 0 {
		interval = "the default interval"
	}
	if d <= 0 {
		return fmt.Sprintf("%s is none, but a quickCheck must end before the next one: give one shorter than %s %s", what, interval, r.CheckInterval())
	}
	if d >= r.CheckInterval() {
		return fmt.Sprintf("%s %s is not shorter than %s %s", what, d, interval, r.CheckInterval())
	}
	return ""
}

// count reads an integer that must not be negative.
func (p *parser) count(n *yaml.Node, field string) (int, bool) {
	i, ok := p.integer(n, field)
	if ok && i < 0 {
		p.errorf(n, field, "%d is negative", i)
		return 0, false
	}
	return i, ok
}

func (p *parser) dependsOn(n *yaml.Node, field string, src *source) []string {
	items, ok := p.list(n, field)
	if !ok {
		return nil
	}
	var out []string
	first := map[string]int{}
	for i, it := range items {
		f := index(field, i)
		s, ok := p.scalar(it, f)
		if !ok {
			continue
		}
		if !tagName.MatchString(s) {
			p.errorf(it, f, "%q is not a valid tag", s)
			continue
		}
		if line, dup := first[s]; dup {
			p.errorf(it, f, "%s is listed twice (first at line %d)", s, line)
			continue
		}
		first[s] = it.Line
		src.at["depends_on."+s] = loc{field: f, line: it.Line, col: it.Column}
		out = append(out, s)
	}
	return out
}

func (p *parser) priorities(n *yaml.Node, field string, src *source) map[string]int {
	entries, ok := p.mapping(n, field, nil)
	if !ok {
		return nil
	}
	out := map[string]int{}
	for _, e := range entries {
		f := join(field, e.key)
		if !nodeName.MatchString(e.key) {
			p.errorf(e.k, f, "%q is not a valid node name", e.key)
			continue
		}
		src.at["priorities."+e.key] = loc{field: f, line: e.k.Line, col: e.k.Column}
		i, ok := p.integer(e.v, f)
		if !ok {
			continue
		}
		if i < 1 {
			p.errorf(e.v, f, "priority %d: 1 is the most preferred, and a node that may not host the resource is left out", i)
			continue
		}
		out[e.key] = i
	}
	return out
}

// actionNames are the actions as a timeouts key is suggested.
var actionNames = func() []string {
	out := make([]string, len(ark.Actions))
	for i, a := range ark.Actions {
		out[i] = string(a)
	}
	return out
}()

func (p *parser) timeouts(n *yaml.Node, field string, src *source) map[ark.Action]time.Duration {
	entries, ok := p.mapping(n, field, nil)
	if !ok {
		return nil
	}
	out := map[ark.Action]time.Duration{}
	for _, e := range entries {
		f := join(field, e.key)
		a, err := ark.ParseAction(e.key)
		if err != nil {
			if s := suggest(e.key, actionNames); s != "" {
				p.errorf(e.k, f, "unknown action: did you mean %s?", s)
			} else {
				p.errorf(e.k, f, "unknown action (want %s)", strings.Join(actionNames, ", "))
			}
			continue
		}
		if l, dup := src.at["timeouts."+string(a)]; dup {
			p.errorf(e.k, f, "%s is given twice (first at line %d)", a, l.line)
			continue
		}
		src.at["timeouts."+string(a)] = loc{field: f, line: e.k.Line, col: e.k.Column}
		if e.v.Kind == yaml.ScalarNode && strings.EqualFold(e.v.Value, "none") {
			out[a] = -1
			continue
		}
		d, ok := p.duration(e.v, f)
		if !ok {
			continue
		}
		if d == 0 {
			d = -1 // none, overriding the kit's default
		}
		out[a] = d
	}
	return out
}

func (p *parser) params(n *yaml.Node, field string, src *source) map[string]string {
	entries, ok := p.mapping(n, field, nil)
	if !ok {
		return nil
	}
	out := map[string]string{}
	for _, e := range entries {
		f := join(field, e.key)
		if !paramName.MatchString(e.key) {
			p.errorf(e.k, f, "%q is not a valid parameter name: use letters, digits, '_' and '-', starting with a letter or '_'", e.key)
			continue
		}
		src.at["params."+e.key] = loc{field: f, line: e.k.Line, col: e.k.Column}
		if e.v.Kind != yaml.ScalarNode {
			p.errorf(e.v, f, "want a single value, got %s: parameters reach the kit as strings, so they cannot nest", describe(e.v))
			continue
		}
		s, ok := p.scalar(e.v, f)
		if !ok {
			continue
		}
		out[e.key] = s
	}
	return out
}
