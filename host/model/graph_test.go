package model

import (
	"errors"
	"slices"
	"testing"
)

func res(tag, typ string, children ...string) *Resource {
	return &Resource{Tag: tag, Type: typ, DependsOn: children}
}

func TestGraph(t *testing.T) {
	g, err := NewGraph([]*Resource{
		res("app", "generic", "fs", "ip"), res("fs", "fs", "disk"), res("ip", "ip"),
		res("disk", "diskres"), res("db", "generic"),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		got  []string
		want []string
	}{
		{"group of a leaf", g.Group("disk"), []string{"app", "disk", "fs", "ip"}},
		{"group alone", g.Group("db"), []string{"db"}},
		{"storage of the group", g.Storage("ip"), []string{"disk", "fs"}},
		{"below app", g.Below("app"), []string{"app", "disk", "fs", "ip"}},
		{"above disk", g.Above("disk"), []string{"app", "disk", "fs"}},
		{"group names", []string{g.GroupName("disk"), g.GroupName("db")}, []string{"app", "db"}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	up := g.StartLayers(g.Below("app"))
	if want := [][]string{{"disk", "ip"}, {"fs"}, {"app"}}; !slices.EqualFunc(up, want, slices.Equal) {
		t.Errorf("start layers %v, want %v", up, want)
	}
	down := g.StopLayers(g.Above("disk"))
	if want := [][]string{{"app"}, {"fs"}, {"disk"}}; !slices.EqualFunc(down, want, slices.Equal) {
		t.Errorf("stop layers %v, want %v", down, want)
	}
}

func TestGraphErrors(t *testing.T) {
	_, err := NewGraph([]*Resource{res("a", "x", "b"), res("b", "x", "c"), res("c", "x", "a")})
	var ce *CycleError
	if !errors.As(err, &ce) || err.Error() != "dependency cycle: a -> b -> c -> a" {
		t.Errorf("cycle: %v", err)
	}
	_, err = NewGraph([]*Resource{res("a", "x", "ghost")})
	var me *MissingChildError
	if !errors.As(err, &me) || me.Child != "ghost" || me.Parent != "a" {
		t.Errorf("missing child: %v", err)
	}
}

func TestSame(t *testing.T) {
	n := 2
	a := &Resource{Tag: "a", Type: "x", DependsOn: []string{"c", "b"}, RestartAttempts: &n, Pos: Pos{File: "one.yaml", Line: 3}}
	m := 2
	b := &Resource{Tag: "a", Type: "x", DependsOn: []string{"b", "c"}, RestartAttempts: &m, Params: map[string]string{}, Pos: Pos{File: "two.yaml", Line: 9}}
	if !a.Same(b) {
		t.Error("the same definition from another file, children reordered, is not Same")
	}
	b.Params = map[string]string{"k": "v"}
	if a.Same(b) {
		t.Error("different params are Same")
	}
}
