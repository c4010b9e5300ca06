package config

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ark-ha/ark/host/model"
)

// Defaults of the node file's optional fields.
const (
	DefaultCluster   = "ark"
	DefaultStateDir  = "/var/lib/ark"
	DefaultPluginDir = "/usr/lib/ark/plugins"
	DefaultSocket    = "/run/ark/arkd.sock"
	DefaultLogFormat = "text"
	DefaultLogLevel  = "info"
)

// Node is a node file: who this node is and what it may run. Unlike a
// resource definition it comes with every default filled in and every
// path absolute (or, from ParseNode, joined to the file's directory), as
// nothing compares it with an earlier version and every reader needs the
// effective values.
type Node struct {
	Name    string
	Cluster string
	// ClusterFile is the cluster file (LoadCluster) naming the other
	// nodes; empty means single-node mode.
	ClusterFile string
	StateDir    string
	PluginDir   string
	Socket      string
	LogFormat   string // text or json
	LogLevel    string // debug, info, warn or error
	// Kits are the resource types enabled on this node, sorted by name,
	// each pinned to the sha256 of its plugin binary so that a replaced
	// binary is refused instead of run.
	Kits []model.Kit
	Pos  model.Pos
}

// Kit returns the enabled kit providing resource type name.
func (n *Node) Kit(name string) (model.Kit, bool) {
	i, ok := slices.BinarySearchFunc(n.Kits, name, func(k model.Kit, name string) int {
		return strings.Compare(k.Name, name)
	})
	if !ok {
		return model.Kit{}, false
	}
	return n.Kits[i], true
}

var (
	nodeName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*$`)
	typeName = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
	sha256re = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
)

var (
	nodeFields = []string{"node", "cluster", "cluster_file", "state_dir", "plugin_dir", "socket", "log_format", "log_level", "kits"}
	kitFields  = []string{"sha256", "path"}
	logFormats = []string{"text", "json"}
	logLevels  = []string{"debug", "info", "warn", "error"}
)

// LoadNode reads and parses the node file at path. Relative paths in it
// are taken relative to the file's directory, made absolute, so that the
// daemon's working directory does not matter. Errors are the os error
// of reading the file, or Errors.
func LoadNode(path string) (*Node, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	return parseNode(path, dir, data)
}

// ParseNode parses a node file read from the file called name (used in
// errors and to resolve relative paths: they are joined to name's
// directory as it is, so they are absolute only if name is). It does no
// I/O. Errors are Errors.
func ParseNode(name string, data []byte) (*Node, error) {
	return parseNode(name, filepath.Dir(name), data)
}

func parseNode(name, dir string, data []byte) (*Node, error) {
	p := &parser{file: name}
	root := p.document(data, "a node file (node: NAME, kits: ...)")
	if root == nil {
		return nil, p.errs.err()
	}
	entries, ok := p.mapping(root, "", nodeFields)
	if !ok {
		return nil, p.errs.err()
	}
	n := &Node{
		Cluster:   DefaultCluster,
		StateDir:  DefaultStateDir,
		PluginDir: DefaultPluginDir,
		Socket:    DefaultSocket,
		LogFormat: DefaultLogFormat,
		LogLevel:  DefaultLogLevel,
		Pos:       p.pos(root),
	}
	path := func(s string) string {
		if filepath.IsAbs(s) {
			return filepath.Clean(s)
		}
		return filepath.Join(dir, s)
	}
	var kits *entry
	for _, e := range entries {
		switch e.key {
		case "node", "cluster":
			if s, ok := p.scalar(e.v, e.key); ok {
				if !nodeName.MatchString(s) {
					p.errorf(e.v, e.key, "%q is not a valid name: use a-z, 0-9, '-' and '.', starting with a letter or digit", s)
				} else if e.key == "node" {
					n.Name = s
				} else {
					n.Cluster = s
				}
			}
		case "cluster_file", "state_dir", "plugin_dir", "socket":
			if s, ok := p.pathValue(e.v, e.key); ok {
				switch e.key {
				case "cluster_file":
					n.ClusterFile = path(s)
				case "state_dir":
					n.StateDir = path(s)
				case "plugin_dir":
					n.PluginDir = path(s)
				case "socket":
					n.Socket = path(s)
				}
			}
		case "log_format":
			if s, ok := p.oneOf(e.v, e.key, logFormats); ok {
				n.LogFormat = s
			}
		case "log_level":
			if s, ok := p.oneOf(e.v, e.key, logLevels); ok {
				n.LogLevel = s
			}
		case "kits":
			kits = &e
		}
	}
	if !slices.ContainsFunc(entries, func(e entry) bool { return e.key == "node" }) {
		p.errorf(root, "node", "required field not set: the node's name")
	}
	// Kits last: their default path depends on plugin_dir, wherever it is
	// written in the file.
	if kits != nil {
		n.Kits = p.kits(kits, n.PluginDir, path)
	}
	if err := p.errs.err(); err != nil {
		return nil, err
	}
	return n, nil
}

func (p *parser) kits(e *entry, pluginDir string, path func(string) string) []model.Kit {
	entries, ok := p.mapping(e.v, "kits", nil)
	if !ok {
		return nil
	}
	var out []model.Kit
	for _, ke := range entries {
		field := join("kits", ke.key)
		if !typeName.MatchString(ke.key) {
			p.errorf(ke.k, field, "%q is not a valid resource type name: use a-z, 0-9, '-' and '_', starting with a letter", ke.key)
			continue
		}
		k := model.Kit{Name: ke.key, Pos: p.pos(ke.k)}
		fields, ok := p.mapping(ke.v, field, kitFields)
		if !ok {
			continue
		}
		for _, f := range fields {
			switch f.key {
			case "sha256":
				if s, ok := p.scalar(f.v, join(field, f.key)); ok {
					if !sha256re.MatchString(s) {
						p.errorf(f.v, join(field, f.key), "want 64 hex digits (sha256sum of the plugin binary), got %d characters %q", len(s), s)
					} else {
						k.SHA256 = strings.ToLower(s)
					}
				}
			case "path":
				if s, ok := p.pathValue(f.v, join(field, f.key)); ok {
					k.Path = path(s)
				}
			}
		}
		if !slices.ContainsFunc(fields, func(e entry) bool { return e.key == "sha256" }) {
			p.errorf(ke.k, join(field, "sha256"), "required field not set: the plugin binary's checksum")
		}
		if k.Path == "" {
			k.Path = filepath.Join(pluginDir, "ark-"+k.Name)
		}
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b model.Kit) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// oneOf reads a scalar that must be one of choices.
func (p *parser) oneOf(n *yaml.Node, field string, choices []string) (string, bool) {
	s, ok := p.scalar(n, field)
	if !ok {
		return "", false
	}
	if !contains(choices, s) {
		if sug := suggest(s, choices); sug != "" {
			p.errorf(n, field, "%q is not one of %s: did you mean %s?", s, strings.Join(choices, ", "), sug)
		} else {
			p.errorf(n, field, "%q is not one of %s", s, strings.Join(choices, ", "))
		}
		return "", false
	}
	return s, true
}

// pathValue reads a file name; an empty one is an error rather than the
// directory of the node file.
func (p *parser) pathValue(n *yaml.Node, field string) (string, bool) {
	s, ok := p.scalar(n, field)
	if ok && s == "" {
		p.errorf(n, field, "empty path")
		return "", false
	}
	return s, ok
}
