package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ark-ha/ark/host/model"
)

func TestGoodNode(t *testing.T) {
	const file = "testdata/good/node.yaml"
	abs, err := filepath.Abs("testdata/good")
	if err != nil {
		t.Fatal(err)
	}
	want := &Node{
		Name:        "node1",
		Cluster:     "demo",
		ClusterFile: filepath.Join(abs, "cluster.yaml"),
		StateDir:    "/var/lib/ark",
		PluginDir:   "/usr/lib/ark/plugins",
		Socket:      "/run/ark/arkd.sock",
		LogFormat:   "json",
		LogLevel:    "info",
		Kits: []model.Kit{
			{
				Name:   "generic",
				Path:   "/usr/lib/ark/plugins/ark-generic",
				SHA256: "3b0c4f1e9a7d2c58b6e0f4a1d9c3b7e5a2f8d6c4b0e9a1f3d5c7b9e2a4f6d8c0",
				Pos:    model.Pos{File: file, Line: 13},
			},
			{
				Name:   "ip",
				Path:   filepath.Join(abs, "plugins/ark-ip"),
				SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
				Pos:    model.Pos{File: file, Line: 15},
			},
		},
		Pos: model.Pos{File: file, Line: 4},
	}
	n, err := LoadNode(file)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(n, want) {
		t.Errorf("LoadNode:\n got %+v\nwant %+v", n, want)
	}
	if k, ok := n.Kit("ip"); !ok || k.Name != "ip" {
		t.Errorf("Kit(ip) = %v, %v", k, ok)
	}
	if _, ok := n.Kit("fs"); ok {
		t.Error("Kit(fs) found")
	}
}

func TestParseNode(t *testing.T) {
	tests := []struct {
		name, file, yaml string
		want             Node
	}{
		{"defaults", "/etc/ark/node.yaml", "node: n1\n", Node{
			Name: "n1", Cluster: DefaultCluster, StateDir: DefaultStateDir, PluginDir: DefaultPluginDir,
			Socket: DefaultSocket, LogFormat: DefaultLogFormat, LogLevel: DefaultLogLevel,
			Pos: model.Pos{File: "/etc/ark/node.yaml", Line: 1},
		}},
		{"relative paths join the file's directory", "/etc/ark/node.yaml",
			"state_dir: state\nplugin_dir: ../plugins\nsocket: ./s.sock\nnode: n1\nkits:\n  ip: {sha256: " + strings.Repeat("a", 64) + "}\n  fs: {sha256: " + strings.Repeat("B", 64) + ", path: fs/ark-fs}\n",
			Node{
				Name: "n1", Cluster: DefaultCluster, StateDir: "/etc/ark/state", PluginDir: "/etc/plugins",
				Socket: "/etc/ark/s.sock", LogFormat: DefaultLogFormat, LogLevel: DefaultLogLevel,
				Kits: []model.Kit{
					{Name: "fs", Path: "/etc/ark/fs/ark-fs", SHA256: strings.Repeat("b", 64), Pos: model.Pos{File: "/etc/ark/node.yaml", Line: 7}},
					{Name: "ip", Path: "/etc/plugins/ark-ip", SHA256: strings.Repeat("a", 64), Pos: model.Pos{File: "/etc/ark/node.yaml", Line: 6}},
				},
				Pos: model.Pos{File: "/etc/ark/node.yaml", Line: 1},
			}},
		{"cluster_file relative", "/etc/ark/node.yaml", "node: n1\ncluster_file: cluster.yaml\n", Node{
			Name: "n1", Cluster: DefaultCluster, ClusterFile: "/etc/ark/cluster.yaml", StateDir: DefaultStateDir, PluginDir: DefaultPluginDir,
			Socket: DefaultSocket, LogFormat: DefaultLogFormat, LogLevel: DefaultLogLevel,
			Pos: model.Pos{File: "/etc/ark/node.yaml", Line: 1},
		}},
		{"cluster_file absolute", "/etc/ark/node.yaml", "node: n1\ncluster_file: /srv//ark/../cluster.yaml\n", Node{
			Name: "n1", Cluster: DefaultCluster, ClusterFile: "/srv/cluster.yaml", StateDir: DefaultStateDir, PluginDir: DefaultPluginDir,
			Socket: DefaultSocket, LogFormat: DefaultLogFormat, LogLevel: DefaultLogLevel,
			Pos: model.Pos{File: "/etc/ark/node.yaml", Line: 1},
		}},
		{"relative file name", "conf/node.yaml", "node: n1.example-2\nsocket: arkd.sock\n", Node{
			Name: "n1.example-2", Cluster: DefaultCluster, StateDir: DefaultStateDir, PluginDir: DefaultPluginDir,
			Socket: "conf/arkd.sock", LogFormat: DefaultLogFormat, LogLevel: DefaultLogLevel,
			Pos: model.Pos{File: "conf/node.yaml", Line: 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := ParseNode(tt.file, []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*n, tt.want) {
				t.Errorf("\n got %+v\nwant %+v", *n, tt.want)
			}
		})
	}
}

func TestLoadNodeMissingFile(t *testing.T) {
	_, err := LoadNode("testdata/nonexistent.yaml")
	if err == nil || !strings.Contains(err.Error(), "testdata/nonexistent.yaml") {
		t.Errorf("got %v, want an error naming the file", err)
	}
}
