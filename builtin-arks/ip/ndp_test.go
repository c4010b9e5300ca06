package main

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

// TestUnsolicitedNA: the advertisement is what RFC 4861 §4.4 and §7.2.6
// ask for, and its checksum verifies.
func TestUnsolicitedNA(t *testing.T) {
	vip := netip.MustParseAddr("2001:db8::10")
	mac := mustMAC("02:00:5e:10:00:01")
	b, err := unsolicitedNA(vip, mac)
	if err != nil {
		t.Fatal(err)
	}
	want := unhex("60000000 0020 3a ff" + // version 6, payload 32, ICMPv6, hop limit 255
		"20010db8000000000000000000000010" + // source: the VIP
		"ff020000000000000000000000000001" + // destination: all nodes
		"88 00 0000 20000000" + // NA, code 0, checksum (not compared), override only
		"20010db8000000000000000000000010" + // target
		"02 01 02005e100001") // target link-layer address option
	if len(b) != len(want) {
		t.Fatalf("length %d, want %d", len(b), len(want))
	}
	got := bytes.Clone(b)
	got[42], got[43] = 0, 0 // compare all but the checksum
	if !bytes.Equal(got, want) {
		t.Fatalf("packet:\n got %x\nwant %x", got, want)
	}
	// A message with a correct checksum sums to zero with it.
	if sum := icmpv6Checksum(vip, allNodes, b[ipv6HeaderLen:]); sum != 0 {
		t.Errorf("checksum does not verify: residue %#04x", sum)
	}
	if tgt, ok := naTarget(b); !ok || tgt != vip {
		t.Errorf("naTarget of our own NA: %s %v", tgt, ok)
	}
	flags := b[ipv6HeaderLen+4]
	if flags&naFlagOverride == 0 || flags&naFlagSolicited != 0 || flags&naFlagRouter != 0 {
		t.Errorf("flags %#02x: want override only", flags)
	}
}

// TestICMPv6Checksum against sums computed by hand (RFC 1071's one's
// complement arithmetic).
func TestICMPv6Checksum(t *testing.T) {
	src, dst := netip.MustParseAddr("::1"), netip.MustParseAddr("::2")
	tests := []struct {
		name string
		m    []byte
		want uint16
	}{
		// pseudo-header: 0x0001 + 0x0002 + len + 0x003a
		{"empty", nil, ^uint16(1 + 2 + 0 + 58)},
		{"odd length", []byte{0x01}, ^uint16(1 + 2 + 1 + 58 + 0x0100)},
		{"carries fold: 0xffff is zero", []byte{0xff, 0xff, 0xff, 0xff}, ^uint16(1 + 2 + 4 + 58)},
		{"carry folds: 0xffff+2 = 0x10001 folds to 2", []byte{0xff, 0xff, 0x00, 0x02}, ^uint16(1 + 2 + 4 + 58 + 2)},
	}
	for _, tt := range tests {
		if got := icmpv6Checksum(src, dst, tt.m); got != tt.want {
			t.Errorf("%s: %#04x, want %#04x", tt.name, got, tt.want)
		}
	}
}

func TestNATarget(t *testing.T) {
	vip := netip.MustParseAddr("2001:db8::10")
	na, _ := unsolicitedNA(vip, mustMAC("02:00:00:00:00:01"))
	ns := bytes.Clone(na)
	ns[ipv6HeaderLen] = 135 // a solicitation, not an advertisement
	udp := bytes.Clone(na)
	udp[6] = 17
	v4 := bytes.Clone(na)
	v4[0] = 4 << 4
	tests := []struct {
		name string
		b    []byte
		ok   bool
	}{
		{"advertisement", na, true},
		{"solicitation", ns, false},
		{"not ICMPv6", udp, false},
		{"not IPv6", v4, false},
		{"short", na[:50], false},
	}
	for _, tt := range tests {
		if _, ok := naTarget(tt.b); ok != tt.ok {
			t.Errorf("%s: ok %v, want %v", tt.name, ok, tt.ok)
		}
	}
	if binary.BigEndian.Uint16(na[4:6]) != 32 {
		t.Error("payload length")
	}
}
