package main

// System tests: the kit binary, launched through the real plugin protocol
// inside network namespaces joined by a bridge (systest), moving real
// addresses that a client namespace connects to. They need root.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ark-ha/ark/builtin-arks/internal/systest"
	"github.com/ark-ha/ark/sdk/ark"
	"github.com/ark-ha/ark/sdk/arktest"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// kitBin skips t unless root, and returns the kit binary, built once.
func kitBin(t *testing.T) string {
	t.Helper()
	systest.RequireRoot(t)
	binOnce.Do(func() { binPath, binErr = systest.Build(".", "ark-ip") })
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// hasAddr reports whether ifname in ns holds ip (any prefix length).
func hasAddr(t *testing.T, ns, ifname, ip string) bool {
	t.Helper()
	return len(addrFlags(t, ns, ifname, ip)) > 0
}

// addrFlags returns the `ip -o addr` line of ip on ifname in ns, "" if
// absent.
func addrFlags(t *testing.T, ns, ifname, ip string) string {
	t.Helper()
	out := systest.Run(t, ns, "ip", "-o", "addr", "show", "dev", ifname)
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) > 3 && strings.HasPrefix(f[3], ip+"/") {
			return l
		}
	}
	return ""
}

// macOf returns the hardware address of ifname in ns.
func macOf(t *testing.T, ns, ifname string) string {
	t.Helper()
	var links []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(systest.Run(t, ns, "ip", "-j", "link", "show", "dev", ifname)), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -j link show %s in %s: %v", ifname, ns, err)
	}
	return links[0].Address
}

// neighMAC returns the link-layer address ns's neighbour table holds for
// ip on ifname, "" if none.
func neighMAC(t *testing.T, ns, ifname, ip string) string {
	t.Helper()
	var entries []struct {
		Dst    string   `json:"dst"`
		LLAddr string   `json:"lladdr"`
		State  []string `json:"state"`
	}
	out := systest.Run(t, ns, "ip", "-j", "neigh", "show", "to", ip, "dev", ifname)
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("ip -j neigh show in %s: %v: %s", ns, err, out)
	}
	for _, n := range entries {
		if n.Dst == ip {
			return n.LLAddr
		}
	}
	return ""
}

// waitNeigh waits up to d for ns's neighbour entry of ip to be mac.
func waitNeigh(t *testing.T, ns, ifname, ip, mac string, d time.Duration) bool {
	t.Helper()
	for end := time.Now().Add(d); ; time.Sleep(20 * time.Millisecond) {
		if neighMAC(t, ns, ifname, ip) == mac {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

// serve answers every TCP connection to port in ns with name.
func serve(t *testing.T, ns string, port int, name string) {
	t.Helper()
	l := systest.Listen(t, ns, fmt.Sprintf(":%d", port))
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return // closed at cleanup
			}
			_, _ = fmt.Fprintln(c, name)
			_ = c.Close()
		}
	}()
}

// fetch connects from ns to addr and returns the line the server sends.
func fetch(ns, addr string) (string, error) {
	c, err := systest.Dial(ns, addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func mustOK(t *testing.T, res ark.Result, what string) {
	t.Helper()
	if !res.OK() {
		t.Fatalf("%s failed: status %d: %s", what, res.Status, res.Message)
	}
	t.Logf("%s: %s", what, res.Message)
}

func mustFail(t *testing.T, res ark.Result, what string, want ...string) {
	t.Helper()
	if res.OK() {
		t.Fatalf("%s succeeded (%s), want a failure", what, res.Message)
	}
	t.Logf("%s failed as expected: %s", what, res.Message)
	for _, w := range want {
		if !strings.Contains(res.Message, w) {
			t.Errorf("%s: message %q does not contain %q", what, res.Message, w)
		}
	}
}

// TestConformance runs the SDK's conformance kit against the plugin
// launched in a namespace, for an IPv4 and an IPv6 VIP.
func TestConformance(t *testing.T) {
	bin := kitBin(t)
	for _, tc := range []struct{ name, fixed, vip string }{
		{"ipv4", "10.20.0.1/24", "10.20.0.50"},
		{"ipv6", "2001:db8:20::1/64", "2001:db8:20::50"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := systest.Netns(t, "ipc")
			systest.LAN(t, "eth0", ns)
			systest.Run(t, ns, "ip", "addr", "add", tc.fixed, "dev", "eth0", "nodad")
			rt := systest.Launch(t, bin, ns)
			prefix := tc.fixed[strings.Index(tc.fixed, "/"):]
			arktest.Run(t, rt, arktest.Config{
				Params:  map[string]string{"address": tc.vip + prefix},
				Running: func() bool { return hasAddr(t, ns, "eth0", tc.vip) },
				Break:   func() { systest.Run(t, ns, "ip", "addr", "del", tc.vip+prefix, "dev", "eth0") },
			})
		})
	}
}

// TestVIPMoves: a client reaches the node holding the VIP, and reaches the
// other one after the VIP moves, without flushing its ARP cache: the
// gratuitous ARPs update it.
func TestVIPMoves(t *testing.T) {
	bin := kitBin(t)
	t.Parallel()
	a, b, client := systest.Netns(t, "ipa"), systest.Netns(t, "ipb"), systest.Netns(t, "ipcl")
	systest.LAN(t, "eth0", a, b, client)
	systest.Run(t, a, "ip", "addr", "add", "10.30.0.1/24", "dev", "eth0")
	systest.Run(t, b, "ip", "addr", "add", "10.30.0.2/24", "dev", "eth0")
	systest.Run(t, client, "ip", "addr", "add", "10.30.0.100/24", "dev", "eth0")
	serve(t, a, 7000, "A")
	serve(t, b, 7000, "B")
	macA, macB := macOf(t, a, "eth0"), macOf(t, b, "eth0")
	rtA, rtB := systest.Launch(t, bin, a), systest.Launch(t, bin, b)
	const vip = "10.30.0.50"
	params := map[string]string{"address": vip + "/24", "announce_repeat_after": "3s"}

	mustOK(t, systest.Do(t, rtA, ark.Restore, "vip", params, nil), "restore on A")
	if got, err := fetch(client, vip+":7000"); err != nil || got != "A" {
		t.Fatalf("client to %s:7000 with the VIP on A: %q, %v; want A", vip, got, err)
	}
	if got := neighMAC(t, client, "eth0", vip); got != macA {
		t.Fatalf("client's neighbour entry for %s is %q, want A's MAC %s", vip, got, macA)
	}

	res := systest.Do(t, rtA, ark.Remove, "vip", params, nil)
	mustOK(t, res, "remove on A")
	if !strings.Contains(res.Message, "pending second announcement is cancelled") {
		t.Errorf("remove on A right after restore did not cancel the second announcement: %q", res.Message)
	}
	if hasAddr(t, a, "eth0", vip) {
		t.Fatal("remove on A left the VIP on A")
	}

	paramsB := map[string]string{"address": vip + "/24", "announce_repeat_after": "2s"}
	mustOK(t, systest.Do(t, rtB, ark.Restore, "vip", paramsB, nil), "restore on B")
	restored := time.Now()
	if !waitNeigh(t, client, "eth0", vip, macB, 5*time.Second) {
		t.Fatalf("after restore on B, the client's neighbour entry for %s is %q, want B's MAC %s: the gratuitous ARP did not update it",
			vip, neighMAC(t, client, "eth0", vip), macB)
	}
	if got, err := fetch(client, vip+":7000"); err != nil || got != "B" {
		t.Fatalf("client to %s:7000 after the move: %q, %v; want B", vip, got, err)
	}

	// The second burst: with the entry flushed and arp_accept on, only a
	// gratuitous ARP from B can bring it back.
	systest.Run(t, client, "sysctl", "-qw", "net.ipv4.conf.eth0.arp_accept=1")
	systest.Run(t, client, "ip", "neigh", "flush", "dev", "eth0")
	if time.Since(restored) > time.Second {
		t.Skip("too slow to observe the second burst 2 s after restore")
	}
	if !waitNeigh(t, client, "eth0", vip, macB, 4*time.Second) {
		t.Fatalf("no gratuitous ARP from B in the 4 s after its restore: the second burst (announce_repeat_after=2s) was not sent")
	}
	if d := time.Since(restored); d < 1500*time.Millisecond {
		t.Errorf("the second burst came %s after restore, want about 2s", d)
	}
}

// TestARPConflict: restore refuses an address another host on the LAN
// answers for, names it, and adds nothing.
func TestARPConflict(t *testing.T) {
	bin := kitBin(t)
	t.Parallel()
	a, client := systest.Netns(t, "ipa"), systest.Netns(t, "ipcl")
	systest.LAN(t, "eth0", a, client)
	const vip = "10.40.0.50"
	systest.Run(t, a, "ip", "addr", "add", "10.40.0.1/24", "dev", "eth0")
	systest.Run(t, client, "ip", "addr", "add", "10.40.0.100/24", "dev", "eth0")
	systest.Run(t, client, "ip", "addr", "add", vip+"/24", "dev", "eth0")
	macClient := macOf(t, client, "eth0")
	rt := systest.Launch(t, bin, a)
	params := map[string]string{"address": vip + "/24", "conflict_retries": "2", "conflict_interval": "200ms"}

	res := systest.Do(t, rt, ark.Restore, "vip", params, nil)
	mustFail(t, res, "restore of an address in use", vip, "eth0", macClient, "3 times")
	if hasAddr(t, a, "eth0", vip) {
		t.Fatal("restore added an address another host answers for")
	}
	// recover checks once and refuses too.
	res = systest.Do(t, rt, ark.Recover, "vip", params, nil)
	mustFail(t, res, "recover of an address in use", vip, macClient, "checked once")
	if hasAddr(t, a, "eth0", vip) {
		t.Fatal("recover added an address another host answers for")
	}
	// The action's own timeout ends the retries: a failed, timed-out
	// result, and nothing added.
	req := &ark.Request{Tag: "vip", ID: "vip", Timeout: time.Second,
		Params: info.WithDefaults(map[string]string{"address": vip + "/24", "conflict_retries": "100", "conflict_interval": "200ms"}),
		Log:    func(l ark.LogLine) { t.Logf("restore with a timeout [%s] %s %s", l.Level, l.Code, l.Message) }}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := rt.Restore(ctx, req)
	if err != nil || res.OK() || !res.TimedOut || !strings.Contains(res.Message, "timed out after 1s") {
		t.Fatalf("restore retrying past its 1s timeout: %+v, %v; want a failed result with TimedOut", res, err)
	}
	if hasAddr(t, a, "eth0", vip) {
		t.Fatal("a timed-out restore added the address")
	}
	// Once the other host lets it go, restore takes it.
	systest.Run(t, client, "ip", "addr", "del", vip+"/24", "dev", "eth0")
	mustOK(t, systest.Do(t, rt, ark.Restore, "vip", params, nil), "restore once the address is free")
}

// TestIPv6: restore, quickCheck and remove of an IPv6 VIP; the unsolicited
// neighbor advertisement updates a client's entry; a DAD conflict fails
// restore and leaves no address behind.
func TestIPv6(t *testing.T) {
	bin := kitBin(t)
	t.Parallel()
	a, client := systest.Netns(t, "ipa"), systest.Netns(t, "ipcl")
	sw := systest.LAN(t, "eth0", a, client)
	// Solicited-node multicast must reach the holder whatever the bridge
	// has learned of MLD.
	systest.Run(t, sw, "ip", "link", "set", "br0", "type", "bridge", "mcast_snooping", "0")
	const vip = "2001:db8:50::50"
	systest.Run(t, a, "ip", "addr", "add", "2001:db8:50::1/64", "dev", "eth0", "nodad")
	systest.Run(t, client, "ip", "addr", "add", "2001:db8:50::100/64", "dev", "eth0", "nodad")
	macA, macClient := macOf(t, a, "eth0"), macOf(t, client, "eth0")
	// A stale entry pointing elsewhere, as a client that talked to the
	// previous owner would have.
	systest.Run(t, client, "ip", "-6", "neigh", "replace", vip, "lladdr", "02:00:00:00:00:99", "dev", "eth0", "nud", "stale")
	rt := systest.Launch(t, bin, a)
	params := map[string]string{"address": vip + "/64", "conflict_retries": "1", "conflict_interval": "200ms", "announce_repeat_after": "0"}

	mustOK(t, systest.Do(t, rt, ark.Restore, "vip6", params, nil), "restore")
	line := addrFlags(t, a, "eth0", vip)
	if line == "" || strings.Contains(line, "tentative") || strings.Contains(line, "dadfailed") {
		t.Fatalf("after restore the VIP on A is %q, want present and not tentative", line)
	}
	if !waitNeigh(t, client, "eth0", vip, macA, time.Second) {
		t.Errorf("the client's entry for %s is %q, want A's MAC %s: the neighbor advertisement did not override it",
			vip, neighMAC(t, client, "eth0", vip), macA)
	}
	systest.Run(t, client, "ping", "-6", "-c1", "-W2", vip)
	mustOK(t, systest.Do(t, rt, ark.QuickCheck, "vip6", params, nil), "quickCheck")
	mustOK(t, systest.Do(t, rt, ark.Remove, "vip6", params, nil), "remove")
	if hasAddr(t, a, "eth0", vip) {
		t.Fatal("remove left the VIP")
	}
	mustFail(t, systest.Do(t, rt, ark.QuickCheck, "vip6", params, nil), "quickCheck after remove", vip, "is not on eth0")

	// The client takes the address: DAD on A fails, twice.
	systest.Run(t, client, "ip", "addr", "add", vip+"/64", "dev", "eth0", "nodad")
	res := systest.Do(t, rt, ark.Restore, "vip6", params, nil)
	mustFail(t, res, "restore of an address in use", vip, "eth0", "2 times")
	if !strings.Contains(res.Message, macClient) {
		t.Errorf("the failure does not name the MAC that answered (%s): %q", macClient, res.Message)
	}
	if line := addrFlags(t, a, "eth0", vip); line != "" {
		t.Fatalf("a failed DAD left the address behind: %q", line)
	}
}

// TestQuickCheck: quickCheck fails when the link is down or has no
// carrier and when no ping target answers, passes when one does; recover
// brings back a deleted VIP.
func TestQuickCheck(t *testing.T) {
	bin := kitBin(t)
	t.Parallel()
	a, peer := systest.Netns(t, "ipa"), systest.Netns(t, "ipp")
	sw := systest.LAN(t, "eth0", a, peer)
	const vip = "10.60.0.50"
	systest.Run(t, a, "ip", "addr", "add", "10.60.0.1/24", "dev", "eth0")
	systest.Run(t, peer, "ip", "addr", "add", "10.60.0.100/24", "dev", "eth0")
	rt := systest.Launch(t, bin, a)
	with := func(kv ...string) map[string]string {
		p := map[string]string{"address": vip + "/24", "ping_timeout": "300ms", "announce_repeat_after": "0"}
		for i := 0; i+1 < len(kv); i += 2 {
			p[kv[i]] = kv[i+1]
		}
		return p
	}
	mustOK(t, systest.Do(t, rt, ark.Restore, "vip", with(), nil), "restore")

	res := systest.Do(t, rt, ark.QuickCheck, "vip", with("ping_targets", "10.60.0.100"), nil)
	mustOK(t, res, "quickCheck with an answering target")
	if !strings.Contains(res.Message, "10.60.0.100 answered") {
		t.Errorf("quickCheck message %q does not say which target answered", res.Message)
	}
	mustFail(t, systest.Do(t, rt, ark.QuickCheck, "vip", with("ping_targets", "10.60.0.99"), nil),
		"quickCheck with a silent target", "no ping target answered", "10.60.0.99")
	mustOK(t, systest.Do(t, rt, ark.QuickCheck, "vip", with("ping_targets", "10.60.0.99, 10.60.0.100"), nil),
		"quickCheck with one of two targets answering")
	mustFail(t, systest.Do(t, rt, ark.Recover, "vip", with("ping_targets", "10.60.0.99"), nil),
		"recover with a silent target", "re-announced", "no ping target answered")

	// Cable pulled: the bridge port goes down, eth0 loses carrier.
	systest.Unplug(t, sw, 0)
	mustFail(t, systest.Do(t, rt, ark.QuickCheck, "vip", with("ping_targets", "10.60.0.100"), nil),
		"quickCheck without carrier", "eth0 has no carrier")
	systest.Plug(t, sw, 0)

	systest.Run(t, a, "ip", "link", "set", "eth0", "down")
	mustFail(t, systest.Do(t, rt, ark.QuickCheck, "vip", with(), nil), "quickCheck with eth0 down", "eth0 is administratively down")
	mustFail(t, systest.Do(t, rt, ark.Recover, "vip", with(), nil), "recover with eth0 down", "administratively down")
	systest.Run(t, a, "ip", "addr", "del", vip+"/24", "dev", "eth0")
	mustFail(t, systest.Do(t, rt, ark.Restore, "vip", with(), nil), "restore with eth0 down", "eth0 is administratively down")
	if hasAddr(t, a, "eth0", vip) {
		t.Fatal("restore added the VIP to a down link")
	}
	systest.Run(t, a, "ip", "link", "set", "eth0", "up")

	// The VIP vanished behind the kit's back: quickCheck says so, recover
	// re-adds it.
	mustFail(t, systest.Do(t, rt, ark.QuickCheck, "vip", with(), nil), "quickCheck of a deleted VIP", vip+" is not on eth0")
	waitCarrier(t, a, "eth0")
	res = systest.Do(t, rt, ark.Recover, "vip", with("ping_targets", "10.60.0.100"), nil)
	mustOK(t, res, "recover of a deleted VIP")
	if !strings.Contains(res.Message, "re-added") || !hasAddr(t, a, "eth0", vip) {
		t.Fatalf("recover did not re-add the VIP: %q", res.Message)
	}
	mustOK(t, systest.Do(t, rt, ark.QuickCheck, "vip", with("ping_targets", "10.60.0.100"), nil), "quickCheck after recover")
}

// waitCarrier waits for ifname in ns to have carrier after it was set up.
func waitCarrier(t *testing.T, ns, ifname string) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(systest.Run(t, ns, "ip", "link", "show", "dev", ifname), "LOWER_UP") {
			return
		}
	}
	t.Fatalf("%s in %s has no carrier 5 s after it was set up", ifname, ns)
}

// TestInterfaceChoice: the link is the one with an address in the VIP's
// subnet, or the one named; none, several or a missing one are errors
// that say what to do; a VIP on another link is refused.
func TestInterfaceChoice(t *testing.T) {
	bin := kitBin(t)
	t.Parallel()
	ns := systest.Netns(t, "ipd")
	// Two links with carrier: veth pairs whose far ends stay in ns.
	for _, l := range []string{"lnk0", "lnk1"} {
		systest.Run(t, ns, "ip", "link", "add", l, "type", "veth", "peer", "name", l+"p")
		systest.Run(t, ns, "ip", "link", "set", l+"p", "up")
		systest.Run(t, ns, "ip", "link", "set", l, "up")
	}
	systest.Run(t, ns, "ip", "addr", "add", "10.70.0.1/24", "dev", "lnk0")
	systest.Run(t, ns, "ip", "addr", "add", "10.71.0.1/24", "dev", "lnk1")
	rt := systest.Launch(t, bin, ns)
	fast := func(addr string, kv ...string) map[string]string {
		p := map[string]string{"address": addr, "conflict_retries": "0", "announce_repeat_after": "0"}
		for i := 0; i+1 < len(kv); i += 2 {
			p[kv[i]] = kv[i+1]
		}
		return p
	}

	mustOK(t, systest.Do(t, rt, ark.Restore, "v1", fast("10.70.0.50/24"), nil), "restore by subnet")
	if !hasAddr(t, ns, "lnk0", "10.70.0.50") {
		t.Fatal("the VIP is not on lnk0, the link of its subnet")
	}
	// A /32 VIP goes where an address's subnet contains it.
	mustOK(t, systest.Do(t, rt, ark.Restore, "v2", fast("10.71.0.60/32"), nil), "restore of a /32")
	if !hasAddr(t, ns, "lnk1", "10.71.0.60") {
		t.Fatal("the /32 VIP is not on lnk1")
	}
	// Named explicitly, outside any subnet.
	mustOK(t, systest.Do(t, rt, ark.Restore, "v3", fast("192.0.2.10/24", "interface", "lnk1"), nil), "restore on a named link")
	if !hasAddr(t, ns, "lnk1", "192.0.2.10") {
		t.Fatal("the VIP is not on lnk1, the named link")
	}
	// Already on lnk0, but configured for lnk1.
	mustFail(t, systest.Do(t, rt, ark.Restore, "v1", fast("10.70.0.50/24", "interface", "lnk1"), nil),
		"restore onto another link", "already on interface lnk0", "not on lnk1")

	for _, tc := range []struct {
		name   string
		params map[string]string
		want   []string
	}{
		{"no subnet", fast("198.51.100.10/24"), []string{"no interface", "198.51.100.10/24", `"interface"`}},
		{"missing link", fast("10.70.0.51/24", "interface", "nosuch0"), []string{"nosuch0", "does not exist"}},
	} {
		_, err := systest.DoErr(t, rt, ark.Restore, "bad", tc.params, nil)
		if !errors.Is(err, ark.ErrNotInstalled) {
			t.Errorf("%s: restore gave %v, want a not-installed error", tc.name, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", tc.name, err, w)
			}
		}
	}

	// Two links in the subnet: ambiguous, both named.
	systest.Run(t, ns, "ip", "addr", "add", "10.70.0.2/24", "dev", "lnk1")
	_, err := systest.DoErr(t, rt, ark.Restore, "amb", fast("10.70.0.52/24"), nil)
	if !errors.Is(err, ark.ErrNotInstalled) {
		t.Fatalf("ambiguous link: %v, want a not-installed error", err)
	}
	for _, w := range []string{"2 interfaces", "lnk0 (10.70.0.1/24, 10.70.0.50/24)", "lnk1 (10.70.0.2/24)", `"interface"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("ambiguous link: error %q does not contain %q", err, w)
		}
	}
	mustFail(t, systest.Do(t, rt, ark.QuickCheck, "amb", fast("10.70.0.52/24"), nil), "quickCheck with an ambiguous link", "2 interfaces")

	// Remove needs no link: it deletes the address wherever it is.
	res := systest.Do(t, rt, ark.Remove, "v1", fast("10.70.0.50/24"), nil)
	mustOK(t, res, "remove")
	if !strings.Contains(res.Message, "deleted 10.70.0.50 from lnk0") || hasAddr(t, ns, "lnk0", "10.70.0.50") {
		t.Fatalf("remove: %q", res.Message)
	}
	res = systest.Do(t, rt, ark.Remove, "v1", fast("10.70.0.50/24"), nil)
	mustOK(t, res, "second remove")
	if !strings.Contains(res.Message, "already absent") {
		t.Errorf("second remove: %q, want it to say already absent", res.Message)
	}
}
