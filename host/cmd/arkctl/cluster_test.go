package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/ark-ha/ark/host/api"
)

// cannedCluster is a node's view of a three-node cluster with a witness,
// one node down and one path down.
var cannedCluster = api.Cluster{
	Name: "prod", Self: "node2", Leader: "node3", Term: 7, Reachable: 3, Quorum: 3,
	Lease: "held", LeaseLeft: 5432 * time.Millisecond,
	SelfFence: "lease 6s: remove at half, kill the process trees (cgroup) at the end",
	Nodes: []api.ClusterNode{
		{Name: "node1", Role: "node", Up: false, Groups: 0, Paths: []api.CommPath{
			{Local: "10.0.0.2:7946", Remote: "10.0.0.1:7946"}, {Local: "10.1.0.2:7946", Remote: "10.1.0.1:7946"}}},
		{Name: "node2", Role: "node", Up: true, Groups: 2},
		{Name: "node3", Role: "node", Up: true, Maintenance: true, Groups: 1, Paths: []api.CommPath{
			{Local: "10.0.0.2:7946", Remote: "10.0.0.3:7946", Up: true}, {Local: "10.1.0.2:7946", Remote: "10.1.0.3:7946"}}},
		{Name: "quorum", Role: "witness", Up: true, Paths: []api.CommPath{{Local: "10.0.0.2:7946", Remote: "10.0.0.9:7946", Up: true}}},
	},
}

// relocateRoute answers relocate and balance like a leader.
func relocateRoute(w http.ResponseWriter, r *http.Request) {
	var req api.RelocateRequest
	_ = json.NewDecoder(r.Body).Decode(&req)
	switch {
	case req.Node == "node9":
		usageError("resource web-app: node node9 is not up")(w, r)
	default:
		reply(http.StatusOK, api.Outcome{OK: true, Steps: []api.Step{
			{Tag: "web-app", Node: "node2", Action: "remove", OK: true, Duration: 120 * time.Millisecond},
			{Tag: "web-app", Node: "node3", Action: "restore", OK: true, Duration: 340 * time.Millisecond},
		}})(w, r)
	}
}

func TestClusterCommands(t *testing.T) {
	f := startFake(t, map[string]http.HandlerFunc{
		"GET " + api.PathStatus:       statusRoute,
		"GET " + api.PathCluster:      reply(http.StatusOK, cannedCluster),
		"POST " + api.PathRelocate:    relocateRoute,
		"POST " + api.PathBalance:     reply(http.StatusOK, api.Outcome{OK: true, Notes: []string{"nothing to move"}}),
		"POST " + api.PathMaintenance: reply(http.StatusOK, api.Reply{Message: "node node3: maintenance on"}),
		"POST " + api.PathStart:       outcomeRoute,
	})
	tr := newTranscript(t, f)
	tr.run(exitOK, "status", "--socket", f.socket)
	tr.run(exitOK, "relocate", "web-app", "--node", "node3", "--socket", f.socket)
	if got := f.last(t).Body; got != `{"tag":"web-app","node":"node3"}` {
		t.Errorf("relocate sent %s", got)
	}
	tr.run(exitUsage, "relocate", "web-app", "--node", "node9", "--socket", f.socket)
	tr.run(exitOK, "relocate", "--from", "node2", "--socket", f.socket)
	if got := f.last(t).Body; got != `{"from":"node2"}` {
		t.Errorf("relocate --from sent %s", got)
	}
	tr.run(exitUsage, "relocate", "--from", "node2", "web-app", "--socket", f.socket)
	tr.run(exitOK, "balance", "--socket", f.socket)
	tr.run(exitOK, "maintenance", "on", "node3", "--socket", f.socket)
	if got := f.last(t).Body; got != `{"node":"node3","on":true}` {
		t.Errorf("maintenance sent %s", got)
	}
	tr.run(exitUsage, "maintenance", "maybe", "node3", "--socket", f.socket)
	tr.run(exitOK, "start", "--node", "node3", "web-app", "--socket", f.socket)
	if got := f.last(t).Body; got != `{"tag":"web-app","node":"node3"}` {
		t.Errorf("start --node sent %s", got)
	}
	tr.golden("cluster.txt")
}
