package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ark-ha/ark/host/model"
)

func TestGoodCluster(t *testing.T) {
	fixKeyModes(t)
	const file = "testdata/good/cluster.yaml"
	abs, err := filepath.Abs("testdata/good")
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadCluster(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.Hash, "sha256:") || len(c.Hash) != len("sha256:")+64 {
		t.Errorf("Hash %q is not sha256:<64 hex digits>", c.Hash)
	}
	want := &Cluster{
		Name:                 "demo",
		KeyFile:              filepath.Join(abs, "cluster.key"),
		Key:                  []byte("c2VjcmV0LWtleS1vZi10aGUtZ29vZC1leGFtcGxlLWNsdXN0ZXI="),
		Heartbeat:            500 * time.Millisecond,
		Misses:               4,
		LeaseTimeout:         6 * time.Second,
		RemoteTimeout:        15 * time.Minute,
		FenceOnRemoveFailure: true,
		RaftHeartbeat:        500 * time.Millisecond,
		RaftElection:         time.Second,
		RaftLeaderLease:      250 * time.Millisecond,
		Nodes: []ClusterNode{
			{Name: "node1", Role: RoleNode, Addrs: []string{"127.0.0.1:7101", "127.0.0.2:7101"}, Pos: model.Pos{File: file, Line: 20}},
			{Name: "node2", Role: RoleNode, Addrs: []string{"127.0.1.1:7101", "[::1]:7102"}, Pos: model.Pos{File: file, Line: 22}},
			{Name: "quorum", Role: RoleWitness, Addrs: []string{"127.0.2.1:7101"}, Pos: model.Pos{File: file, Line: 29}},
		},
		Hash: c.Hash,
		Pos:  model.Pos{File: file, Line: 5},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("LoadCluster:\n got %+v\nwant %+v", c, want)
	}
	if c.Hash != c.ComputeHash() {
		t.Errorf("Hash %s, ComputeHash %s", c.Hash, c.ComputeHash())
	}

	// The good files belong together: the node file names the cluster
	// file, and the resources' priorities name its nodes.
	n, err := LoadNode("testdata/good/node.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c2, err := LoadCluster(n.ClusterFile); err != nil || c2.Hash != c.Hash {
		t.Errorf("LoadCluster(%s) = %v, %v", n.ClusterFile, c2, err)
	}
	if _, ok := c.Node(n.Name); !ok {
		t.Errorf("node file's node %s is not in the cluster", n.Name)
	}
	rs, err := LoadResources("testdata/good/resources.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckNodes(rs, c.Hosts()); err != nil {
		t.Errorf("CheckNodes: %v", err)
	}
}

func TestClusterMethods(t *testing.T) {
	c := &Cluster{Nodes: []ClusterNode{
		{Name: "a", Role: RoleNode, Addrs: []string{"10.0.0.1:1", "10.1.0.1:1", "10.2.0.1:1"}},
		{Name: "b", Role: RoleNode, Addrs: []string{"10.0.0.2:1", "10.1.0.2:1"}},
		{Name: "w", Role: RoleWitness, Addrs: []string{"10.0.0.3:1"}},
	}}
	if n, ok := c.Node("w"); !ok || !n.Witness() || n.Name != "w" {
		t.Errorf("Node(w) = %+v, %v", n, ok)
	}
	if n, ok := c.Node("a"); !ok || n.Witness() {
		t.Errorf("Node(a) = %+v, %v", n, ok)
	}
	if _, ok := c.Node("x"); ok {
		t.Error("Node(x) found")
	}
	if got := c.Voters(); got != 3 {
		t.Errorf("Voters = %d, want 3", got)
	}
	if got := c.Hosts(); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("Hosts = %v", got)
	}
	paths := []struct {
		a, b string
		want [][2]string
	}{
		{"a", "b", [][2]string{{"10.0.0.1:1", "10.0.0.2:1"}, {"10.1.0.1:1", "10.1.0.2:1"}}},
		{"b", "a", [][2]string{{"10.0.0.2:1", "10.0.0.1:1"}, {"10.1.0.2:1", "10.1.0.1:1"}}},
		{"a", "w", [][2]string{{"10.0.0.1:1", "10.0.0.3:1"}}},
		{"a", "a", nil},
		{"a", "x", nil},
		{"x", "a", nil},
	}
	for _, p := range paths {
		if got := c.Paths(p.a, p.b); !reflect.DeepEqual(got, p.want) {
			t.Errorf("Paths(%s, %s) = %v, want %v", p.a, p.b, got, p.want)
		}
	}
	for n, want := range map[int]int{0: 1, 1: 1, 2: 2, 3: 2, 4: 3, 5: 3} {
		c := &Cluster{Nodes: make([]ClusterNode, n)}
		if got := c.Quorum(); got != want {
			t.Errorf("Quorum of %d voters = %d, want %d", n, got, want)
		}
	}
}

// writeKey writes a key file of mode 0600 into dir and returns its path.
func writeKey(t *testing.T, dir, name, key string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	// WriteFile's mode is subject to the umask; the test wants exactly 0600.
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const testKey = "0123456789abcdef0123456789abcdef"

func TestParseClusterDefaults(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "k", "\n  "+testKey+"\n\n")
	file := filepath.Join(dir, "cluster.yaml")
	c, err := ParseCluster(file, []byte("cluster: c\nkey_file: k\nnodes: [{name: n1, addresses: ['10.0.0.1:7101']}]\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	want := &Cluster{
		Name: "c", KeyFile: filepath.Join(dir, "k"), Key: []byte(testKey),
		Heartbeat: DefaultHeartbeat, Misses: DefaultMisses, LeaseTimeout: DefaultLeaseTimeout,
		RemoteTimeout: DefaultRemoteTimeout, FenceOnRemoveFailure: DefaultFenceOnRemoveFailure,
		RaftHeartbeat: DefaultRaftHeartbeat, RaftElection: DefaultRaftElection, RaftLeaderLease: DefaultRaftLeaderLease,
		Nodes: []ClusterNode{{Name: "n1", Role: RoleNode, Addrs: []string{"10.0.0.1:7101"}, Pos: model.Pos{File: file, Line: 3}}},
		Hash:  c.Hash,
		Pos:   model.Pos{File: file, Line: 1},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("\n got %+v\nwant %+v", c, want)
	}
	if c.Quorum() != 1 || c.Voters() != 1 {
		t.Errorf("a single node: quorum %d of %d voters", c.Quorum(), c.Voters())
	}

	// An absolute key_file is kept, cleaned; an empty dir means the
	// cluster file's own directory.
	c, err = ParseCluster(file, []byte("cluster: c\nkey_file: "+dir+"//./k\nnodes: [{name: n1, addresses: ['10.0.0.1:7101']}]\n"), "/nonexistent")
	if err != nil || c.KeyFile != filepath.Join(dir, "k") {
		t.Errorf("absolute key_file: %v, %v", c, err)
	}
	c, err = ParseCluster(file, []byte("cluster: c\nkey_file: k\nnodes: [{name: n1, addresses: ['10.0.0.1:7101']}]\n"), "")
	if err != nil || c.KeyFile != filepath.Join(dir, "k") {
		t.Errorf("dir \"\": %v, %v", c, err)
	}

	// LoadCluster makes a relative key_file absolute.
	if err := os.WriteFile(file, []byte("cluster: c\nkey_file: k\nnodes: [{name: n1, addresses: ['10.0.0.1:7101']}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir) // restored when the test ends
	c, err = LoadCluster("cluster.yaml")
	if err != nil || c.KeyFile != filepath.Join(dir, "k") {
		t.Errorf("LoadCluster: %v, %v", c, err)
	}
}

func TestParseClusterErrors(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "k", testKey)
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o700); err != nil {
		t.Fatal(err)
	}
	const nodes = "nodes: [{name: n1, addresses: ['10.0.0.1:7101']}]\n"
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"key file is a directory", "cluster: c\nkey_file: d\n" + nodes,
			[]string{"c.yaml:2: key_file: " + filepath.Join(dir, "d") + " is not a regular file"}},
		{"lease 0", "cluster: c\nkey_file: k\nlease_timeout: 0\n" + nodes,
			[]string{"c.yaml:3: lease_timeout: lease_timeout 0s is not longer than heartbeat.interval x heartbeat.misses = 500ms (the default) x 4 (the default) = 2s, the time it takes to notice a lost node"}},
		{"a node and a witness are fine, two witnesses need a node",
			"cluster: c\nkey_file: k\nnodes:\n  - {name: w1, role: witness, addresses: ['10.0.0.1:1']}\n  - {name: w2, role: witness, addresses: ['10.0.0.2:1']}\n",
			[]string{"c.yaml:3: nodes: every node is a witness: at least one needs role: node, to host the resources"}},
		{"empty nodes", "cluster: c\nkey_file: k\nnodes: []\n",
			[]string{"c.yaml:3: nodes: want at least one node"}},
		{"top level list", "- cluster: c\n",
			[]string{"c.yaml:1: want a mapping (key: value lines), got a list"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCluster("c.yaml", []byte(tt.yaml), dir)
			if c != nil {
				t.Errorf("cluster returned beside an error: %+v", c)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("got %T %v, want Errors", err, err)
			}
			if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tt.want, "\n\t"))
			}
		})
	}
	if _, err := LoadCluster(filepath.Join(dir, "nonexistent.yaml")); err == nil || !strings.Contains(err.Error(), "nonexistent.yaml") {
		t.Errorf("got %v, want an error naming the file", err)
	}
}

// TestClusterHash: files that mean the same hash the same, whatever
// their comments, layout, order and spellings; any meaningful change
// changes the hash.
func TestClusterHash(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "key", testKey)
	writeKey(t, dir, "same-key", testKey+"\n")
	writeKey(t, dir, "other-key", testKey+"!")
	const base = `cluster: demo
key_file: key
heartbeat: {interval: 500ms, misses: 4}
lease_timeout: 6s
nodes:
  - name: node1
    addresses: [127.0.0.1:7101, "[::1]:7101"]
  - name: node2
    addresses: [127.0.0.2:7101, "[::2]:7101"]
  - name: w
    role: witness
    addresses: [127.0.0.3:7101]
`
	hash := func(t *testing.T, yaml string) string {
		t.Helper()
		c, err := ParseCluster("c.yaml", []byte(yaml), dir)
		if err != nil {
			t.Fatal(err)
		}
		return c.Hash
	}
	want := hash(t, base)
	edit := func(old, new string) string {
		if !strings.Contains(base, old) {
			t.Fatalf("%q is not in the base file", old)
		}
		return strings.Replace(base, old, new, 1)
	}
	same := []struct{ name, yaml string }{
		{"comments and layout", "# the demo cluster\n" + edit("heartbeat: {interval: 500ms, misses: 4}", "heartbeat:\n  misses: 4   # 2s\n  interval: 500ms")},
		{"defaults written out", base + "remote_timeout: 900s\nfence_on_remove_failure: true\nraft: {heartbeat_timeout: 500ms, election_timeout: 500ms, leader_lease_timeout: 250ms}\n"},
		{"defaults left out", strings.Replace(edit("heartbeat: {interval: 500ms, misses: 4}\n", ""), "lease_timeout: 6s\n", "", 1)},
		{"duration spelling", edit("interval: 500ms", "interval: 0.5s")},
		{"address spelling", edit(`"[::1]:7101"`, `"[0:0::1]:7101"`)},
		{"IPv4-mapped address", edit("127.0.0.1:7101", `"[::ffff:127.0.0.1]:7101"`)},
		{"role node written out", edit("  - name: node1\n", "  - name: node1\n    role: node\n")},
		{"node order", edit("  - name: node1\n    addresses: [127.0.0.1:7101, \"[::1]:7101\"]\n", "") +
			"  - name: node1\n    addresses: [127.0.0.1:7101, \"[::1]:7101\"]\n"},
		{"field order", "nodes:" + strings.SplitN(base, "nodes:", 2)[1] + strings.SplitN(base, "nodes:", 2)[0]},
		{"key file elsewhere, same key", edit("key_file: key", "key_file: same-key")},
		{"absolute key file", edit("key_file: key", "key_file: "+filepath.Join(dir, "key"))},
	}
	for _, tt := range same {
		t.Run("same/"+tt.name, func(t *testing.T) {
			if got := hash(t, tt.yaml); got != want {
				t.Errorf("hash %s, want %s for:\n%s", got, want, tt.yaml)
			}
		})
	}
	different := []struct{ name, yaml string }{
		{"name", edit("cluster: demo", "cluster: demo2")},
		{"key", edit("key_file: key", "key_file: other-key")},
		{"interval", edit("interval: 500ms", "interval: 400ms")},
		{"misses", edit("misses: 4", "misses: 5")},
		{"lease", edit("lease_timeout: 6s", "lease_timeout: 7s")},
		{"remote timeout", base + "remote_timeout: 10m\n"},
		{"fence", base + "fence_on_remove_failure: false\n"},
		{"raft heartbeat", base + "raft: {heartbeat_timeout: 400ms}\n"},
		{"raft election", base + "raft: {election_timeout: 600ms}\n"},
		{"raft leader lease", base + "raft: {leader_lease_timeout: 200ms}\n"},
		{"address", edit("127.0.0.2:7101", "127.0.0.4:7101")},
		{"port", edit("127.0.0.2:7101", "127.0.0.2:7102")},
		{"path order", edit(`[127.0.0.1:7101, "[::1]:7101"]`, `["[::1]:7101", 127.0.0.1:7101]`)},
		{"one path fewer", edit(`[127.0.0.1:7101, "[::1]:7101"]`, `[127.0.0.1:7101]`)},
		{"node name", edit("name: node2", "name: node3")},
		{"role", edit("role: witness", "role: node")},
	}
	seen := map[string]string{want: "base"}
	for _, tt := range different {
		t.Run("different/"+tt.name, func(t *testing.T) {
			got := hash(t, tt.yaml)
			if prev, dup := seen[got]; dup {
				t.Errorf("hash %s, the same as %s's", got, prev)
			}
			seen[got] = tt.name
		})
	}
}
