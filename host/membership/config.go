package membership

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"
)

// NodeAddrs is one node of the cluster and its heartbeat addresses, as the
// cluster file lists them.
type NodeAddrs struct {
	// Name is the node's name, unique in the cluster, at most 255 bytes.
	Name string
	// Addrs are the node's heartbeat addresses, "host:port" with a
	// non-zero port, one per communication path: path i between two
	// nodes joins the i-th address of each, when both have one. A host
	// name is resolved once, by New. At most 255 per node.
	Addrs []string
}

// Config is what New needs. New copies it; changing it afterwards has no
// effect.
type Config struct {
	// Cluster is the cluster's name (at most 255 bytes). Heartbeats of
	// another cluster are dropped and counted as WrongCluster.
	Cluster string
	// Self is this node's name; it must be one of Nodes.
	Self string
	// Key is the cluster key (at least 32 bytes) every member shares.
	// Heartbeats are authenticated with a key derived from it.
	Key []byte
	// ConfigHash is the hash of this node's cluster file (at most 255
	// bytes), carried in every heartbeat. A peer whose hash differs is
	// reported once per hash and kept down until the hashes match.
	ConfigHash string
	// Nodes are every node of the cluster, Self included, in cluster-file
	// order. Every address in the cluster must be distinct, and every peer
	// must share at least one path with Self.
	Nodes []NodeAddrs
	// Interval is the time between two heartbeats on a path (> 0).
	Interval time.Duration
	// Misses is how many intervals a path may go without an accepted
	// heartbeat before it is declared down (>= 1).
	Misses int
	// Logger receives the communication log lines and the package's other
	// warnings. Nil means slog.Default().
	Logger *slog.Logger
	// OnChange, if set, is called with every path and node state change
	// and every configuration mismatch, in the order they happened, from
	// a single goroutine, after the change is logged. It may call the
	// Membership's methods. Changes queue up while it runs, so it should
	// return promptly.
	OnChange func(Change)
	// Payload, if set, is called once per interval for each peer, and
	// what it returns (at most MaxPayload bytes) rides on that interval's
	// heartbeats to that peer. A longer payload is not sent (the
	// heartbeats are) and is logged.
	Payload func(to string) []byte
	// OnPayload, if set, is called with the payload of every accepted
	// heartbeat (possibly empty), the sender's name and when it arrived.
	// Calls never overlap; the payload is the callee's to keep. It runs on
	// the receiving goroutine, so it should return promptly.
	OnPayload func(from string, payload []byte, received time.Time)
	// Drop is a test seam: a packet received on the local address local
	// from remote (the configured address of the sending socket when it is
	// a known one, else the source address as "ip:port") is discarded
	// before any check or count when Drop returns true.
	Drop func(local, remote string) bool
}

// addr is a configured address and what it resolved to.
type addr struct {
	text string
	ap   netip.AddrPort
}

// resolved is a validated Config with every address resolved.
type resolved struct {
	self  []addr         // Self's addresses, by path index
	peers map[int][]addr // peer index in Nodes -> addresses by path index
}

// validate checks c and resolves its addresses. Errors name what is wrong.
func (c *Config) validate() (*resolved, error) {
	switch {
	case c.Cluster == "":
		return nil, errors.New("cluster name is empty")
	case len(c.Cluster) > maxString:
		return nil, fmt.Errorf("cluster name is longer than %d bytes", maxString)
	case len(c.Key) < 32:
		return nil, fmt.Errorf("cluster key is %d bytes; it needs at least 32", len(c.Key))
	case len(c.ConfigHash) > maxString:
		return nil, fmt.Errorf("config hash is longer than %d bytes", maxString)
	case c.Interval <= 0:
		return nil, fmt.Errorf("interval %v is not positive", c.Interval)
	case c.Misses < 1:
		return nil, fmt.Errorf("misses %d is less than 1", c.Misses)
	case c.Self == "":
		return nil, errors.New("self is empty")
	}
	r := &resolved{peers: map[int][]addr{}}
	names := map[string]bool{}
	owner := map[netip.AddrPort]string{}
	selfIndex := -1
	for i, n := range c.Nodes {
		switch {
		case n.Name == "":
			return nil, fmt.Errorf("node %d has no name", i+1)
		case len(n.Name) > maxString:
			return nil, fmt.Errorf("node name %.20q... is longer than %d bytes", n.Name, maxString)
		case names[n.Name]:
			return nil, fmt.Errorf("node %q is listed twice", n.Name)
		case len(n.Addrs) > maxPaths:
			return nil, fmt.Errorf("node %q has %d addresses; at most %d are allowed", n.Name, len(n.Addrs), maxPaths)
		}
		names[n.Name] = true
		addrs := make([]addr, len(n.Addrs))
		for j, s := range n.Addrs {
			a, err := resolveAddr(s)
			if err != nil {
				return nil, fmt.Errorf("node %q address %d %q: %w", n.Name, j+1, s, err)
			}
			if prev, dup := owner[a.ap]; dup {
				return nil, fmt.Errorf("node %q address %d %q is already %s", n.Name, j+1, s, prev)
			}
			owner[a.ap] = fmt.Sprintf("node %q address %d", n.Name, j+1)
			addrs[j] = a
		}
		if n.Name == c.Self {
			selfIndex = i
			r.self = addrs
		} else {
			r.peers[i] = addrs
		}
	}
	if selfIndex < 0 {
		return nil, fmt.Errorf("self %q is not one of the cluster's nodes", c.Self)
	}
	if len(r.self) == 0 {
		return nil, fmt.Errorf("self %q has no address", c.Self)
	}
	for i, addrs := range r.peers {
		if len(addrs) == 0 {
			return nil, fmt.Errorf("node %q has no address, so no path to %q", c.Nodes[i].Name, c.Self)
		}
	}
	return r, nil
}

// resolveAddr resolves one "host:port" heartbeat address.
func resolveAddr(s string) (addr, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return addr{}, err
	}
	if host == "" {
		return addr{}, errors.New("no host")
	}
	if port == "0" {
		return addr{}, errors.New("port 0")
	}
	u, err := net.ResolveUDPAddr("udp", s)
	if err != nil {
		return addr{}, err
	}
	ap := u.AddrPort()
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if !ap.Addr().IsValid() || ap.Addr().IsUnspecified() || ap.Port() == 0 {
		return addr{}, errors.New("not a usable unicast address")
	}
	return addr{text: s, ap: ap}, nil
}
