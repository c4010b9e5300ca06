package scheduler

import (
	"time"

	"github.com/ark-ha/ark/host/model"
)

// Node is what the cluster scheduler knows about one node.
type Node struct {
	Name string
	// Witness nodes vote and host nothing.
	Witness bool
	// Up: the node is a member (heard on a communication path) and
	// holds its lease: it may run resources and be given new ones.
	Up bool
	// Safe: the node is not up and has certainly stopped everything it
	// ran (its lease ran out, or it was fenced): its groups may be
	// restored elsewhere. A node neither up nor safe is in doubt:
	// nothing of it moves until SafeAt.
	Safe bool
	// SafeAt is when a node in doubt becomes safe (zero if unknown: it
	// needs a fence).
	SafeAt time.Time
	// Maintenance: the node keeps what runs on it, gets nothing new, and
	// nothing fails over because of it (model.NodeStatus).
	Maintenance bool
	// Types lists the resource types enabled on the node, sorted; a
	// group may be placed only where every one of its types is.
	Types []string
}

// Cluster is what a cluster decision is made from. Nodes are in the
// cluster file's order, which breaks every tie.
type Cluster struct {
	Nodes  []Node
	Graph  *model.Graph
	Status map[string]model.Status // by tag; Status.Node is where State was observed
	Groups map[string]model.GroupStatus
	Now    time.Time
}
