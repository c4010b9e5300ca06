package main

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Parameter names.
const (
	pAddress             = "address"
	pInterface           = "interface"
	pPingTargets         = "ping_targets"
	pPingTimeout         = "ping_timeout"
	pConflictRetries     = "conflict_retries"
	pConflictInterval    = "conflict_interval"
	pAnnounceCount       = "announce_count"
	pAnnounceRepeatAfter = "announce_repeat_after"
)

// maxAnnounce bounds announce_count: a burst is sent back to back, and a
// few hundred frames at once is a storm, not an announcement.
const maxAnnounce = 100

// config is a resource's parameters, parsed.
type config struct {
	addr                netip.Prefix // the VIP with its prefix length
	iface               string       // "" = find the link by subnet
	pingTargets         []netip.Addr
	pingTimeout         time.Duration
	conflictRetries     int
	conflictInterval    time.Duration
	announceCount       int
	announceRepeatAfter time.Duration
}

// ip is the VIP without its prefix length.
func (c config) ip() netip.Addr { return c.addr.Addr() }

// v6 reports whether the VIP is an IPv6 address.
func (c config) v6() bool { return c.addr.Addr().Is6() }

// paramError is a problem with one parameter's value.
type paramError struct {
	name string
	msg  string
}

func (e *paramError) Error() string { return fmt.Sprintf("parameter %q: %s", e.name, e.msg) }

func perr(name, format string, args ...any) error {
	return &paramError{name: name, msg: fmt.Sprintf(format, args...)}
}

// parseConfig parses params (defaults filled in) into a config. It
// returns every problem found, each a *paramError naming its parameter.
func parseConfig(params map[string]string) (config, []error) {
	var (
		c    config
		errs []error
		err  error
	)
	if c.addr, err = parseAddress(params[pAddress]); err != nil {
		errs = append(errs, err)
	}
	if c.iface, err = parseInterface(params[pInterface]); err != nil {
		errs = append(errs, err)
	}
	if c.pingTargets, err = parseTargets(params[pPingTargets]); err != nil {
		errs = append(errs, err)
	}
	if c.pingTimeout, err = duration(params, pPingTimeout, false); err != nil {
		errs = append(errs, err)
	}
	if c.conflictRetries, err = count(params, pConflictRetries, -1); err != nil {
		errs = append(errs, err)
	}
	if c.conflictInterval, err = duration(params, pConflictInterval, true); err != nil {
		errs = append(errs, err)
	}
	if c.announceCount, err = count(params, pAnnounceCount, maxAnnounce); err != nil {
		errs = append(errs, err)
	}
	if c.announceRepeatAfter, err = duration(params, pAnnounceRepeatAfter, true); err != nil {
		errs = append(errs, err)
	}
	return c, errs
}

// parseAddress parses the VIP. The prefix length is required: it decides
// the subnet route the kernel adds and which link the address belongs on,
// and guessing /32 would silently give a VIP nobody off-link can route to
// the way the admin expects.
func parseAddress(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Prefix{}, perr(pAddress, "empty: give the virtual IP with its prefix length, e.g. 192.0.2.10/24 or 2001:db8::10/64")
	}
	if !strings.Contains(s, "/") {
		if a, err := netip.ParseAddr(s); err == nil {
			subnet, host := 24, 32
			if a.Is6() {
				subnet, host = 64, 128
			}
			return netip.Prefix{}, perr(pAddress, "%q has no prefix length: write it with the subnet's, e.g. %s/%d, or %s/%d for a host address", s, s, subnet, s, host)
		}
		return netip.Prefix{}, perr(pAddress, "%q is not an IP address with a prefix length (e.g. 192.0.2.10/24 or 2001:db8::10/64)", s)
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, perr(pAddress, "%q is not an IP address with a prefix length (e.g. 192.0.2.10/24 or 2001:db8::10/64): %v", s, err)
	}
	a := p.Addr()
	switch {
	case a.Is4In6():
		return netip.Prefix{}, perr(pAddress, "%q is an IPv4-mapped IPv6 address: write the IPv4 address itself", s)
	case a.Zone() != "":
		return netip.Prefix{}, perr(pAddress, "%q has a zone: name the link with parameter %q instead", s, pInterface)
	case p.Bits() == 0:
		return netip.Prefix{}, perr(pAddress, "%q has prefix length 0: give the subnet's prefix length (e.g. /24)", s)
	case a.IsUnspecified():
		return netip.Prefix{}, perr(pAddress, "%q is the unspecified address", s)
	case a.IsLoopback():
		return netip.Prefix{}, perr(pAddress, "%q is a loopback address: nobody else can reach it", s)
	case a.IsMulticast():
		return netip.Prefix{}, perr(pAddress, "%q is a multicast address", s)
	case a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return netip.Prefix{}, perr(pAddress, "%q is the broadcast address", s)
	}
	if a.Is4() && p.Bits() < 31 {
		// On an IPv4 subnet with room for them, the first and last
		// addresses are the network and broadcast addresses.
		if a == p.Masked().Addr() {
			return netip.Prefix{}, perr(pAddress, "%q is the network address of %s, not a host address", s, p.Masked())
		}
		if a == lastAddr(p) {
			return netip.Prefix{}, perr(pAddress, "%q is the broadcast address of %s, not a host address", s, p.Masked())
		}
	}
	return p, nil
}

// lastAddr returns the highest address of IPv4 prefix p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// parseInterface checks a link name the way the kernel does
// (dev_valid_name): 1 to 15 bytes, not "." or "..", no '/', ':' or
// white space.
func parseInterface(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	switch {
	case len(s) > 15:
		return "", perr(pInterface, "%q is longer than the 15 bytes a Linux interface name may have", s)
	case s == "." || s == "..":
		return "", perr(pInterface, "%q is not a valid interface name", s)
	case strings.ContainsAny(s, "/:"):
		return "", perr(pInterface, "%q contains '/' or ':' (an alias label like eth0:1 is not a link: give the link, eth0)", s)
	case strings.IndexFunc(s, unicode.IsSpace) >= 0:
		return "", perr(pInterface, "%q contains white space", s)
	}
	return s, nil
}

// parseTargets parses the comma-separated ping targets. They must be IP
// addresses: a health check must not depend on name resolution.
func parseTargets(s string) ([]netip.Addr, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []netip.Addr
	for i, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			return nil, perr(pPingTargets, "entry %d of %q is empty (write addresses separated by commas)", i+1, s)
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, perr(pPingTargets, "%q is not an IP address (host names are not resolved: a health check must not depend on DNS)", f)
		}
		switch {
		case a.Zone() != "":
			return nil, perr(pPingTargets, "%q has a zone: use a global address", f)
		case a.IsUnspecified(), a.IsMulticast():
			return nil, perr(pPingTargets, "%q is not a unicast address", f)
		}
		out = append(out, a.Unmap())
	}
	return out, nil
}

// duration parses a duration parameter that must be positive, or not
// negative when zero is allowed.
func duration(params map[string]string, name string, zeroOK bool) (time.Duration, error) {
	d, err := time.ParseDuration(params[name])
	switch {
	case err != nil:
		return 0, perr(name, "%q is not a duration (e.g. 500ms, 30s)", params[name])
	case d < 0:
		return 0, perr(name, "%s is negative", d)
	case d == 0 && !zeroOK:
		return 0, perr(name, "must be more than 0")
	}
	return d, nil
}

// count parses a non-negative integer parameter of at most limit
// (limit < 0: no limit).
func count(params map[string]string, name string, limit int) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(params[name]))
	switch {
	case err != nil:
		return 0, perr(name, "%q is not an integer", params[name])
	case n < 0:
		return 0, perr(name, "%d is negative", n)
	case limit >= 0 && n > limit:
		return 0, perr(name, "%d is more than %d", n, limit)
	}
	return n, nil
}

// paramNamed returns the name of the parameter err is about, or "".
func paramNamed(err error) string {
	var pe *paramError
	if errors.As(err, &pe) {
		return pe.name
	}
	return ""
}
