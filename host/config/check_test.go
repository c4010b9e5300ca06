package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ark-ha/ark/host/model"
	"github.com/ark-ha/ark/sdk/ark"
)

// TestCheck runs Check on resources built in Go, as the daemon may hold
// them (from its store, not a file): errors fall back to the resource's
// Pos and name it by tag.
func TestCheck(t *testing.T) {
	res := func(tag, typ string, line int, deps ...string) *model.Resource {
		return &model.Resource{Tag: tag, Type: typ, DependsOn: deps, Pos: model.Pos{File: "store", Line: line}}
	}
	tests := []struct {
		name string
		rs   []*model.Resource
		kits Schemas
		want []string
	}{
		{"fine", []*model.Resource{res("a", "generic", 1, "b"), res("b", "ip", 2)}, nil, nil},
		{"no kits: types are not checked", []*model.Resource{res("a", "oracle", 1)}, nil, nil},
		{"no kits enabled", []*model.Resource{res("a", "generic", 1)}, SchemaMap{},
			[]string{`store:1: a.type: no enabled kit provides resource type "generic" (no kits are enabled)`}},
		{"self cycle", []*model.Resource{res("a", "generic", 3, "a")}, nil,
			[]string{"store:3: a.depends_on: dependency cycle: a -> a"}},
		{"missing children and a cycle, all reported",
			[]*model.Resource{res("a", "generic", 1, "b", "z"), res("b", "generic", 2, "a"), res("c", "generic", 3, "y")}, nil,
			[]string{
				"store:1: a.depends_on.z: a depends on z, which is not defined",
				"store:1: a.depends_on: dependency cycle: a -> b -> a",
				"store:3: c.depends_on.y: c depends on y, which is not defined",
			}},
		{"duplicate in one file", []*model.Resource{res("a", "generic", 1), res("a", "generic", 5)}, nil,
			[]string{`store:5: a.tag: tag "a" is also defined at line 1`}},
		{"duplicate without a position", []*model.Resource{{Tag: "a"}, {Tag: "a"}}, nil,
			[]string{`a.tag: tag "a" is also defined earlier`}},
		{"kit default none", []*model.Resource{{Tag: "a", Type: "nocheck", Pos: model.Pos{File: "f", Line: 2}}},
			SchemaMap{"nocheck": {Type: "nocheck", Actions: ark.Actions}},
			[]string{"f:2: a.interval: kit nocheck's default quickCheck timeout is none, but a quickCheck must end before the next one: give one shorter than the default interval 2m0s; set timeouts.quickCheck"}},
		{"kit without quickCheck needs no timeout", []*model.Resource{res("a", "noqc", 1)},
			SchemaMap{"noqc": {Type: "noqc", Actions: []ark.Action{ark.Restore, ark.Remove}}}, nil},
		{"own quickCheck timeout wins", []*model.Resource{{Tag: "a", Type: "generic", Interval: time.Second,
			Timeouts: map[ark.Action]time.Duration{ark.QuickCheck: 500 * time.Millisecond}}}, testKits, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.rs, tt.kits)
			var got []string
			if err != nil {
				var errs Errors
				if !errors.As(err, &errs) {
					t.Fatalf("got %T, want Errors", err)
				}
				got = strings.Split(err.Error(), "\n")
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tt.want, "\n\t"))
			}
		})
	}
}

// TestCheckPointsAtLines: resources from ParseResources are blamed at the
// line of the offending part, not only at their tag.
func TestCheckPointsAtLines(t *testing.T) {
	rs, err := ParseResources("r.yaml", []byte(`resources:
  - tag: web
    type: ip
    depends_on:
      - db
      - cache
    params:
      address: 10.0.0.1
      netmask: x
    timeouts:
      Recover: 5s
`))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		`r.yaml:5: resources[0].depends_on[0]: web depends on db, which is not defined`,
		`r.yaml:6: resources[0].depends_on[1]: web depends on cache, which is not defined`,
		`r.yaml:9: resources[0].params.netmask: parameter "netmask": "x" is not an integer`,
		`r.yaml:11: resources[0].timeouts.Recover: resource type ip does not implement recover`,
	}, "\n")
	if err := Check(rs, testKits); err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

// TestCheckGroupSettings: the resources of a failover group must agree
// on the group's settings when they set them; other groups may differ.
func TestCheckGroupSettings(t *testing.T) {
	res := func(tag string, line int, set func(*model.Resource), deps ...string) *model.Resource {
		r := &model.Resource{Tag: tag, Type: "generic", DependsOn: deps, Pos: model.Pos{File: "store", Line: line}}
		if set != nil {
			set(r)
		}
		return r
	}
	policy := func(p string) func(*model.Resource) { return func(r *model.Resource) { r.Policy = p } }
	tests := []struct {
		name string
		rs   []*model.Resource
		want []string
	}{
		{"one sets, others leave out", []*model.Resource{
			res("a", 1, policy(model.PolicyStable), "b"), res("b", 2, nil, "c"), res("c", 3, nil)}, nil},
		{"all agree", []*model.Resource{
			res("a", 1, func(r *model.Resource) { r.MaxFailovers = intp(0); r.FailoverResetAfter = time.Minute }, "b"),
			res("b", 2, func(r *model.Resource) { r.MaxFailovers = intp(0); r.FailoverResetAfter = time.Minute })}, nil},
		{"separate groups may differ", []*model.Resource{
			res("a", 1, policy(model.PolicyStable)), res("b", 2, policy(model.PolicyBalanced))}, nil},
		{"siblings under one parent", []*model.Resource{
			res("app", 1, nil, "ip", "fs"),
			res("ip", 2, func(r *model.Resource) { r.Switchback = model.SwitchbackAutomatic }),
			res("fs", 3, func(r *model.Resource) { r.Switchback = model.SwitchbackIntelligent })},
			[]string{`store:3: fs.switchback: "intelligent" here but "automatic" on resource ip (line 2) of the same failover group app`}},
		{"every setting, against the first that sets it", []*model.Resource{
			res("a", 1, func(r *model.Resource) { r.MaxFailovers = intp(1) }, "b"),
			res("b", 2, func(r *model.Resource) { r.MaxFailovers = intp(2); r.FailoverResetAfter = time.Hour }, "c"),
			res("c", 3, func(r *model.Resource) { r.MaxFailovers = intp(3); r.FailoverResetAfter = time.Minute })},
			[]string{
				"store:2: b.max_failovers: 2 here but 1 on resource a (line 1) of the same failover group a",
				"store:3: c.max_failovers: 3 here but 1 on resource a (line 1) of the same failover group a",
				"store:3: c.failover_reset_after: 1m0s here but 1h0m0s on resource b (line 2) of the same failover group a",
			}},
		{"a cycle does not hide the group", []*model.Resource{
			res("a", 1, policy(model.PolicyStable), "b"), res("b", 2, policy(model.PolicyBalanced), "a")},
			[]string{
				"store:1: a.depends_on: dependency cycle: a -> b -> a",
				`store:2: b.policy: "balanced" here but "stable" on resource a (line 1) of the same failover group a`,
			}},
		{"no position", []*model.Resource{
			{Tag: "a", DependsOn: []string{"b"}, Policy: model.PolicyStable}, {Tag: "b", Policy: model.PolicyPriority}},
			[]string{`b.policy: "priority" here but "stable" on resource a of the same failover group a`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			if err := Check(tt.rs, nil); err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tt.want, "\n\t"))
			}
		})
	}
}

func TestCheckNodes(t *testing.T) {
	rs := []*model.Resource{
		{Tag: "a", Priorities: map[string]int{"node1": 1, "node2": 2}, Pos: model.Pos{File: "store", Line: 1}},
		{Tag: "b", Priorities: map[string]int{"nod1": 1, "node9": 2}, Pos: model.Pos{File: "store", Line: 2}},
		{Tag: "c", Pos: model.Pos{File: "store", Line: 3}}, // any node
	}
	tests := []struct {
		name  string
		nodes []string
		want  []string
	}{
		{"all known", []string{"node2", "node1", "nod1", "node9"}, nil},
		{"unknown nodes", []string{"node1", "node2", "node1"}, []string{
			"store:2: b.priorities.nod1: nod1 is not a node of the cluster: did you mean node1? (nodes that may host resources: node1, node2)",
			"store:2: b.priorities.node9: node9 is not a node of the cluster (nodes that may host resources: node1, node2)",
		}},
		{"single node", []string{"node1"}, []string{
			"store:1: a.priorities.node2: node2 is not a node of the cluster: did you mean node1? (nodes that may host resources: node1)",
			"store:2: b.priorities.nod1: nod1 is not a node of the cluster: did you mean node1? (nodes that may host resources: node1)",
			"store:2: b.priorities.node9: node9 is not a node of the cluster: did you mean node1? (nodes that may host resources: node1)",
		}},
		{"no nodes", nil, []string{
			"store:1: a.priorities.node1: node1 is not a node of the cluster (the cluster has none)",
			"store:1: a.priorities.node2: node2 is not a node of the cluster (the cluster has none)",
			"store:2: b.priorities.nod1: nod1 is not a node of the cluster (the cluster has none)",
			"store:2: b.priorities.node9: node9 is not a node of the cluster (the cluster has none)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckNodes(rs, tt.nodes)
			var got []string
			if err != nil {
				var errs Errors
				if !errors.As(err, &errs) {
					t.Fatalf("got %T, want Errors", err)
				}
				got = strings.Split(err.Error(), "\n")
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tt.want, "\n\t"))
			}
		})
	}
}
