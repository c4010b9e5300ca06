package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ark-ha/ark/sdk/ark"
)

// family is the netlink address family of the VIP.
func family(c config) int {
	if c.v6() {
		return netlink.FAMILY_V6
	}
	return netlink.FAMILY_V4
}

// addrList is netlink.AddrList that retries a dump the kernel interrupted
// (addresses changed while it was read).
func addrList(link netlink.Link, fam int) ([]netlink.Addr, error) {
	var err error
	for range 5 {
		var as []netlink.Addr
		as, err = netlink.AddrList(link, fam)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return as, err
		}
	}
	return nil, err
}

// linkName names the link with index i for messages.
func linkName(i int) string {
	if l, err := netlink.LinkByIndex(i); err == nil {
		return l.Attrs().Name
	}
	return fmt.Sprintf("interface #%d", i)
}

func addrOf(a netlink.Addr) netip.Addr {
	ip, _ := netip.AddrFromSlice(a.IP)
	return ip.Unmap()
}

func prefixOf(a netlink.Addr) netip.Prefix {
	ones, _ := a.Mask.Size()
	return netip.PrefixFrom(addrOf(a), ones)
}

// findLink returns the link the VIP belongs on: the one named by
// parameter interface, else the only link holding another address of the
// VIP's subnet. Errors are classed: a missing or ambiguous link is this
// node's problem (ark.NotInstalled).
func findLink(c config) (netlink.Link, error) {
	if c.iface != "" {
		l, err := netlink.LinkByName(c.iface)
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil, ark.NotInstalled(fmt.Errorf("interface %s (parameter %q) does not exist on this node", c.iface, pInterface))
		}
		if err != nil {
			return nil, fmt.Errorf("look up interface %s: %w", c.iface, err)
		}
		return l, nil
	}
	as, err := addrList(nil, family(c))
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	byLink := map[int][]string{}
	var order []int
	for _, a := range as {
		p := prefixOf(a)
		if p.Addr() == c.ip() || p.Addr().IsLinkLocalUnicast() || p.Addr().IsLoopback() {
			continue
		}
		if !p.Contains(c.ip()) && !c.addr.Contains(p.Addr()) {
			continue
		}
		if _, seen := byLink[a.LinkIndex]; !seen {
			order = append(order, a.LinkIndex)
		}
		byLink[a.LinkIndex] = append(byLink[a.LinkIndex], p.String())
	}
	switch len(order) {
	case 0:
		return nil, ark.NotInstalled(fmt.Errorf("no interface of this node has an address in the subnet of %s: give parameter %q", c.addr, pInterface))
	case 1:
		l, err := netlink.LinkByIndex(order[0])
		if err != nil {
			return nil, fmt.Errorf("look up interface #%d (it holds %s): %w", order[0], strings.Join(byLink[order[0]], ", "), err)
		}
		return l, nil
	}
	var list []string
	for _, i := range order {
		list = append(list, fmt.Sprintf("%s (%s)", linkName(i), strings.Join(byLink[i], ", ")))
	}
	return nil, ark.NotInstalled(fmt.Errorf("%d interfaces have an address in the subnet of %s: %s; give parameter %q", len(order), c.addr, strings.Join(list, ", "), pInterface))
}

// linkDown says why link (state read afresh) cannot carry the VIP, or ""
// when it is up: administratively up, with carrier, not operationally
// down.
func linkDown(link netlink.Link) (string, error) {
	l, err := netlink.LinkByIndex(link.Attrs().Index)
	if err != nil {
		return "", fmt.Errorf("read state of interface %s: %w", link.Attrs().Name, err)
	}
	a := l.Attrs()
	switch {
	case a.Flags&net.FlagUp == 0:
		return fmt.Sprintf("interface %s is administratively down", a.Name), nil
	case a.RawFlags&unix.IFF_LOWER_UP == 0:
		return fmt.Sprintf("interface %s has no carrier", a.Name), nil
	case a.OperState == netlink.OperDown || a.OperState == netlink.OperLowerLayerDown || a.OperState == netlink.OperNotPresent:
		return fmt.Sprintf("interface %s is operationally %s", a.Name, a.OperState), nil
	}
	return "", nil
}

// held is the VIP as found on a link of this node.
type held struct {
	addr netlink.Addr
	link int // index
}

func (h held) tentative() bool { return h.addr.Flags&unix.IFA_F_TENTATIVE != 0 }
func (h held) dadFailed() bool { return h.addr.Flags&unix.IFA_F_DADFAILED != 0 }

// holders returns every link of this node that holds ip, with any prefix
// length.
func holders(c config) ([]held, error) {
	as, err := addrList(nil, family(c))
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	var out []held
	for _, a := range as {
		if addrOf(a) == c.ip() {
			out = append(out, held{addr: a, link: a.LinkIndex})
		}
	}
	return out, nil
}

// on returns the holder on link index i.
func on(hs []held, i int) (held, bool) {
	k := slices.IndexFunc(hs, func(h held) bool { return h.link == i })
	if k < 0 {
		return held{}, false
	}
	return hs[k], true
}

// vipAddr is the netlink address to add for the VIP.
func vipAddr(c config) *netlink.Addr {
	ip := net.IP(c.ip().AsSlice())
	bits := 32
	if c.v6() {
		bits = 128
	}
	return &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: net.CIDRMask(c.addr.Bits(), bits)}}
}

// delAddr deletes the VIP held as h.
func delAddr(h held) error {
	l, err := netlink.LinkByIndex(h.link)
	if err != nil {
		return fmt.Errorf("look up interface #%d: %w", h.link, err)
	}
	a := h.addr
	if err := netlink.AddrDel(l, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("delete %s from %s: %w", prefixOf(a), l.Attrs().Name, err)
	}
	return nil
}

// iface turns a link into what packet sockets bind to.
func iface(link netlink.Link) *net.Interface {
	a := link.Attrs()
	return &net.Interface{Index: a.Index, MTU: a.MTU, Name: a.Name, HardwareAddr: a.HardwareAddr, Flags: a.Flags}
}

// noNeighbours says why ARP/ND cannot be spoken on link, or "".
func noNeighbours(link netlink.Link) string {
	a := link.Attrs()
	switch {
	case len(a.HardwareAddr) != 6:
		return fmt.Sprintf("interface %s has no Ethernet address", a.Name)
	case a.RawFlags&unix.IFF_NOARP != 0:
		return fmt.Sprintf("interface %s does not use ARP (NOARP)", a.Name)
	}
	return ""
}

// DAD timing: the kernel waits up to rtr_solicit_delay (1 s) then sends
// dad_transmits (1) solicitations retrans_time (1 s) apart. dadTimeout is
// far beyond that, for links with non-default settings.
const (
	dadPoll    = 50 * time.Millisecond
	dadTimeout = 15 * time.Second
)

// errDAD is returned by addWithDAD when duplicate address detection
// found the address in use; the MAC of the owner is in mac when seen.
var errDAD = errors.New("duplicate address detected")

// addWithDAD adds IPv6 VIP c to link and waits for the kernel's DAD to
// finish. On a conflict or any failure it deletes the address again, so
// that nothing is left behind; it returns errDAD and the MAC of the host
// that advertised the address (nil if not seen) on a conflict.
func addWithDAD(ctx context.Context, c config, link netlink.Link) (net.HardwareAddr, error) {
	var w *naWatcher
	if noNeighbours(link) == "" {
		w, _ = watchNA(iface(link), c.ip()) // best effort: only the MAC is lost
	}
	if err := netlink.AddrAdd(link, vipAddr(c)); err != nil {
		w.stop()
		return nil, fmt.Errorf("add %s to %s: %w", c.addr, link.Attrs().Name, err)
	}
	cleanup := func() {
		hs, _ := holders(c)
		if h, ok := on(hs, link.Attrs().Index); ok {
			_ = delAddr(h)
		}
	}
	deadline := time.Now().Add(dadTimeout)
	tick := time.NewTicker(dadPoll)
	defer tick.Stop()
	for {
		hs, err := holders(c)
		if err != nil {
			cleanup()
			w.stop()
			return nil, err
		}
		h, ok := on(hs, link.Attrs().Index)
		switch {
		case !ok:
			w.stop()
			return nil, fmt.Errorf("%s vanished from %s during duplicate address detection", c.addr, link.Attrs().Name)
		case h.dadFailed():
			cleanup()
			// The advertisement that failed DAD was read before the
			// kernel flagged it; give the watcher a moment to file it.
			time.Sleep(dadPoll)
			return w.stop(), errDAD
		case !h.tentative():
			w.stop()
			return nil, nil
		case time.Now().After(deadline):
			cleanup()
			w.stop()
			return nil, fmt.Errorf("%s is still tentative on %s after %s: duplicate address detection did not finish", c.addr, link.Attrs().Name, dadTimeout)
		}
		select {
		case <-ctx.Done():
			cleanup()
			w.stop()
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

// dadDisabled reports whether the kernel skips DAD on link (accept_dad 0),
// so that an IPv6 conflict would go unnoticed.
func dadDisabled(link netlink.Link) bool {
	b, err := os.ReadFile("/proc/sys/net/ipv6/conf/" + link.Attrs().Name + "/accept_dad")
	return err == nil && strings.TrimSpace(string(b)) == "0"
}
