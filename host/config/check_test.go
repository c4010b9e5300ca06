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
