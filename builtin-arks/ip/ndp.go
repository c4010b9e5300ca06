package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// IPv6 Neighbor Discovery (RFC 4861), the little of it the kit needs: an
// unsolicited Neighbor Advertisement to announce the VIP, and recognising
// the advertisement that makes the kernel's DAD fail.
const (
	ipv6HeaderLen   = 40
	protoICMPv6     = 58
	icmpNA          = 136
	naLen           = 24 // type, code, checksum, flags+reserved, target
	optTargetLLAddr = 2
	naFlagOverride  = 0x20
	naFlagSolicited = 0x40
	naFlagRouter    = 0x80
)

// allNodes is ff02::1 and allNodesMAC its Ethernet multicast address
// (RFC 2464: 33:33 and the low 32 bits).
var (
	allNodes    = netip.MustParseAddr("ff02::1")
	allNodesMAC = net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}
)

// unsolicitedNA builds the IPv6 packet (header included) of an
// unsolicited Neighbor Advertisement for target from mac: sent from the
// target to all nodes, hop limit 255 (receivers drop any other), override
// set and solicited clear, so that every neighbour holding an entry for
// target replaces its link-layer address with mac (RFC 4861 §7.2.6).
func unsolicitedNA(target netip.Addr, mac net.HardwareAddr) ([]byte, error) {
	if !target.Is6() || target.Is4In6() {
		return nil, fmt.Errorf("neighbor advertisement: %s is not an IPv6 address", target)
	}
	if len(mac) != 6 {
		return nil, fmt.Errorf("neighbor advertisement: hardware address %q is not 6 bytes", mac)
	}
	payload := naLen + 8
	b := make([]byte, ipv6HeaderLen+payload)
	b[0] = 6 << 4
	binary.BigEndian.PutUint16(b[4:6], uint16(payload))
	b[6] = protoICMPv6
	b[7] = 255
	src, dst := target.As16(), allNodes.As16()
	copy(b[8:24], src[:])
	copy(b[24:40], dst[:])
	m := b[ipv6HeaderLen:]
	m[0] = icmpNA
	m[4] = naFlagOverride
	copy(m[8:24], src[:])
	m[24], m[25] = optTargetLLAddr, 1 // length in units of 8 bytes
	copy(m[26:32], mac)
	binary.BigEndian.PutUint16(m[2:4], icmpv6Checksum(target, allNodes, m))
	return b, nil
}

// icmpv6Checksum is the ICMPv6 checksum of message m (checksum field
// zero) from src to dst: the one's complement sum over the IPv6
// pseudo-header and the message (RFC 4443 §2.3).
func icmpv6Checksum(src, dst netip.Addr, m []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	s, d := src.As16(), dst.As16()
	add(s[:])
	add(d[:])
	var l [8]byte
	binary.BigEndian.PutUint32(l[0:4], uint32(len(m)))
	l[7] = protoICMPv6
	add(l[:])
	add(m)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// naTarget returns the target address of b when b is an IPv6 packet
// carrying a Neighbor Advertisement without extension headers (what the
// kernel sends), and ok = false otherwise.
func naTarget(b []byte) (target netip.Addr, ok bool) {
	if len(b) < ipv6HeaderLen+naLen || b[0]>>4 != 6 || b[6] != protoICMPv6 || b[ipv6HeaderLen] != icmpNA {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16([16]byte(b[ipv6HeaderLen+8 : ipv6HeaderLen+24])), true
}

// announceNA sends n unsolicited Neighbor Advertisements for ip out of
// ifi, back to back.
func announceNA(ctx context.Context, ifi *net.Interface, ip netip.Addr, n int) error {
	if n <= 0 {
		return nil
	}
	b, err := unsolicitedNA(ip, ifi.HardwareAddr)
	if err != nil {
		return err
	}
	conn, err := packet.Listen(ifi, packet.Datagram, unix.ETH_P_IPV6, nil)
	if err != nil {
		return fmt.Errorf("open IPv6 packet socket on %s: %w", ifi.Name, err)
	}
	defer conn.Close()
	for i := 0; i < n; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := conn.WriteTo(b, &packet.Addr{HardwareAddr: allNodesMAC}); err != nil {
			return fmt.Errorf("send neighbor advertisement for %s on %s: %w", ip, ifi.Name, err)
		}
	}
	return nil
}

// naWatcher records the hardware address of the first host that
// advertises ip on a link, while the kernel runs DAD: the kernel says
// only that DAD failed, the admin wants to know who has the address.
type naWatcher struct {
	conn *packet.Conn
	done chan struct{}
	mu   sync.Mutex
	mac  net.HardwareAddr
}

// watchNA starts watching ifi for advertisements of ip. It is best
// effort: on error the caller goes on without knowing the MAC.
func watchNA(ifi *net.Interface, ip netip.Addr) (*naWatcher, error) {
	conn, err := packet.Listen(ifi, packet.Datagram, unix.ETH_P_IPV6, nil)
	if err != nil {
		return nil, fmt.Errorf("open IPv6 packet socket on %s: %w", ifi.Name, err)
	}
	w := &naWatcher{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return // closed
			}
			t, ok := naTarget(buf[:n])
			a, isPkt := from.(*packet.Addr)
			if !ok || t != ip || !isPkt || macEqual(a.HardwareAddr, ifi.HardwareAddr) {
				continue
			}
			w.mu.Lock()
			if w.mac == nil {
				w.mac = append(net.HardwareAddr(nil), a.HardwareAddr...)
			}
			w.mu.Unlock()
		}
	}()
	return w, nil
}

// stop ends the watch and returns the MAC seen, nil if none.
func (w *naWatcher) stop() net.HardwareAddr {
	if w == nil {
		return nil
	}
	_ = w.conn.Close()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mac
}
