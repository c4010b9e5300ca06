package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// ARP over Ethernet for IPv4 (RFC 826): the 28-byte packet the kernel
// puts after the Ethernet header.
const (
	arpLen       = 28
	arpHTEther   = 1      // hardware type: Ethernet
	arpPTIPv4    = 0x0800 // protocol type: IPv4
	arpOpRequest = 1
	arpOpReply   = 2
)

// arpPacket is one ARP packet for IPv4 over Ethernet.
type arpPacket struct {
	Op        uint16
	SenderMAC net.HardwareAddr
	SenderIP  netip.Addr
	TargetMAC net.HardwareAddr
	TargetIP  netip.Addr
}

var zeroMAC = net.HardwareAddr{0, 0, 0, 0, 0, 0}
var broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// marshal encodes p into its 28 bytes.
func (p arpPacket) marshal() ([]byte, error) {
	if len(p.SenderMAC) != 6 || len(p.TargetMAC) != 6 {
		return nil, fmt.Errorf("ARP: hardware addresses must be 6 bytes (sender %q, target %q)", p.SenderMAC, p.TargetMAC)
	}
	if !p.SenderIP.Is4() || !p.TargetIP.Is4() {
		return nil, fmt.Errorf("ARP: protocol addresses must be IPv4 (sender %s, target %s)", p.SenderIP, p.TargetIP)
	}
	b := make([]byte, arpLen)
	binary.BigEndian.PutUint16(b[0:2], arpHTEther)
	binary.BigEndian.PutUint16(b[2:4], arpPTIPv4)
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:8], p.Op)
	copy(b[8:14], p.SenderMAC)
	s := p.SenderIP.As4()
	copy(b[14:18], s[:])
	copy(b[18:24], p.TargetMAC)
	t := p.TargetIP.As4()
	copy(b[24:28], t[:])
	return b, nil
}

// parseARP decodes an ARP packet for IPv4 over Ethernet; bytes after the
// 28 (Ethernet padding) are ignored.
func parseARP(b []byte) (arpPacket, error) {
	if len(b) < arpLen {
		return arpPacket{}, fmt.Errorf("ARP: %d bytes, want at least %d", len(b), arpLen)
	}
	if ht, pt := binary.BigEndian.Uint16(b[0:2]), binary.BigEndian.Uint16(b[2:4]); ht != arpHTEther || pt != arpPTIPv4 {
		return arpPacket{}, fmt.Errorf("ARP: hardware type %d, protocol type %#04x: not IPv4 over Ethernet", ht, pt)
	}
	if b[4] != 6 || b[5] != 4 {
		return arpPacket{}, fmt.Errorf("ARP: address lengths %d/%d, want 6/4", b[4], b[5])
	}
	op := binary.BigEndian.Uint16(b[6:8])
	if op != arpOpRequest && op != arpOpReply {
		return arpPacket{}, fmt.Errorf("ARP: operation %d is neither request nor reply", op)
	}
	return arpPacket{
		Op:        op,
		SenderMAC: net.HardwareAddr(append([]byte(nil), b[8:14]...)),
		SenderIP:  netip.AddrFrom4([4]byte(b[14:18])),
		TargetMAC: net.HardwareAddr(append([]byte(nil), b[18:24]...)),
		TargetIP:  netip.AddrFrom4([4]byte(b[24:28])),
	}, nil
}

// probePacket is an RFC 5227 ARP probe for ip: a request from mac with
// sender address 0.0.0.0, so that no neighbour caches anything from it,
// while the owner of ip, if any, answers.
func probePacket(mac net.HardwareAddr, ip netip.Addr) arpPacket {
	return arpPacket{Op: arpOpRequest, SenderMAC: mac, SenderIP: netip.IPv4Unspecified(), TargetMAC: zeroMAC, TargetIP: ip}
}

// garpPacket is a gratuitous ARP (RFC 5227's ARP announcement) for ip: a
// broadcast request with sender and target address ip, which makes every
// neighbour holding an entry for ip update it to mac.
func garpPacket(mac net.HardwareAddr, ip netip.Addr) arpPacket {
	return arpPacket{Op: arpOpRequest, SenderMAC: mac, SenderIP: ip, TargetMAC: zeroMAC, TargetIP: ip}
}

// conflictsWith reports whether p shows another host using ip: it says
// it is ip (RFC 5227 §2.1.1: sender address ip from a hardware address
// not ours).
func (p arpPacket) conflictsWith(ip netip.Addr, ours net.HardwareAddr) bool {
	return p.SenderIP == ip && !macEqual(p.SenderMAC, ours)
}

func macEqual(a, b net.HardwareAddr) bool { return string(a) == string(b) }

// The probe schedule: probes at 0, probeGap, 2×probeGap, then listening
// until probeWindow has passed. RFC 5227 waits 1–2 s between probes; a
// cluster's LAN answers in well under a millisecond and a failover must
// not wait, so a shorter window is used; conflict_retries covers a host
// that was slow once.
const (
	probeCount  = 3
	probeGap    = 200 * time.Millisecond
	probeWindow = 600 * time.Millisecond
)

// probeARP sends ARP probes for ip out of ifi and returns the hardware
// address of a host that answers for it, or nil when nobody does within
// the probe window.
func probeARP(ctx context.Context, ifi *net.Interface, ip netip.Addr) (net.HardwareAddr, error) {
	conn, err := packet.Listen(ifi, packet.Datagram, unix.ETH_P_ARP, nil)
	if err != nil {
		return nil, fmt.Errorf("open ARP socket on %s: %w", ifi.Name, err)
	}
	defer conn.Close()
	// A read blocked when ctx ends returns at once.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	probe, err := probePacket(ifi.HardwareAddr, ip).marshal()
	if err != nil {
		return nil, err
	}
	to := &packet.Addr{HardwareAddr: broadcastMAC}
	start := time.Now()
	end := start.Add(probeWindow)
	sent := 0
	buf := make([]byte, 1500)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		now := time.Now()
		if sent < probeCount && !now.Before(start.Add(time.Duration(sent)*probeGap)) {
			if _, err := conn.WriteTo(probe, to); err != nil {
				return nil, fmt.Errorf("send ARP probe for %s on %s: %w", ip, ifi.Name, err)
			}
			sent++
			continue
		}
		if !now.Before(end) {
			return nil, nil
		}
		wake := end
		if sent < probeCount {
			wake = start.Add(time.Duration(sent) * probeGap)
		}
		if err := conn.SetReadDeadline(wake); err != nil {
			return nil, fmt.Errorf("ARP socket on %s: %w", ifi.Name, err)
		}
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			return nil, fmt.Errorf("read ARP on %s: %w", ifi.Name, err)
		}
		p, err := parseARP(buf[:n])
		if err != nil {
			continue // not IPv4 over Ethernet: not about us
		}
		if p.conflictsWith(ip, ifi.HardwareAddr) {
			return p.SenderMAC, nil
		}
	}
}

// announceARP sends n gratuitous ARPs for ip out of ifi, back to back
// (as keepalived does with its default garp_interval of 0).
func announceARP(ctx context.Context, ifi *net.Interface, ip netip.Addr, n int) error {
	if n <= 0 {
		return nil
	}
	b, err := garpPacket(ifi.HardwareAddr, ip).marshal()
	if err != nil {
		return err
	}
	conn, err := packet.Listen(ifi, packet.Datagram, unix.ETH_P_ARP, nil)
	if err != nil {
		return fmt.Errorf("open ARP socket on %s: %w", ifi.Name, err)
	}
	defer conn.Close()
	for i := 0; i < n; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := conn.WriteTo(b, &packet.Addr{HardwareAddr: broadcastMAC}); err != nil {
			return fmt.Errorf("send gratuitous ARP for %s on %s: %w", ip, ifi.Name, err)
		}
	}
	return nil
}
