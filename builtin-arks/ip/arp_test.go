package main

import (
	"bytes"
	"encoding/hex"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// TestARPEncoding: the 28 bytes of RFC 826, both ways.
func TestARPEncoding(t *testing.T) {
	mac := mustMAC("02:00:5e:10:00:01")
	vip := netip.MustParseAddr("192.0.2.10")
	tests := []struct {
		name string
		p    arpPacket
		wire string
	}{
		{"probe (RFC 5227: sender 0.0.0.0)", probePacket(mac, vip),
			"0001 0800 06 04 0001 02005e100001 00000000 000000000000 c000020a"},
		{"gratuitous ARP (sender = target = VIP)", garpPacket(mac, vip),
			"0001 0800 06 04 0001 02005e100001 c000020a 000000000000 c000020a"},
		{"reply", arpPacket{Op: arpOpReply, SenderMAC: mustMAC("aa:bb:cc:dd:ee:ff"), SenderIP: vip, TargetMAC: mac, TargetIP: netip.MustParseAddr("192.0.2.1")},
			"0001 0800 06 04 0002 aabbccddeeff c000020a 02005e100001 c0000201"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.p.marshal()
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(tt.wire); !bytes.Equal(b, want) {
				t.Fatalf("marshal:\n got %x\nwant %x", b, want)
			}
			// Ethernet pads frames to 60 bytes: the padding is ignored.
			got, err := parseARP(append(b, make([]byte, 18)...))
			if err != nil {
				t.Fatal(err)
			}
			if got.Op != tt.p.Op || !macEqual(got.SenderMAC, tt.p.SenderMAC) || got.SenderIP != tt.p.SenderIP ||
				!macEqual(got.TargetMAC, tt.p.TargetMAC) || got.TargetIP != tt.p.TargetIP {
				t.Fatalf("parse: got %+v, want %+v", got, tt.p)
			}
		})
	}
}

func TestARPDecodeErrors(t *testing.T) {
	good := unhex("0001 0800 06 04 0002 aabbccddeeff c000020a 02005e100001 c0000201")
	with := func(off int, b ...byte) []byte {
		out := bytes.Clone(good)
		copy(out[off:], b)
		return out
	}
	tests := []struct {
		name string
		wire []byte
		want string
	}{
		{"short", good[:20], "want at least 28"},
		{"not ethernet", with(0, 0x00, 0x06), "not IPv4 over Ethernet"},
		{"not IPv4", with(2, 0x86, 0xdd), "not IPv4 over Ethernet"},
		{"bad lengths", with(4, 6, 16), "address lengths"},
		{"bad op", with(6, 0, 3), "neither request nor reply"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseARP(tt.wire)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestARPMarshalErrors(t *testing.T) {
	mac := mustMAC("02:00:5e:10:00:01")
	if _, err := garpPacket(mac, netip.MustParseAddr("2001:db8::1")).marshal(); err == nil {
		t.Error("an IPv6 address was encoded into ARP")
	}
	if _, err := garpPacket(net.HardwareAddr{1, 2, 3}, netip.MustParseAddr("192.0.2.1")).marshal(); err == nil {
		t.Error("a 3-byte hardware address was encoded into ARP")
	}
}

// TestConflictsWith: what counts as another host answering for the VIP.
func TestConflictsWith(t *testing.T) {
	ours, theirs := mustMAC("02:00:00:00:00:01"), mustMAC("02:00:00:00:00:02")
	vip, other := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11")
	tests := []struct {
		name string
		p    arpPacket
		want bool
	}{
		{"reply from the owner", arpPacket{Op: arpOpReply, SenderMAC: theirs, SenderIP: vip}, true},
		{"owner's gratuitous ARP", garpPacket(theirs, vip), true},
		{"our own gratuitous ARP", garpPacket(ours, vip), false},
		{"another host's probe", probePacket(theirs, vip), false},
		{"about another address", arpPacket{Op: arpOpReply, SenderMAC: theirs, SenderIP: other}, false},
	}
	for _, tt := range tests {
		if got := tt.p.conflictsWith(vip, ours); got != tt.want {
			t.Errorf("%s: conflict %v, want %v", tt.name, got, tt.want)
		}
	}
}
