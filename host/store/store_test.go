package store

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ark-ha/ark/host/model"
	"github.com/ark-ha/ark/sdk/ark"
)

// res returns a resource with every field set, so that copies and
// encodings are checked on all of them.
func res(tag string, deps ...string) *model.Resource {
	n := 3
	return &model.Resource{
		Tag:        tag,
		Type:       "generic",
		ID:         tag + "-id",
		Params:     map[string]string{"script": "/opt/" + tag},
		DependsOn:  deps,
		Priorities: map[string]int{"node1": 1, "node2": 2},
		Interval:   1500 * time.Millisecond,
		Timeouts:   map[ark.Action]time.Duration{ark.Restore: time.Minute, ark.QuickCheck: -1},
		// A pointer, to check it is copied.
		RestartAttempts:            &n,
		FailureInterval:            10 * time.Minute,
		FailureThreshold:           5,
		QuickCheckTimeoutIsFailure: true,
		PidFile:                    "/run/" + tag + ".pid",
		Pos:                        model.Pos{File: "/etc/ark/" + tag + ".hcl", Line: 7},
	}
}

func st(state model.State) model.Status {
	return model.Status{Target: model.Online, State: state, Node: "node1"}
}

func kit(name string) model.Kit {
	return model.Kit{Name: name, Path: "/usr/lib/ark/" + name, SHA256: strings.Repeat("ab", 32)}
}

// summary is a compact, sorted picture of d for table tests.
func summary(d Data) string {
	var st []string
	for _, tag := range slices.Sorted(maps.Keys(d.Status)) {
		st = append(st, tag+":"+string(d.Status[tag].State))
	}
	return fmt.Sprintf("res=%v status=%v kits=%v",
		slices.Sorted(maps.Keys(d.Resources)), st, slices.Sorted(maps.Keys(d.Kits)))
}

func TestDataApply(t *testing.T) {
	// Every case starts from: resources a and b, a ISP, kit generic.
	base := func() Data {
		var d Data
		if err := d.Apply(Op{
			Define:     []*model.Resource{res("a"), res("b", "a")},
			Status:     map[string]model.Status{"a": st(model.ISP)},
			EnableKits: []model.Kit{kit("generic")},
		}); err != nil {
			t.Fatal(err)
		}
		return d
	}
	tests := []struct {
		name    string
		op      Op
		want    string // summary after, when no error
		wantErr string // substring of the ErrInvalid error; "" for success
	}{
		{name: "empty op", op: Op{},
			want: "res=[a b] status=[a:ISP] kits=[generic]"},
		{name: "define new", op: Op{Define: []*model.Resource{res("c")}},
			want: "res=[a b c] status=[a:ISP] kits=[generic]"},
		{name: "define replaces and keeps the status", op: Op{Define: []*model.Resource{res("a")}},
			want: "res=[a b] status=[a:ISP] kits=[generic]"},
		{name: "undefine removes the status", op: Op{Undefine: []string{"a"}},
			want: "res=[b] status=[] kits=[generic]"},
		{name: "undefine unknown is ignored", op: Op{Undefine: []string{"zz", "zz"}},
			want: "res=[a b] status=[a:ISP] kits=[generic]"},
		{name: "undefine then define drops the status", op: Op{Undefine: []string{"a"}, Define: []*model.Resource{res("a")}},
			want: "res=[a b] status=[] kits=[generic]"},
		{name: "status of a resource defined by the same op", op: Op{Define: []*model.Resource{res("c")}, Status: map[string]model.Status{"c": st(model.OSU)}},
			want: "res=[a b c] status=[a:ISP c:OSU] kits=[generic]"},
		{name: "status replaced whole", op: Op{Status: map[string]model.Status{"a": st(model.OSF), "b": st(model.OSU)}},
			want: "res=[a b] status=[a:OSF b:OSU] kits=[generic]"},
		{name: "kits disabled before enabled", op: Op{DisableKits: []string{"generic", "ip", "nope"}, EnableKits: []model.Kit{kit("ip")}},
			want: "res=[a b] status=[a:ISP] kits=[ip]"},
		{name: "status of an unknown resource", op: Op{Define: []*model.Resource{res("c")}, Status: map[string]model.Status{"zz": st(model.ISP)}},
			wantErr: `status of "zz": no such resource`},
		{name: "status of a resource undefined by the same op", op: Op{Undefine: []string{"a"}, Status: map[string]model.Status{"a": st(model.ISP)}},
			wantErr: `status of "a": no such resource`},
		{name: "status of empty tag", op: Op{Status: map[string]model.Status{"": st(model.ISP)}},
			wantErr: "status: empty tag"},
		{name: "nil resource", op: Op{Define: []*model.Resource{res("c"), nil}},
			wantErr: "define[1]: no resource"},
		{name: "empty tag", op: Op{Define: []*model.Resource{{Type: "ip"}}},
			wantErr: "define[0]: empty tag"},
		{name: "defined twice", op: Op{Define: []*model.Resource{res("c"), res("c")}},
			wantErr: `resource "c" appears twice`},
		{name: "undefine empty tag", op: Op{Undefine: []string{""}},
			wantErr: "undefine: empty tag"},
		{name: "kit without name", op: Op{EnableKits: []model.Kit{{Path: "/x"}}},
			wantErr: "enable_kits[0]: empty name"},
		{name: "kit twice", op: Op{EnableKits: []model.Kit{kit("ip"), kit("ip")}},
			wantErr: `kit "ip" appears twice`},
		{name: "disable empty name", op: Op{DisableKits: []string{""}},
			wantErr: "disable kit: empty name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := base()
			before := d.Clone()
			err := d.Apply(tt.op)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Apply = %v, want ErrInvalid with %q", err, tt.wantErr)
				}
				if !reflect.DeepEqual(d, before) {
					t.Fatalf("a rejected op changed the data:\n%s\nwas\n%s", summary(d), summary(before))
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if got := summary(d); got != tt.want {
				t.Errorf("after Apply:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestDataApplyCopiesResources(t *testing.T) {
	var d Data
	r := res("a")
	if err := d.Apply(Op{Define: []*model.Resource{r}}); err != nil {
		t.Fatal(err)
	}
	r.Params["script"] = "changed"
	*r.RestartAttempts = 99
	if !d.Resources["a"].Same(res("a")) {
		t.Errorf("the caller's later changes reached the data: %+v", d.Resources["a"])
	}
}

// TestCloneSharesNothing fills every field of Data (including fields added
// to the model later) and checks that Clone's result shares no pointer,
// map or slice with the original.
func TestCloneSharesNothing(t *testing.T) {
	var r model.Resource
	fill(reflect.ValueOf(&r).Elem())
	var s model.Status
	fill(reflect.ValueOf(&s).Elem())
	var k model.Kit
	fill(reflect.ValueOf(&k).Elem())
	k.Name = "k"
	r.Tag = "r"
	d := Data{
		Resources: map[string]*model.Resource{"r": &r},
		Status:    map[string]model.Status{"r": s},
		Kits:      map[string]model.Kit{"k": k},
	}
	c := d.Clone()
	if !reflect.DeepEqual(c, d) {
		t.Fatalf("Clone differs:\n%+v\n%+v", c, d)
	}
	if p := shared(reflect.ValueOf(d), reflect.ValueOf(c), "Data"); p != "" {
		t.Errorf("Clone shares %s with the original", p)
	}
}

// fill sets every settable zero field under v to a non-zero value.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(7)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0))
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k)
		fill(e)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	default:
		panic("fill: unhandled kind " + v.Kind().String())
	}
}

// shared returns the path of a pointer, map or slice that a and b share,
// or "".
func shared(a, b reflect.Value, path string) string {
	switch a.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice:
		if !a.IsNil() && a.Pointer() == b.Pointer() {
			return path
		}
	}
	switch a.Kind() {
	case reflect.Pointer:
		if !a.IsNil() {
			return shared(a.Elem(), b.Elem(), "*"+path)
		}
	case reflect.Slice:
		for i := range a.Len() {
			if p := shared(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	case reflect.Map:
		for _, k := range a.MapKeys() {
			if p := shared(a.MapIndex(k), b.MapIndex(k), fmt.Sprintf("%s[%v]", path, k)); p != "" {
				return p
			}
		}
	case reflect.Struct:
		if a.Type() == reflect.TypeFor[time.Time]() {
			return "" // immutable
		}
		for i := range a.NumField() {
			if a.Type().Field(i).IsExported() {
				if p := shared(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); p != "" {
					return p
				}
			}
		}
	}
	return ""
}

func TestStaleStateReportIgnored(t *testing.T) {
	var d Data
	if err := d.Apply(Op{Define: []*model.Resource{{Tag: "web", Type: "generic"}},
		Status: map[string]model.Status{"web": {Target: model.Online, State: model.ISP, Node: "b"}}}); err != nil {
		t.Fatal(err)
	}
	// Node a was cut off while web moved to b: its late report of OSU
	// must not hide that web runs on b.
	if err := d.Apply(Op{States: map[string]model.Status{"web": {State: model.OSU, Node: "a"}}}); err != nil {
		t.Fatal(err)
	}
	if st := d.Status["web"]; st.Node != "b" || st.State != model.ISP || st.Target != model.Online {
		t.Fatalf("after a stale report: %+v, want ISP on b, ONLINE", st)
	}
	// b's own report applies, and keeps the target.
	if err := d.Apply(Op{States: map[string]model.Status{"web": {State: model.OSF, Node: "b"}}}); err != nil {
		t.Fatal(err)
	}
	if st := d.Status["web"]; st.State != model.OSF || st.Target != model.Online {
		t.Fatalf("after b's report: %+v, want OSF, ONLINE", st)
	}
	// Once web is out of service on b, a's report applies again.
	if err := d.Apply(Op{States: map[string]model.Status{"web": {State: model.ISP, Node: "a"}}}); err != nil {
		t.Fatal(err)
	}
	if st := d.Status["web"]; st.Node != "a" || st.State != model.ISP {
		t.Fatalf("after a's report: %+v, want ISP on a", st)
	}
}
