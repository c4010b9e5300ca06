package lease

import (
	"encoding/binary"
	"errors"
	"time"
)

// Grant is what a leader puts in its heartbeat to a node.
type Grant struct {
	// Term is the leader's raft term: a node ignores grants from terms
	// older than the newest it has accepted.
	Term uint64
	// Remaining is how long the lease lasts from the heartbeat's arrival.
	Remaining time.Duration
}

// Encode returns g as 16 bytes for a heartbeat's payload.
func (g Grant) Encode() []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, g.Term)
	binary.BigEndian.PutUint64(b[8:], uint64(g.Remaining))
	return b
}

// Decode reads a Grant written by Encode.
func Decode(b []byte) (Grant, error) {
	if len(b) != 16 {
		return Grant{}, errors.New("lease grant: not 16 bytes")
	}
	g := Grant{Term: binary.BigEndian.Uint64(b), Remaining: time.Duration(binary.BigEndian.Uint64(b[8:]))}
	if g.Remaining <= 0 {
		return Grant{}, errors.New("lease grant: not positive")
	}
	return g, nil
}

// Phase is where a node stands with its lease.
type Phase int

// Phases, in the order a node without renewals goes through them.
const (
	// Held: the node may run resources.
	Held Phase = iota
	// Stopping: half the lease went by without a renewal; the node
	// removes what it runs, so that it is done before the lease ends.
	Stopping
	// Expired: the lease is over; whatever still runs is killed
	// (self-fence): the leader may restore it elsewhere from now on.
	Expired
)

func (p Phase) String() string {
	switch p {
	case Held:
		return "held"
	case Stopping:
		return "stopping"
	}
	return "expired"
}

// Holder is a node's lease. The zero value holds nothing. Not safe for
// concurrent use.
type Holder struct {
	// Timeout is the cluster's lease_timeout.
	Timeout time.Duration
	term    uint64
	expiry  time.Time
}

// Renew applies a grant received at t; it reports whether the grant was
// accepted (not from an older term). The expiry never moves back.
func (h *Holder) Renew(g Grant, t time.Time) bool {
	if g.Term < h.term || g.Remaining <= 0 {
		return false
	}
	h.term = g.Term
	if e := t.Add(min(g.Remaining, h.Timeout)); e.After(h.expiry) {
		h.expiry = e
	}
	return true
}

// Expiry is when the lease ends (zero: never held).
func (h *Holder) Expiry() time.Time { return h.expiry }

// Phase returns the lease's phase at now.
func (h *Holder) Phase(now time.Time) Phase {
	switch {
	case !now.Before(h.expiry):
		return Expired
	case !now.Before(h.expiry.Add(-h.Timeout / 2)):
		return Stopping
	}
	return Held
}

// Grantor hands out leases on behalf of a leader. Create one each time a
// node becomes leader. Not safe for concurrent use.
type Grantor struct {
	timeout  time.Duration
	term     uint64
	since    time.Time
	verified time.Time
	bound    map[string]time.Time
}

// NewGrantor returns the grantor of a leader elected in term at since,
// with the cluster's lease_timeout.
func NewGrantor(term uint64, since time.Time, timeout time.Duration) *Grantor {
	return &Grantor{timeout: timeout, term: term, since: since, bound: map[string]time.Time{}}
}

// Verified records that a VerifyLeader started at t succeeded: a quorum
// still followed this leader after t.
func (g *Grantor) Verified(t time.Time) {
	if t.After(g.verified) {
		g.verified = t
	}
}

// Grant returns the grant to send node at now, and false when the
// leadership was not verified recently enough to grant anything.
func (g *Grantor) Grant(node string, now time.Time) (Grant, bool) {
	if g.verified.IsZero() {
		return Grant{}, false
	}
	rem := g.timeout - now.Sub(g.verified)
	if rem <= 0 {
		return Grant{}, false
	}
	if e := now.Add(rem); e.After(g.bound[node]) {
		g.bound[node] = e
	}
	return Grant{Term: g.term, Remaining: rem}, true
}

// Margin is added to every bound: the heartbeat's time in flight and
// the difference between two nodes' clock rates.
func (g *Grantor) Margin() time.Duration { return g.timeout/20 + 50*time.Millisecond }

// SafeAt is when every lease node can hold has certainly ended: those
// this leader granted, and those an earlier leader may have (they end at
// most one timeout after this leader's election, see the package doc).
func (g *Grantor) SafeAt(node string) time.Time {
	t := g.since.Add(g.timeout)
	if b := g.bound[node]; b.After(t) {
		t = b
	}
	return t.Add(g.Margin())
}
