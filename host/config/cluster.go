package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ark-ha/ark/host/model"
)

// Roles of a node in the cluster file.
const (
	// RoleNode is a full node: it votes and may host resources.
	RoleNode = "node"
	// RoleWitness is a node that votes and hosts nothing: the third voter
	// of a two-node cluster (DESIGN §6).
	RoleWitness = "witness"
)

// Defaults and limits of the cluster file's fields.
const (
	// DefaultHeartbeat is the interval between heartbeats on each
	// communication path; MinHeartbeat the shortest one allowed.
	DefaultHeartbeat = 500 * time.Millisecond
	MinHeartbeat     = 10 * time.Millisecond
	// DefaultMisses is how many heartbeats in a row a path may miss
	// before it is down; MinMisses the fewest allowed, so that one lost
	// packet does not fail a path.
	DefaultMisses = 4
	MinMisses     = 2
	// DefaultLeaseTimeout is how long a node without quorum keeps its
	// resources before removing them, and how long the survivors wait
	// before taking them over (DESIGN §5).
	DefaultLeaseTimeout = 6 * time.Second
	// DefaultRemoteTimeout bounds a request to another node to remove a
	// group (DESIGN §4, remote stop).
	DefaultRemoteTimeout = 900 * time.Second
	// DefaultFenceOnRemoveFailure: a remove failing during a failover
	// fences its node (LifeKeeper's forced reboot).
	DefaultFenceOnRemoveFailure = true
	// DefaultRaftHeartbeat, DefaultRaftElection and DefaultRaftLeaderLease
	// are the replicated log's timeouts (hashicorp/raft's
	// HeartbeatTimeout, ElectionTimeout and LeaderLeaseTimeout);
	// MinRaftTimeout is the shortest of each allowed.
	DefaultRaftHeartbeat   = 500 * time.Millisecond
	DefaultRaftElection    = 500 * time.Millisecond
	DefaultRaftLeaderLease = 250 * time.Millisecond
	MinRaftTimeout         = 50 * time.Millisecond
	// MinKeyLength is the fewest bytes the cluster key may have, leading
	// and trailing whitespace aside.
	MinKeyLength = 32
)

// Cluster is a cluster file (DESIGN §6): the nodes of the cluster, how
// they reach each other, the key that authenticates them and the
// timings of failure detection. Like Node it comes with every default
// filled in, the key file's path absolute (or, from ParseCluster with a
// relative dir, joined to it) and the key read.
type Cluster struct {
	Name string
	// KeyFile is the file the key was read from; Key is its content,
	// leading and trailing whitespace removed.
	KeyFile string
	Key     []byte
	// Heartbeat is the interval between heartbeats on a communication
	// path; after Misses missed ones in a row the path is down.
	Heartbeat time.Duration
	Misses    int
	// LeaseTimeout: a node without quorum this long has removed its
	// resources (or fenced itself), so the survivors may take them over.
	LeaseTimeout time.Duration
	// RemoteTimeout bounds a request to another node to remove a group.
	RemoteTimeout time.Duration
	// FenceOnRemoveFailure fences a node whose remove fails during a
	// failover; when false the group goes UNKNOWN instead.
	FenceOnRemoveFailure bool
	// The replicated log's timeouts (hashicorp/raft's HeartbeatTimeout,
	// ElectionTimeout, LeaderLeaseTimeout).
	RaftHeartbeat   time.Duration
	RaftElection    time.Duration
	RaftLeaderLease time.Duration
	// Nodes are the members, witnesses included, sorted by name.
	Nodes []ClusterNode
	// Hash identifies the effective settings: "sha256:" and 64 hex
	// digits (see ComputeHash). Nodes compare it to know that they run
	// the same cluster file.
	Hash string
	Pos  model.Pos
}

// ClusterNode is one member of the cluster.
type ClusterNode struct {
	Name string
	Role string // RoleNode or RoleWitness
	// Addrs are the addresses the node is reached at, as ip:port in
	// netip.AddrPort's canonical form ([fe80::1]:7101 for IPv6). The
	// i-th address of two nodes make their i-th communication path.
	Addrs []string
	Pos   model.Pos
}

// Witness reports whether n only votes and hosts nothing.
func (n ClusterNode) Witness() bool { return n.Role == RoleWitness }

// Node returns the member called name.
func (c *Cluster) Node(name string) (ClusterNode, bool) {
	i := slices.IndexFunc(c.Nodes, func(n ClusterNode) bool { return n.Name == name })
	if i < 0 {
		return ClusterNode{}, false
	}
	return c.Nodes[i], true
}

// Voters returns how many members vote: all of them, witnesses too.
func (c *Cluster) Voters() int { return len(c.Nodes) }

// Quorum returns how many voters make a majority.
func (c *Cluster) Quorum() int { return c.Voters()/2 + 1 }

// Hosts returns the names of the members that may host resources (the
// ones that are not witnesses), in the order of Nodes: what CheckNodes
// wants.
func (c *Cluster) Hosts() []string {
	var out []string
	for _, n := range c.Nodes {
		if !n.Witness() {
			out = append(out, n.Name)
		}
	}
	return out
}

// Paths returns the communication paths between nodes a and b in path
// order, each as the pair (address of a, address of b): path i joins the
// i-th address of each, for as many addresses as both have. It returns
// nil when either is not a member, or a is b.
func (c *Cluster) Paths(a, b string) [][2]string {
	na, ok1 := c.Node(a)
	nb, ok2 := c.Node(b)
	if !ok1 || !ok2 || a == b {
		return nil
	}
	out := make([][2]string, min(len(na.Addrs), len(nb.Addrs)))
	for i := range out {
		out[i] = [2]string{na.Addrs[i], nb.Addrs[i]}
	}
	return out
}

// ComputeHash returns what Hash holds for c's settings: "sha256:" and the
// hex sha256 of a canonical encoding of every field but KeyFile, Hash and
// the Pos fields, with the key as its own sha256. Two files that mean the
// same (comments, layout, order of fields and nodes, spellings of an
// address or a duration, the key file's path aside) hash the same; any
// other difference changes it. ParseCluster sets Hash; a Cluster built in
// Go can compute it here.
func (c *Cluster) ComputeHash() string {
	type node struct {
		Name  string   `json:"name"`
		Role  string   `json:"role"`
		Addrs []string `json:"addrs"`
	}
	keySum := sha256.Sum256(c.Key)
	canon := struct {
		Version              int           `json:"v"`
		Name                 string        `json:"cluster"`
		Key                  string        `json:"key_sha256"`
		Heartbeat            time.Duration `json:"heartbeat_ns"`
		Misses               int           `json:"misses"`
		LeaseTimeout         time.Duration `json:"lease_timeout_ns"`
		RemoteTimeout        time.Duration `json:"remote_timeout_ns"`
		FenceOnRemoveFailure bool          `json:"fence_on_remove_failure"`
		RaftHeartbeat        time.Duration `json:"raft_heartbeat_ns"`
		RaftElection         time.Duration `json:"raft_election_ns"`
		RaftLeaderLease      time.Duration `json:"raft_leader_lease_ns"`
		Nodes                []node        `json:"nodes"`
	}{
		Version: 1, Name: c.Name, Key: hex.EncodeToString(keySum[:]),
		Heartbeat: c.Heartbeat, Misses: c.Misses, LeaseTimeout: c.LeaseTimeout,
		RemoteTimeout: c.RemoteTimeout, FenceOnRemoveFailure: c.FenceOnRemoveFailure,
		RaftHeartbeat: c.RaftHeartbeat, RaftElection: c.RaftElection, RaftLeaderLease: c.RaftLeaderLease,
		Nodes: []node{},
	}
	for _, n := range c.Nodes {
		canon.Nodes = append(canon.Nodes, node{Name: n.Name, Role: n.Role, Addrs: slices.Clone(n.Addrs)})
	}
	slices.SortStableFunc(canon.Nodes, func(a, b node) int { return strings.Compare(a.Name, b.Name) })
	data, err := json.Marshal(canon)
	if err != nil {
		panic(err) // strings, numbers and booleans always encode
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

var (
	clusterFields     = []string{"cluster", "key_file", "heartbeat", "lease_timeout", "remote_timeout", "fence_on_remove_failure", "raft", "nodes"}
	heartbeatFields   = []string{"interval", "misses"}
	raftFields        = []string{"heartbeat_timeout", "election_timeout", "leader_lease_timeout"}
	clusterNodeFields = []string{"name", "role", "addresses"}
	roles             = []string{RoleNode, RoleWitness}
)

// LoadCluster reads and parses the cluster file at path, and the key
// file it names. A relative key_file is taken relative to the cluster
// file's directory, made absolute. Errors are the os error of reading
// the cluster file, or Errors (a problem with the key file is one of
// them, at the key_file line).
func LoadCluster(path string) (*Cluster, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	return ParseCluster(path, data, dir)
}

// ParseCluster parses a cluster file read from the file called file (used
// in errors and Pos). A relative key_file is joined to dir as it is (to
// file's directory when dir is empty), so it is absolute only if dir is.
// Unlike the other Parse functions it does I/O: it reads the key file,
// which must exist, be readable by its owner only, and hold at least
// MinKeyLength bytes. Errors are Errors.
func ParseCluster(file string, data []byte, dir string) (*Cluster, error) {
	if dir == "" {
		dir = filepath.Dir(file)
	}
	p := &parser{file: file}
	root := p.document(data, "a cluster file (cluster: NAME, key_file: FILE, nodes: ...)")
	if root == nil {
		return nil, p.errs.err()
	}
	entries, ok := p.mapping(root, "", clusterFields)
	if !ok {
		return nil, p.errs.err()
	}
	c := &Cluster{
		Heartbeat:            DefaultHeartbeat,
		Misses:               DefaultMisses,
		LeaseTimeout:         DefaultLeaseTimeout,
		RemoteTimeout:        DefaultRemoteTimeout,
		FenceOnRemoveFailure: DefaultFenceOnRemoveFailure,
		RaftHeartbeat:        DefaultRaftHeartbeat,
		RaftElection:         DefaultRaftElection,
		RaftLeaderLease:      DefaultRaftLeaderLease,
		Pos:                  p.pos(root),
	}
	// set maps the timing fields the file gives to their value nodes, bad
	// those whose value is wrong: the checks between timings skip a bad
	// one, and blame a set one.
	set := map[string]*yaml.Node{}
	bad := map[string]bool{}
	minDur := func(n *yaml.Node, field string, least time.Duration, dst *time.Duration) {
		d, ok := p.duration(n, field)
		switch {
		case !ok:
			bad[field] = true
		case d < least:
			bad[field] = true
			p.errorf(n, field, "%s is shorter than the minimum %s", n.Value, least)
		default:
			*dst = d
			set[field] = n
		}
	}
	has := map[string]bool{}
	var nodes *entry
	for _, e := range entries {
		has[e.key] = true
		switch e.key {
		case "cluster":
			if s, ok := p.scalar(e.v, e.key); ok {
				if !nodeName.MatchString(s) {
					p.errorf(e.v, e.key, "%q is not a valid name: use a-z, 0-9, '-' and '.', starting with a letter or digit", s)
				} else {
					c.Name = s
				}
			}
		case "key_file":
			if s, ok := p.pathValue(e.v, e.key); ok {
				if filepath.IsAbs(s) {
					c.KeyFile = filepath.Clean(s)
				} else {
					c.KeyFile = filepath.Join(dir, s)
				}
				c.Key = p.key(e.v, e.key, c.KeyFile)
			}
		case "heartbeat":
			fields, ok := p.mapping(e.v, e.key, heartbeatFields)
			if !ok {
				bad["heartbeat.interval"], bad["heartbeat.misses"] = true, true
			}
			for _, f := range fields {
				field := join(e.key, f.key)
				switch f.key {
				case "interval":
					minDur(f.v, field, MinHeartbeat, &c.Heartbeat)
				case "misses":
					n, ok := p.integer(f.v, field)
					switch {
					case !ok:
						bad[field] = true
					case n < MinMisses:
						bad[field] = true
						p.errorf(f.v, field, "%d is below the minimum %d: a single lost heartbeat must not fail a path", n, MinMisses)
					default:
						c.Misses = n
						set[field] = f.v
					}
				}
			}
		case "lease_timeout":
			minDur(e.v, e.key, 0, &c.LeaseTimeout)
		case "remote_timeout":
			if d, ok := p.duration(e.v, e.key); ok {
				if d == 0 {
					p.errorf(e.v, e.key, "0 would fail every remote stop at once: give a duration, or leave it out for the default %s", DefaultRemoteTimeout)
				} else {
					c.RemoteTimeout = d
				}
			}
		case "fence_on_remove_failure":
			if b, ok := p.boolean(e.v, e.key); ok {
				c.FenceOnRemoveFailure = b
			}
		case "raft":
			fields, ok := p.mapping(e.v, e.key, raftFields)
			if !ok {
				for _, f := range raftFields {
					bad[join("raft", f)] = true
				}
			}
			for _, f := range fields {
				field := join(e.key, f.key)
				switch f.key {
				case "heartbeat_timeout":
					minDur(f.v, field, MinRaftTimeout, &c.RaftHeartbeat)
				case "election_timeout":
					minDur(f.v, field, MinRaftTimeout, &c.RaftElection)
				case "leader_lease_timeout":
					minDur(f.v, field, MinRaftTimeout, &c.RaftLeaderLease)
				}
			}
		case "nodes":
			nodes = &e
		}
	}
	for _, req := range []struct{ field, what string }{
		{"cluster", "the cluster's name"},
		{"key_file", "the file holding the key that authenticates the nodes"},
		{"nodes", "the list of the cluster's nodes"},
	} {
		if !has[req.field] {
			p.errorf(root, req.field, "required field not set: %s", req.what)
		}
	}
	if nodes != nil {
		c.Nodes = p.clusterNodes(nodes)
	}
	p.timings(c, set, bad)
	if err := p.errs.err(); err != nil {
		return nil, err
	}
	c.Hash = c.ComputeHash()
	return c, nil
}

// timings checks the timing settings against each other, once each of
// them is valid alone. A problem is reported at the first of the
// settings involved that the file sets (the file itself when it sets
// none), and each value shown says if it is the default.
func (p *parser) timings(c *Cluster, set map[string]*yaml.Node, bad map[string]bool) {
	check := func(fields []string, problem bool, format string, args ...any) {
		if !problem || slices.ContainsFunc(fields, func(f string) bool { return bad[f] }) {
			return
		}
		for _, f := range fields {
			if n := set[f]; n != nil {
				p.errorf(n, f, format, args...)
				return
			}
		}
		p.errorf(nil, fields[0], format, args...)
	}
	show := func(field string, v any) string {
		if set[field] == nil {
			return fmt.Sprintf("%v (the default)", v)
		}
		return fmt.Sprint(v)
	}
	detect := c.Heartbeat * time.Duration(c.Misses)
	check([]string{"lease_timeout", "heartbeat.interval", "heartbeat.misses"}, c.LeaseTimeout <= detect,
		"lease_timeout %s is not longer than heartbeat.interval x heartbeat.misses = %s x %s = %s, the time it takes to notice a lost node",
		show("lease_timeout", c.LeaseTimeout), show("heartbeat.interval", c.Heartbeat), show("heartbeat.misses", c.Misses), detect)
	check([]string{"raft.leader_lease_timeout", "raft.heartbeat_timeout"}, c.RaftLeaderLease > c.RaftHeartbeat,
		"raft.leader_lease_timeout %s is longer than raft.heartbeat_timeout %s: hashicorp/raft wants it at most the heartbeat timeout",
		show("raft.leader_lease_timeout", c.RaftLeaderLease), show("raft.heartbeat_timeout", c.RaftHeartbeat))
	check([]string{"raft.election_timeout", "raft.heartbeat_timeout"}, c.RaftElection < c.RaftHeartbeat,
		"raft.election_timeout %s is shorter than raft.heartbeat_timeout %s: hashicorp/raft wants it at least the heartbeat timeout",
		show("raft.election_timeout", c.RaftElection), show("raft.heartbeat_timeout", c.RaftHeartbeat))
}

// key reads the cluster key from path, which the key_file value n named.
func (p *parser) key(n *yaml.Node, field, path string) []byte {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		p.errorf(n, field, "%s does not exist: create it with (umask 077; openssl rand -base64 32 > %s)", path, path)
		return nil
	}
	if err != nil {
		p.errorf(n, field, "%v", err)
		return nil
	}
	if !st.Mode().IsRegular() {
		p.errorf(n, field, "%s is not a regular file", path)
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		p.errorf(n, field, "%v", err)
		return nil
	}
	key := bytes.TrimSpace(data)
	ok := true
	if perm := st.Mode().Perm(); perm&0o044 != 0 {
		p.errorf(n, field, "%s is readable by group or others (mode %04o): chmod 600 it", path, perm)
		ok = false
	}
	if len(key) < MinKeyLength {
		p.errorf(n, field, "%s holds %d bytes (whitespace aside): want at least %d, e.g. from openssl rand -base64 32", path, len(key), MinKeyLength)
		ok = false
	}
	if !ok {
		return nil
	}
	return key
}

// clusterNodes parses the nodes list, checks names and addresses unique,
// and that the members can keep a quorum. The result is sorted by name.
func (p *parser) clusterNodes(e *entry) []ClusterNode {
	items, ok := p.list(e.v, e.key)
	if !ok {
		return nil
	}
	if len(items) == 0 {
		p.errorf(e.v, e.key, "want at least one node")
		return nil
	}
	type seen struct {
		node, field string
		line        int
	}
	names := map[string]int{}
	addrs := map[string]seen{}
	var out []ClusterNode
	rolesOK := true
	for i, item := range items {
		field := index(e.key, i)
		fields, ok := p.mapping(item, field, clusterNodeFields)
		if !ok {
			rolesOK = false
			continue
		}
		n := ClusterNode{Role: RoleNode, Pos: p.pos(item)}
		var addrList *entry
		has := map[string]bool{}
		for _, f := range fields {
			ff := join(field, f.key)
			has[f.key] = true
			switch f.key {
			case "name":
				n.Pos = p.pos(f.k)
				s, ok := p.scalar(f.v, ff)
				switch {
				case !ok:
				case !nodeName.MatchString(s):
					p.errorf(f.v, ff, "%q is not a valid node name: use a-z, 0-9, '-' and '.', starting with a letter or digit", s)
				default:
					if line, dup := names[s]; dup {
						p.errorf(f.v, ff, "duplicate node name %q (first at line %d)", s, line)
					} else {
						names[s] = f.v.Line
					}
					n.Name = s
				}
			case "role":
				if s, ok := p.oneOf(f.v, ff, roles); ok {
					n.Role = s
				} else {
					rolesOK = false
				}
			case "addresses":
				addrList = &f
			}
		}
		if !has["name"] {
			p.errs.add(n.Pos, join(field, "name"), "required field not set: the node's name, as in its node file")
		}
		if !has["addresses"] {
			p.errs.add(n.Pos, join(field, "addresses"), "required field not set: the ip:port addresses the node is reached at, one per communication path")
		}
		if addrList != nil {
			af := join(field, "addresses")
			list, ok := p.list(addrList.v, af)
			if ok && len(list) == 0 {
				p.errorf(addrList.v, af, "want at least one address (ip:port)")
			}
			for j, a := range list {
				f := index(af, j)
				s, ok := p.address(a, f)
				if !ok {
					continue
				}
				if prev, dup := addrs[s]; dup {
					who := "an address"
					if prev.node != "" {
						who = "an address of " + prev.node
					}
					p.errorf(a, f, "%s is also %s, at %s (line %d): each address belongs to one path of one node", s, who, prev.field, prev.line)
					continue
				}
				addrs[s] = seen{node: n.Name, field: f, line: a.Line}
				n.Addrs = append(n.Addrs, s)
			}
		}
		out = append(out, n)
	}
	if rolesOK && len(out) == len(items) {
		witnesses := 0
		for _, n := range out {
			if n.Witness() {
				witnesses++
			}
		}
		switch {
		case witnesses == len(out):
			p.errorf(e.k, e.key, "every node is a witness: at least one needs role: %s, to host the resources", RoleNode)
		case len(out) == 2 && witnesses == 0:
			p.errorf(e.k, e.key, "a two-node cluster needs a third voter: add a node with role: %s — two voters cannot elect a leader after one is lost", RoleWitness)
		}
	}
	slices.SortStableFunc(out, func(a, b ClusterNode) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// address reads an ip:port address and returns it in canonical form.
// Host names are refused: a cluster must not depend on name resolution
// to notice that a node is gone.
func (p *parser) address(n *yaml.Node, field string) (string, bool) {
	if n.Kind == yaml.SequenceNode {
		p.errorf(n, field, "want ip:port, got a list: quote an IPv6 address, as in \"[fe80::1]:7101\"")
		return "", false
	}
	s, ok := p.scalar(n, field)
	if !ok {
		return "", false
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		p.errorf(n, field, "%q is not ip:port (an IPv6 address goes in brackets: [fe80::1]:7101)", s)
		return "", false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		p.errorf(n, field, "%q in %q is not an IP address: write the address, not a host name", host, s)
		return "", false
	}
	ip = ip.Unmap()
	if ip.IsUnspecified() || ip.IsMulticast() {
		p.errorf(n, field, "%s is not a unicast address: give the address the other nodes reach this one at", ip)
		return "", false
	}
	pn, err := strconv.ParseUint(port, 10, 16)
	if err != nil || pn == 0 {
		p.errorf(n, field, "port %q in %q is not a number from 1 to 65535", port, s)
		return "", false
	}
	return netip.AddrPortFrom(ip, uint16(pn)).String(), true
}
