package ark

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

var testInfo = Info{
	Type: "t", Version: "1",
	Params: []ParamSpec{
		{Name: "address", Type: TypeString, Required: true},
		{Name: "count", Type: TypeInt, Default: "3"},
		{Name: "fsck", Type: TypeBool},
		{Name: "wait", Type: TypeDuration},
	},
	Actions: []Action{Restore, Remove, QuickCheck},
}

func TestValidateParams(t *testing.T) {
	open := testInfo
	open.OpenParams = true
	tests := []struct {
		name   string
		info   Info
		params map[string]string
		want   []string // substrings of the error; none means valid
	}{
		{"valid", testInfo, map[string]string{"address": "10.0.0.1", "count": "5", "fsck": "on", "wait": "1m"}, nil},
		{"missing required", testInfo, map[string]string{}, []string{`missing required parameter "address"`}},
		{"unknown", testInfo, map[string]string{"address": "a", "colour": "x"}, []string{`unknown parameter "colour"`, "known: address, count, fsck, wait"}},
		{"typo is named", open, map[string]string{"adress": "a"}, []string{`unknown parameter "adress": did you mean "address"?`}},
		{"case typo", open, map[string]string{"address": "a", "Count": "1"}, []string{`did you mean "count"`}},
		{"open accepts others", open, map[string]string{"address": "a", "port": "7000"}, nil},
		{"open refuses bad names", open, map[string]string{"address": "a", "x y": "1"}, []string{`parameter name "x y"`}},
		{"bad int", testInfo, map[string]string{"address": "a", "count": "3x"}, []string{`parameter "count": "3x" is not an integer`}},
		{"bad bool", testInfo, map[string]string{"address": "a", "fsck": "maybe"}, []string{`"maybe" is not a boolean`}},
		{"bad duration", testInfo, map[string]string{"address": "a", "wait": "10"}, []string{`"10" is not a duration`}},
		{"all errors at once", testInfo, map[string]string{"count": "x", "wait": "y"}, []string{"count", "wait", "address"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.info.ValidateParams(tt.params)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error containing %q, got none", tt.want)
			}
			if !errors.Is(err, ErrMisconfigured) {
				t.Errorf("error %v is not ErrMisconfigured", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestInfoCheck(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Info)
		want string
	}{
		{"valid", func(*Info) {}, ""},
		{"no type", func(i *Info) { i.Type = "" }, "type name is empty"},
		{"no remove", func(i *Info) { i.Actions = []Action{Restore} }, "remove is not in the supported actions"},
		{"bad action", func(i *Info) { i.Actions = append(i.Actions, "start") }, `action "start"`},
		{"duplicate param", func(i *Info) { i.Params = append(i.Params, ParamSpec{Name: "count", Type: TypeInt}) }, `"count" is declared twice`},
		{"unknown type", func(i *Info) { i.Params = append(i.Params, ParamSpec{Name: "x", Type: "float"}) }, `unknown type "float"`},
		{"bad default", func(i *Info) { i.Params[1].Default = "three" }, `"count" default`},
		{"negative timeout", func(i *Info) { i.DefaultTimeouts = map[Action]time.Duration{Restore: -time.Second} }, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := testInfo
			i.Params = append([]ParamSpec(nil), testInfo.Params...)
			i.Actions = append([]Action(nil), testInfo.Actions...)
			tt.mod(&i)
			err := i.Check()
			if tt.want == "" && err != nil {
				t.Fatalf("want valid, got %v", err)
			}
			if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("want error containing %q, got %v", tt.want, err)
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	got := testInfo.WithDefaults(map[string]string{"address": "a"})
	if got["count"] != "3" || got["address"] != "a" || len(got) != 2 {
		t.Fatalf("WithDefaults = %v", got)
	}
}

func TestErrorClasses(t *testing.T) {
	base := errors.New("no such device /dev/sdz")
	tests := []struct {
		err   error
		class Class
		is    error
	}{
		{Transient(base), ClassTransient, ErrTransient},
		{NotInstalled(base), ClassNotInstalled, ErrNotInstalled},
		{Misconfigured(base), ClassMisconfigured, ErrMisconfigured},
		{fmt.Errorf("restore web: %w", Misconfigured(base)), ClassMisconfigured, ErrMisconfigured},
		{fmt.Errorf("recover: %w", ErrNotSupported), ClassNotSupported, ErrNotSupported},
		{Errorf(ClassTransient, "busy: %w", base), ClassTransient, ErrTransient},
	}
	for _, tt := range tests {
		if got := ClassOf(tt.err); got != tt.class {
			t.Errorf("ClassOf(%v) = %v, want %v", tt.err, got, tt.class)
		}
		if !errors.Is(tt.err, tt.is) {
			t.Errorf("errors.Is(%v, %v) = false", tt.err, tt.is)
		}
		if tt.class != ClassNotSupported && !errors.Is(tt.err, base) {
			t.Errorf("%v does not unwrap to its cause", tt.err)
		}
		for _, other := range []error{ErrTransient, ErrNotInstalled, ErrMisconfigured} {
			if other != tt.is && errors.Is(tt.err, other) {
				t.Errorf("%v also matches %v", tt.err, other)
			}
		}
	}
	if ClassOf(base) != ClassNone || Transient(nil) != nil {
		t.Error("plain errors must be unclassified and nil stays nil")
	}
}

func TestEnviron(t *testing.T) {
	env := EnvSpec{Tag: "web", ID: "web-1", Action: Remove, ResourceType: "generic", Node: "n1", Cluster: "c",
		Event: EventFailover, Factor: FactorGroupFailover, Server: ServerOther, Priority: 2, Group: "g", Disk: DiskSuccess}.Environ()
	want := map[string]string{
		"TAG": "web", "ID": "web-1", "ACTION": "remove", "RESOURCE_TYPE": "generic", "NODE": "n1", "CLUSTER": "c",
		"ARK_EVENT": "FAILOVER", "ARMS_EVENT": "FAILOVER", "CLP_EVENT": "FAILOVER",
		"ARK_FACTOR": "GROUPFAILOVER", "ARMS_FACTOR": "GROUPFAILOVER", "CLP_FACTOR": "GROUPFAILOVER",
		"ARK_SERVER": "OTHER", "ARMS_SERVER": "OTHER", "CLP_SERVER": "OTHER",
		"ARK_PRIORITY": "2", "ARMS_PRIORITY": "2", "CLP_PRIORITY": "2",
		"ARK_GROUP": "g", "ARMS_GROUPNAME": "g", "CLP_GROUPNAME": "g",
		"ARK_DISK": "SUCCESS", "ARMS_DISK": "SUCCESS", "CLP_DISK": "SUCCESS",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if len(env) != len(want) {
		t.Errorf("environment has %d variables, want %d: %v", len(env), len(want), env)
	}
	// A restore has no factor: none of its names may be set.
	r := EnvSpec{Tag: "web", Action: Restore, Event: EventStart}.Environ()
	for _, k := range []string{"ARK_FACTOR", "ARMS_FACTOR", "CLP_FACTOR", "ARK_PRIORITY"} {
		if _, ok := r[k]; ok {
			t.Errorf("restore environment sets %s", k)
		}
	}
}

func TestParamEnv(t *testing.T) {
	got := ParamEnv(map[string]string{"addr": "1", "pid-file": "2", "x.y": "3"})
	for k, v := range map[string]string{"PARAM_ADDR": "1", "PARAM_PID_FILE": "2", "PARAM_X_Y": "3"} {
		if got[k] != v {
			t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{
		"LK_DEBUG": slog.LevelDebug, "LK_INFO": slog.LevelInfo, "LK_WARN": slog.LevelWarn, "LK_ERROR": slog.LevelError,
		"debug": slog.LevelDebug, "INFO": slog.LevelInfo, "warning": slog.LevelWarn, "error": slog.LevelError, "LK_FATAL": slog.LevelError,
	} {
		got, err := ParseLevel(in)
		if err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseLevel("LOUD"); err == nil || !strings.Contains(err.Error(), "LK_DEBUG") {
		t.Errorf("ParseLevel(LOUD) error %v should list the levels", err)
	}
}

func TestParseAction(t *testing.T) {
	for _, s := range []string{"quickcheck", "QuickCheck", "quickCheck"} {
		if a, err := ParseAction(s); err != nil || a != QuickCheck {
			t.Errorf("ParseAction(%q) = %v, %v", s, a, err)
		}
	}
	if _, err := ParseAction("start"); err == nil {
		t.Error("ParseAction(start) must fail")
	}
}
