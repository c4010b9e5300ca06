package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ark-ha/ark/sdk/ark"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]string
		want   []string // substrings of the error; none: valid
	}{
		{"ipv4", map[string]string{"address": "192.0.2.10/24"}, nil},
		{"ipv6", map[string]string{"address": "2001:db8::10/64"}, nil},
		{"host prefix", map[string]string{"address": "192.0.2.10/32", "interface": "eth0"}, nil},
		{"all params", map[string]string{"address": "10.1.2.3/8", "interface": "bond0.100", "ping_targets": "10.0.0.1, 2001:db8::1",
			"ping_timeout": "500ms", "conflict_retries": "0", "conflict_interval": "0s", "announce_count": "0", "announce_repeat_after": "0"}, nil},
		{"missing address", map[string]string{}, []string{`missing required parameter "address"`}},
		{"no prefix", map[string]string{"address": "192.0.2.10"}, []string{`"address"`, "no prefix length", "192.0.2.10/24", "192.0.2.10/32"}},
		{"no prefix v6", map[string]string{"address": "2001:db8::10"}, []string{"no prefix length", "2001:db8::10/64", "/128"}},
		{"not an address", map[string]string{"address": "vip.example.com/24"}, []string{`"address"`, "not an IP address"}},
		{"bad prefix", map[string]string{"address": "192.0.2.10/33"}, []string{`"address"`, "192.0.2.10/33"}},
		{"bad prefix v6", map[string]string{"address": "2001:db8::10/129"}, []string{`"address"`}},
		{"prefix 0", map[string]string{"address": "192.0.2.10/0"}, []string{"prefix length 0"}},
		{"network address", map[string]string{"address": "192.0.2.0/24"}, []string{"network address of 192.0.2.0/24"}},
		{"broadcast address", map[string]string{"address": "192.0.2.255/24"}, []string{"broadcast address of 192.0.2.0/24"}},
		{"/31 has no broadcast", map[string]string{"address": "192.0.2.1/31"}, nil},
		{"loopback", map[string]string{"address": "127.0.0.5/8"}, []string{"loopback"}},
		{"multicast", map[string]string{"address": "224.0.0.5/24"}, []string{"multicast"}},
		{"unspecified", map[string]string{"address": "::/64"}, []string{"unspecified"}},
		{"mapped", map[string]string{"address": "::ffff:192.0.2.10/120"}, []string{"IPv4-mapped"}},
		{"zone", map[string]string{"address": "fe80::1%eth0/64"}, []string{"zone"}},
		{"long interface", map[string]string{"address": "192.0.2.10/24", "interface": "averyveryverylongname"}, []string{`"interface"`, "15 bytes"}},
		{"alias interface", map[string]string{"address": "192.0.2.10/24", "interface": "eth0:1"}, []string{`"interface"`, "alias"}},
		{"space interface", map[string]string{"address": "192.0.2.10/24", "interface": "eth 0"}, []string{`"interface"`, "white space"}},
		{"host name target", map[string]string{"address": "192.0.2.10/24", "ping_targets": "gw.example.com"}, []string{`"ping_targets"`, "gw.example.com", "not an IP address"}},
		{"empty target", map[string]string{"address": "192.0.2.10/24", "ping_targets": "192.0.2.1,,192.0.2.2"}, []string{`"ping_targets"`, "entry 2", "empty"}},
		{"multicast target", map[string]string{"address": "192.0.2.10/24", "ping_targets": "ff02::1"}, []string{`"ping_targets"`, "not a unicast"}},
		{"zero ping timeout", map[string]string{"address": "192.0.2.10/24", "ping_timeout": "0s"}, []string{`"ping_timeout"`, "more than 0"}},
		{"negative retries", map[string]string{"address": "192.0.2.10/24", "conflict_retries": "-1"}, []string{`"conflict_retries"`, "negative"}},
		{"negative interval", map[string]string{"address": "192.0.2.10/24", "conflict_interval": "-1s"}, []string{`"conflict_interval"`, "negative"}},
		{"too many announcements", map[string]string{"address": "192.0.2.10/24", "announce_count": "1000"}, []string{`"announce_count"`, "more than 100"}},
		{"schema type error is reported once", map[string]string{"address": "192.0.2.10/24", "announce_count": "many"}, []string{`"announce_count"`, "not an integer"}},
		{"typo", map[string]string{"address": "192.0.2.10/24", "ping_target": "192.0.2.1"}, []string{`did you mean "ping_targets"`}},
		{"several problems", map[string]string{"address": "192.0.2.10", "ping_targets": "x"}, []string{`"address"`, `"ping_targets"`}},
	}
	k := New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := k.Validate(context.Background(), tt.params)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error containing %q, got none", tt.want)
			}
			if !errors.Is(err, ark.ErrMisconfigured) {
				t.Errorf("error %v is of class %v, want misconfigured", err, ark.ClassOf(err))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if n := strings.Count(err.Error(), "not an integer"); n > 1 {
				t.Errorf("error %q reports the same problem %d times", err, n)
			}
		})
	}
}

// TestParseConfigDefaults: the defaults of the schema parse into the
// documented values.
func TestParseConfigDefaults(t *testing.T) {
	c, errs := parseConfig(info.WithDefaults(map[string]string{"address": "192.0.2.10/24"}))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if c.ip().String() != "192.0.2.10" || c.addr.Bits() != 24 || c.v6() {
		t.Errorf("address parsed as %s", c.addr)
	}
	if c.iface != "" || c.pingTargets != nil {
		t.Errorf("interface %q, targets %v: want none", c.iface, c.pingTargets)
	}
	if c.pingTimeout.String() != "1s" || c.conflictRetries != 5 || c.conflictInterval.String() != "30s" ||
		c.announceCount != 5 || c.announceRepeatAfter.String() != "5s" {
		t.Errorf("defaults parsed as %+v", c)
	}
	if err := info.Check(); err != nil {
		t.Error(err)
	}
}
