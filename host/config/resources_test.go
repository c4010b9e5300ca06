package config

import (
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/ark-ha/ark/host/model"
	"github.com/ark-ha/ark/sdk/ark"
)

func intp(i int) *int { return &i }

func TestGoodResources(t *testing.T) {
	const file = "testdata/good/resources.yaml"
	rs, err := LoadResources(file)
	if err != nil {
		t.Fatal(err)
	}
	want := []*model.Resource{
		{
			Tag:        "web-app",
			Type:       "generic",
			ID:         "WEBAPP",
			DependsOn:  []string{"web-cache"},
			Priorities: map[string]int{"node1": 1, "node2": 2},
			Interval:   10 * time.Second,
			Timeouts: map[ark.Action]time.Duration{
				ark.Restore: 60 * time.Second, ark.Remove: 30 * time.Second,
				ark.QuickCheck: 5 * time.Second, ark.Recover: 20 * time.Second,
			},
			RestartAttempts:    intp(2),
			FailureInterval:    10 * time.Minute,
			FailureThreshold:   5,
			Policy:             model.PolicyStable,
			Switchback:         model.SwitchbackAutomatic,
			MaxFailovers:       intp(3),
			FailoverResetAfter: 30 * time.Minute,
			PidFile:            "/run/web-app.pid",
			Params:             map[string]string{"dir": "/etc/ark/web-app", "port": "7101"},
			Pos:                model.Pos{File: file, Line: 6},
		},
		{
			Tag:        "web-cache",
			Type:       "generic",
			DependsOn:  []string{"web-store"},
			Priorities: map[string]int{"node1": 1, "node2": 2},
			Interval:   30 * time.Second,
			Params:     map[string]string{"dir": "/etc/ark/web-cache"},
			Pos:        model.Pos{File: file, Line: 26},
		},
		{
			Tag:        "web-store",
			Type:       "generic",
			Policy:     model.PolicyStable,
			Priorities: map[string]int{"node1": 1, "node2": 2},
			Timeouts:   map[ark.Action]time.Duration{ark.Remove: -1},
			Params:     map[string]string{"dir": "/etc/ark/web-store", "shell": "system"},
			Pos:        model.Pos{File: file, Line: 36},
		},
	}
	if !reflect.DeepEqual(rs, want) {
		for i := range max(len(rs), len(want)) {
			if i >= len(rs) || i >= len(want) || !reflect.DeepEqual(rs[i], want[i]) {
				t.Errorf("resource %d:\n got %+v\nwant %+v", i, at(rs, i), at(want, i))
			}
		}
	}
	if err := Check(rs, testKits); err != nil {
		t.Errorf("Check: %v", err)
	}
	if err := Check(rs, nil); err != nil {
		t.Errorf("Check without kits: %v", err)
	}
	g, err := model.NewGraph(rs)
	if err != nil {
		t.Fatal(err)
	}
	layers := g.StartLayers(g.Tags())
	if want := [][]string{{"web-store"}, {"web-cache"}, {"web-app"}}; !reflect.DeepEqual(layers, want) {
		t.Errorf("start layers %v, want %v (a 3-deep hierarchy)", layers, want)
	}
}

func at(rs []*model.Resource, i int) any {
	if i < len(rs) {
		return *rs[i]
	}
	return nil
}

// TestParseResources covers what the good file does not: the spellings
// and conversions the format allows.
func TestParseResources(t *testing.T) {
	const head = "resources:\n  - tag: r\n    type: generic\n"
	tests := []struct {
		name string
		yaml string // appended to head
		want func(*model.Resource) any
		is   any
	}{
		{"timeout none", "    timeouts: {restore: none, remove: NONE}\n",
			func(r *model.Resource) any { return r.Timeouts },
			map[ark.Action]time.Duration{ark.Restore: -1, ark.Remove: -1}},
		{"timeout 0 is none", "    timeouts: {recover: 0, restore: 0s}\n",
			func(r *model.Resource) any { return r.Timeouts },
			map[ark.Action]time.Duration{ark.Recover: -1, ark.Restore: -1}},
		{"action spellings", "    timeouts: {RESTORE: 1s, quickcheck: 2s, Recover: 3s}\n",
			func(r *model.Resource) any { return r.Timeouts },
			map[ark.Action]time.Duration{ark.Restore: time.Second, ark.QuickCheck: 2 * time.Second, ark.Recover: 3 * time.Second}},
		{"quickCheck just under the interval", "    interval: 10s\n    timeouts: {quickCheck: 9.9s}\n",
			func(r *model.Resource) any { return r.Timeouts[ark.QuickCheck] },
			9900 * time.Millisecond},
		{"minimum interval", "    interval: 100ms\n    timeouts: {quickCheck: 50ms}\n",
			func(r *model.Resource) any { return r.Interval }, 100 * time.Millisecond},
		{"restart_attempts 0 disables recovery", "    restart_attempts: 0\n",
			func(r *model.Resource) any { return r.Restarts() }, 0},
		{"restart_attempts unset is the default", "",
			func(r *model.Resource) any { return r.RestartAttempts }, (*int)(nil)},
		{"scalar params become their text", "    params: {port: 7101, debug: true, mode: 0755, ratio: 1.50, empty: \"\"}\n",
			func(r *model.Resource) any { return r.Params },
			map[string]string{"port": "7101", "debug": "true", "mode": "0755", "ratio": "1.50", "empty": ""}},
		{"failure_interval 0", "    failure_interval: 0\n",
			func(r *model.Resource) any { return r.FailureInterval }, time.Duration(0)},
		{"pidfile cleaned", "    pidfile: /run//web/../web.pid\n",
			func(r *model.Resource) any { return r.PidFile }, "/run/web.pid"},
		{"depends_on order kept", "    depends_on: [b, a]\n",
			func(r *model.Resource) any { return r.DependsOn }, []string{"b", "a"}},
		{"empty priorities", "    priorities: {}\n",
			func(r *model.Resource) any { return len(r.Priorities) }, 0},
		{"true", "    quickcheck_timeout_is_failure: true\n",
			func(r *model.Resource) any { return r.QuickCheckTimeoutIsFailure }, true},
		{"failover settings unset stay zero", "",
			func(r *model.Resource) any {
				return []any{r.Policy, r.Switchback, r.MaxFailovers, r.FailoverResetAfter}
			}, []any{"", "", (*int)(nil), time.Duration(0)}},
		{"failover settings", "    policy: balanced\n    switchback: intelligent\n    max_failovers: 0\n    failover_reset_after: 1h30m\n",
			func(r *model.Resource) any {
				return []any{r.PlacementPolicy(), r.SwitchbackMode(), r.FailoverLimit(), r.ResetAfter()}
			}, []any{model.PolicyBalanced, model.SwitchbackIntelligent, 0, 90 * time.Minute}},
		{"policy priority", "    policy: priority\n    switchback: automatic\n",
			func(r *model.Resource) any { return []string{r.Policy, r.Switchback} },
			[]string{model.PolicyPriority, model.SwitchbackAutomatic}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := ParseResources("t.yaml", []byte(head+tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.want(rs[0]); !reflect.DeepEqual(got, tt.is) {
				t.Errorf("got %#v, want %#v", got, tt.is)
			}
		})
	}
}

// TestParseResourcesErrors covers inputs that golden files cannot hold
// conveniently, and that all errors come at once.
func TestParseResourcesErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"anchors and aliases are followed",
			"resources:\n  - tag: a\n    type: generic\n    params: &p {dir: [x]}\n  - tag: b\n    type: generic\n    params: *p\n",
			[]string{
				"t.yaml:4: resources[0].params.dir: want a single value, got a list: parameters reach the kit as strings, so they cannot nest",
				"t.yaml:4: resources[1].params.dir: want a single value, got a list: parameters reach the kit as strings, so they cannot nest",
			}},
		{"merge keys",
			"resources:\n  - tag: a\n    type: generic\n    <<: {interval: 10s}\n",
			[]string{"t.yaml:4: resources[0]: merge keys (<<) are not supported: write the fields out"}},
		{"non-string key",
			"resources:\n  - tag: a\n    type: generic\n    ? [x]\n    : 1\n",
			[]string{"t.yaml:4: resources[0]: a key must be a plain name, got a list"}},
		{"every error of the file",
			"resources:\n  - tag: a\n    type: generic\n    interval: 1\n  - tag: a\n    typ: generic\n",
			[]string{
				"t.yaml:4: resources[0].interval: 1 has no unit: write e.g. 1s",
				"t.yaml:5: resources[1].type: required field not set",
				"t.yaml:5: resources[1].tag: duplicate tag \"a\" (first defined at line 2)",
				"t.yaml:6: resources[1].typ: unknown field: did you mean type?",
			}},
		{"null resources", "resources:\n", []string{"t.yaml:1: resources: want a list, got no value"}},
		{"huge int", "resources:\n  - tag: a\n    type: generic\n    failure_threshold: 99999999999999999999\n",
			[]string{"t.yaml:4: resources[0].failure_threshold: 99999999999999999999 is out of range"}},
		{"syntax", "resources: [\n", []string{"t.yaml:1: YAML syntax: did not find expected node content"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := ParseResources("t.yaml", []byte(tt.yaml))
			if rs != nil {
				t.Errorf("resources returned beside an error: %v", rs)
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
}

// TestSourceIsForgotten: the side table of lines must not keep parsed
// resources alive.
func TestSourceIsForgotten(t *testing.T) {
	rs, err := ParseResources("t.yaml", []byte("resources:\n  - {tag: a, type: generic}\n"))
	if err != nil {
		t.Fatal(err)
	}
	k := weak.Make(rs[0])
	if _, ok := sources.Load(k); !ok {
		t.Fatal("no source remembered")
	}
	rs = nil
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		if _, ok := sources.Load(k); !ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("source still remembered after the resource was collected")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
