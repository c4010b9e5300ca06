package lease

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func TestHolderPhases(t *testing.T) {
	h := Holder{Timeout: 4 * time.Second}
	if p := h.Phase(t0); p != Expired {
		t.Fatalf("never granted: phase %s, want expired", p)
	}
	if !h.Renew(Grant{Term: 2, Remaining: 4 * time.Second}, t0) {
		t.Fatal("grant refused")
	}
	for _, c := range []struct {
		after time.Duration
		want  Phase
	}{{0, Held}, {1999 * time.Millisecond, Held}, {2 * time.Second, Stopping}, {3999 * time.Millisecond, Stopping}, {4 * time.Second, Expired}} {
		if p := h.Phase(t0.Add(c.after)); p != c.want {
			t.Errorf("%s after the grant: %s, want %s", c.after, p, c.want)
		}
	}
	// An older term is refused, a shorter grant never shortens the lease,
	// and a grant longer than the timeout is capped.
	if h.Renew(Grant{Term: 1, Remaining: 4 * time.Second}, t0.Add(time.Second)) {
		t.Error("grant of an older term accepted")
	}
	h.Renew(Grant{Term: 2, Remaining: time.Second}, t0.Add(time.Second))
	if e := h.Expiry(); !e.Equal(t0.Add(4 * time.Second)) {
		t.Errorf("expiry %s after a shorter grant, want it unchanged", e.Sub(t0))
	}
	h.Renew(Grant{Term: 3, Remaining: time.Hour}, t0.Add(time.Second))
	if e := h.Expiry(); !e.Equal(t0.Add(5 * time.Second)) {
		t.Errorf("expiry %s after a grant of an hour, want capped at timeout (5s)", e.Sub(t0))
	}
}

func TestGrantorBounds(t *testing.T) {
	g := NewGrantor(7, t0, 4*time.Second)
	if _, ok := g.Grant("a", t0); ok {
		t.Fatal("granted before any verification")
	}
	// A node never granted by this leader may hold an earlier leader's
	// lease until one timeout after the election.
	if got, want := g.SafeAt("a"), t0.Add(4*time.Second+g.Margin()); !got.Equal(want) {
		t.Errorf("SafeAt before any grant: %s, want %s", got.Sub(t0), want.Sub(t0))
	}
	g.Verified(t0.Add(time.Second))
	gr, ok := g.Grant("a", t0.Add(1500*time.Millisecond))
	if !ok || gr.Term != 7 || gr.Remaining != 3500*time.Millisecond {
		t.Fatalf("grant = %+v %v, want term 7, 3.5s", gr, ok)
	}
	// The node receives it late: its expiry still falls before SafeAt.
	h := Holder{Timeout: 4 * time.Second}
	h.Renew(gr, t0.Add(1500*time.Millisecond+g.Margin()/2))
	if !h.Expiry().Before(g.SafeAt("a")) {
		t.Errorf("holder expiry %s not before SafeAt %s", h.Expiry().Sub(t0), g.SafeAt("a").Sub(t0))
	}
	// Without a fresh verification the grants shrink, then stop.
	if _, ok := g.Grant("a", t0.Add(5*time.Second)); ok {
		t.Error("granted after the verification is a timeout old")
	}
	// An older verification never moves the base back.
	g.Verified(t0)
	if gr, _ := g.Grant("b", t0.Add(2*time.Second)); gr.Remaining != 3*time.Second {
		t.Errorf("remaining %s after an older verification, want 3s", gr.Remaining)
	}
}

func TestGrantEncoding(t *testing.T) {
	g := Grant{Term: 1<<40 + 3, Remaining: 1234 * time.Millisecond}
	got, err := Decode(g.Encode())
	if err != nil || got != g {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for _, b := range [][]byte{nil, make([]byte, 15), make([]byte, 16)} {
		if _, err := Decode(b); err == nil {
			t.Errorf("Decode(%d bytes of zero) accepted", len(b))
		}
	}
}
