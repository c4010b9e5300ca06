package config

import (
	"errors"
	"testing"

	"github.com/ark-ha/ark/host/model"
)

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{Pos: model.Pos{File: "r.yaml", Line: 3}, Field: "resources[0].interval", Msg: "bad"}, "r.yaml:3: resources[0].interval: bad"},
		{Error{Pos: model.Pos{File: "r.yaml"}, Msg: "file is empty"}, "r.yaml: file is empty"},
		{Error{Field: "tag", Msg: "bad"}, "tag: bad"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestErrorsSortedAndUnwrapped(t *testing.T) {
	var es Errors
	es.add(model.Pos{File: "b", Line: 1}, "x", "4")
	es.add(model.Pos{File: "a", Line: 9}, "x", "2")
	es.addCol(model.Pos{File: "a", Line: 2}, 7, "x", "1b")
	es.addCol(model.Pos{File: "a", Line: 2}, 3, "x", "1a")
	es.add(model.Pos{File: "a", Line: 10}, "x", "3")
	err := es.err()
	want := "a:2: x: 1a\na:2: x: 1b\na:9: x: 2\na:10: x: 3\nb:1: x: 4"
	if err.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", err, want)
	}
	var e *Error
	if !errors.As(err, &e) || e.Msg != "1a" {
		t.Errorf("errors.As found %v", e)
	}
	if (Errors(nil)).err() != nil {
		t.Error("no errors must be a nil error")
	}
}

func TestSuggest(t *testing.T) {
	opts := []string{"interval", "failure_interval", "depends_on", "tag", "type", "id", "ip"}
	tests := []struct{ in, want string }{
		{"intreval", "interval"},    // swap
		{"interva", "interval"},     // deletion
		{"intervall", "interval"},   // insertion
		{"inteRval", "interval"},    // case
		{"dependsOn", "depends_on"}, // case and '_'
		{"depends-on", "depends_on"},
		{"typ", "type"},
		{"ta", "tag"},
		{"if", ""}, // tag and type both one edit away: no guess
		{"xyz", ""},
		{"idd", "id"},
		{"tyg", "tag"},
		{"interval", "interval"},
	}
	for _, tt := range tests {
		if got := suggest(tt.in, opts); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
