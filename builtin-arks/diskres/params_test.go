package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ark-ha/ark/sdk/ark"
)

func TestInfo(t *testing.T) {
	if err := info.Check(); err != nil {
		t.Fatal(err)
	}
	if info.Supports(ark.Recover) {
		t.Error("recover must not be supported: a lost disk is not repaired by grabbing it back")
	}
}

func TestValidate(t *testing.T) {
	const dev = "/dev/disk/by-id/ark-diskres-test-no-such-device" // absent: only the values are checked
	tests := []struct {
		name    string
		params  map[string]string
		wantErr string // "" = valid; else the parameter the error must name
	}{
		{"minimal", map[string]string{"device": dev}, ""},
		{"everything lease", map[string]string{"device": dev, "method": "lease", "lease_duration": "2s", "renew_interval": "500ms", "offset": "4096", "takeover": "force"}, ""},
		{"scsi3 with a key", map[string]string{"device": dev, "method": "scsi3", "key": "0123456789abcdef"}, ""},
		{"device missing", map[string]string{}, "device"},
		{"device relative", map[string]string{"device": "sdb"}, "device"},
		{"unknown method", map[string]string{"device": dev, "method": "scsi2"}, "method"},
		{"lease too short", map[string]string{"device": dev, "lease_duration": "10ms"}, "lease_duration"},
		{"lease not a duration", map[string]string{"device": dev, "lease_duration": "10"}, "lease_duration"},
		{"renew exactly half", map[string]string{"device": dev, "lease_duration": "2s", "renew_interval": "1s"}, "renew_interval"},
		{"renew longer than the lease", map[string]string{"device": dev, "renew_interval": "20s"}, "renew_interval"},
		{"renew zero", map[string]string{"device": dev, "renew_interval": "0s"}, "renew_interval"},
		{"renew just under half", map[string]string{"device": dev, "lease_duration": "2s", "renew_interval": "999ms"}, ""},
		{"offset unaligned", map[string]string{"device": dev, "offset": "100"}, "offset"},
		{"offset negative", map[string]string{"device": dev, "offset": "-512"}, "offset"},
		{"offset not a number", map[string]string{"device": dev, "offset": "1k"}, "offset"},
		{"takeover unknown", map[string]string{"device": dev, "takeover": "steal"}, "takeover"},
		{"key short", map[string]string{"device": dev, "method": "scsi3", "key": "abc"}, "key"},
		{"key zero", map[string]string{"device": dev, "method": "scsi3", "key": "0000000000000000"}, "key"},
		{"key with lease", map[string]string{"device": dev, "key": "0123456789abcdef"}, "key"},
		{"typo", map[string]string{"device": dev, "lease_duraton": "5s"}, "lease_duraton"},
	}
	k := New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := k.Validate(context.Background(), tt.params)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tt.wantErr == "":
			case err == nil:
				t.Fatalf("accepted, want an error naming %q", tt.wantErr)
			case !errors.Is(err, ark.ErrMisconfigured):
				t.Errorf("error %v is %s, want misconfigured", err, ark.ClassOf(err))
			case !strings.Contains(err.Error(), `"`+tt.wantErr+`"`):
				t.Errorf("error %q does not name parameter %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseParamsDefaults(t *testing.T) {
	c, err := parseParams(info.WithDefaults(map[string]string{"device": "/dev/sdz"}))
	if err != nil {
		t.Fatal(err)
	}
	want := config{method: "lease", device: "/dev/sdz", duration: 10 * time.Second, renew: 2500 * time.Millisecond}
	if c != want {
		t.Errorf("defaults: %+v, want %+v", c, want)
	}
	if c.settle() != time.Second || c.expiry(record{Duration: 20 * time.Second}) != 22500*time.Millisecond {
		t.Errorf("settle %s, expiry %s", c.settle(), c.expiry(record{Duration: 20 * time.Second}))
	}
}

func TestPrepareNeedsNode(t *testing.T) {
	req := &ark.Request{Params: info.WithDefaults(map[string]string{"device": "/dev/sdz"}), Env: map[string]string{"CLUSTER": "c"}}
	if _, _, err := prepare(req); !errors.Is(err, ark.ErrMisconfigured) || !strings.Contains(err.Error(), "NODE") {
		t.Errorf("prepare without NODE: %v", err)
	}
	req.Env["NODE"] = "n1"
	c, w, err := prepare(req)
	if err != nil || w != (who{cluster: "c", node: "n1"}) || c.key != nodeKey("n1") {
		t.Errorf("prepare: %+v %+v %v", c, w, err)
	}
}
