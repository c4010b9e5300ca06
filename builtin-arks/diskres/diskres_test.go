package main

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ark-ha/ark/builtin-arks/internal/systest"
	"github.com/ark-ha/ark/sdk/ark"
	"github.com/ark-ha/ark/sdk/arktest"
)

// bin is the kit binary, built once: the system tests run it as a real
// plugin process, one per simulated node.
var bin string

func TestMain(m *testing.M) { systest.Main(m, "ark-diskres", &bin) }

// onDisk reads the lease record at off of dev, as a third party would.
func onDisk(t testing.TB, dev string, off int64) record {
	t.Helper()
	d, err := openBlock(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r, err := d.readRecord(context.Background(), off)
	if err != nil {
		t.Fatalf("lease on %s: %v", dev, err)
	}
	return r
}

// writeDisk writes raw bytes (padded to a block) at off of dev.
func writeDisk(t testing.TB, dev string, off int64, data []byte) {
	t.Helper()
	d, err := openBlock(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	b := d.alignedBlock()
	copy(b, data)
	if err := d.writeBlock(context.Background(), off, b); err != nil {
		t.Fatal(err)
	}
}

// encoded returns r encoded in one 512-byte block.
func encoded(t testing.TB, r record) []byte {
	t.Helper()
	b := make([]byte, 512)
	if err := r.encode(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// act runs action a as node (cluster "c") with the request timeout
// timeout (0 = none) and returns its result and log lines.
func act(t testing.TB, rt ark.ResourceType, a ark.Action, node string, params map[string]string, timeout time.Duration) (ark.Result, []ark.LogLine, error) {
	t.Helper()
	info, err := rt.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []ark.LogLine
	req := &ark.Request{Tag: "disk", ID: "disk", Params: info.WithDefaults(params), Timeout: timeout,
		Env: map[string]string{"TAG": "disk", "ID": "disk", "ACTION": string(a), "NODE": node, "CLUSTER": "c"},
		Log: func(l ark.LogLine) {
			t.Logf("node %s %s [%s] %s: %s", node, a, l.Level, l.Code, l.Message)
			mu.Lock()
			lines = append(lines, l)
			mu.Unlock()
		}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := ark.Run(ctx, rt, a, req)
	t.Logf("node %s %s: status %d %q (err %v)", node, a, res.Status, res.Message, err)
	mu.Lock()
	defer mu.Unlock()
	return res, lines, err
}

// must runs act and requires success (want true) or a failed result
// (want false) whose message contains every one of msgs.
func must(t testing.TB, want bool, rt ark.ResourceType, a ark.Action, node string, params map[string]string, msgs ...string) ark.Result {
	t.Helper()
	res, _, err := act(t, rt, a, node, params, 0)
	if err != nil {
		t.Fatalf("node %s %s: error %v", node, a, err)
	}
	if res.OK() != want {
		t.Fatalf("node %s %s: status %d %q, want success=%v", node, a, res.Status, res.Message, want)
	}
	for _, m := range msgs {
		if !strings.Contains(res.Message, m) {
			t.Errorf("node %s %s: message %q does not say %q", node, a, res.Message, m)
		}
	}
	return res
}

func wantDisk(t testing.TB, dev string, state leaseState, owner string, gen uint64) record {
	t.Helper()
	r := onDisk(t, dev, 0)
	if r.State != state || r.Owner != owner || r.Generation != gen {
		t.Fatalf("on disk: %s %+v, want %s by node %s generation %d", r.State, r, state, owner, gen)
	}
	return r
}

func hasCode(lines []ark.LogLine, code string) bool {
	for _, l := range lines {
		if l.Code == code {
			return true
		}
	}
	return false
}

// TestConformance runs the SDK's contract checks against the lease
// method on a loop device, through the real plugin process.
func TestConformance(t *testing.T) {
	systest.RequireRoot(t)
	dev := systest.Loop(t, 4)
	rt := systest.Launch(t, bin, "")
	node, _ := os.Hostname() // arktest's NODE
	arktest.Run(t, rt, arktest.Config{
		Params: map[string]string{"device": dev, "lease_duration": "1s", "renew_interval": "200ms"},
		Running: func() bool {
			return onDisk(t, dev, 0).heldBy("arktest", node)
		},
		// Another node takes the lease behind our back (and then dies):
		// quickCheck must see it, restore must wait for it to expire.
		Break: func() {
			r := onDisk(t, dev, 0)
			writeDisk(t, dev, 0, encoded(t, record{State: stateHeld, Generation: r.Generation + 1,
				Duration: time.Second, Cluster: "arktest", Owner: "intruder"}))
		},
	})
}

// TestTwoNodes: two plugin processes share one device, as two nodes do.
func TestTwoNodes(t *testing.T) {
	systest.RequireRoot(t)
	dev := systest.Loop(t, 4)
	const lease = time.Second
	params := map[string]string{"device": dev, "lease_duration": lease.String(), "renew_interval": "200ms"}
	procA := systest.LaunchPlugin(t, bin, "")
	a, b := procA.ResourceType(), systest.Launch(t, bin, "")

	must(t, true, a, ark.Restore, "A", params, "reserved by node A (generation 1)")
	wantDisk(t, dev, stateHeld, "A", 1)
	must(t, true, a, ark.Restore, "A", params, "already held")
	wantDisk(t, dev, stateHeld, "A", 1)

	// A renews: B, with a timeout, must not get it.
	res, lines, err := act(t, b, ark.Restore, "B", params, 3*lease)
	if err != nil || res.OK() || !strings.Contains(res.Message, "reserved by node A (generation 1), renewed during our wait") {
		t.Fatalf("B's restore while A renews: %q (err %v), want a failure saying A renewed", res.Message, err)
	}
	if !hasCode(lines, "wait") {
		t.Errorf("B did not log that it waits for A's lease")
	}
	must(t, false, b, ark.QuickCheck, "B", params, "reservation taken by node A (generation 1)")
	must(t, true, a, ark.QuickCheck, "A", params, "held by node A (generation 1")

	// A short timeout ends B's wait.
	res, _, err = act(t, b, ark.Restore, "B", params, 100*time.Millisecond)
	if err != nil || res.OK() || !strings.Contains(res.Message, "reserved by node A") || !strings.Contains(res.Message, "time ran out") {
		t.Fatalf("B's restore with a 100ms timeout: %q (err %v), want a failure saying its time ran out", res.Message, err)
	}
	wantDisk(t, dev, stateHeld, "A", 1)

	// Node A dies: no more renewals. B takes the lease once it stayed
	// unchanged for a whole lease on B's clock, never sooner.
	procA.Kill()
	start := time.Now()
	must(t, true, b, ark.Restore, "B", params, "reserved by node B (generation 2)", "taken over from node A (generation 1)")
	if waited := time.Since(start); waited < lease {
		t.Errorf("B took A's lease after %s, before a whole lease (%s) passed", waited, lease)
	}
	wantDisk(t, dev, stateHeld, "B", 2)
	must(t, true, b, ark.QuickCheck, "B", params, "held by node B (generation 2")

	// Remove releases, keeping the generation; the next holder bumps it.
	must(t, true, b, ark.Remove, "B", params, "released by node B (generation 2)")
	wantDisk(t, dev, stateReleased, "B", 2)
	must(t, true, b, ark.Remove, "B", params, "not held")
	must(t, false, b, ark.QuickCheck, "B", params, "not held by node B")
	a = systest.Launch(t, bin, "") // node A is back
	must(t, true, a, ark.Restore, "A", params, "reserved by node A (generation 3)")

	// takeover: force takes it at once, without waiting for expiry.
	force := map[string]string{"takeover": "force"}
	for k, v := range params {
		force[k] = v
	}
	res, lines, err = act(t, b, ark.Restore, "B", force, 0)
	if err != nil || !res.OK() || !strings.Contains(res.Message, "reserved by node B (generation 4), taken over from node A (generation 3)") {
		t.Fatalf("B's forced restore: %q (err %v)", res.Message, err)
	}
	if hasCode(lines, "wait") || !hasCode(lines, "forced") {
		t.Errorf("a forced takeover must not wait for the lease to expire and must log that it forced it")
	}
	wantDisk(t, dev, stateHeld, "B", 4)
	must(t, false, a, ark.QuickCheck, "A", params, "reservation taken by node B (generation 4)")
	must(t, false, a, ark.QuickCheck, "A", params, "reservation taken by node B (generation 4)")
	must(t, true, a, ark.Remove, "A", params, "not held by node A")
	must(t, true, b, ark.QuickCheck, "B", params, "held by node B (generation 4")
	before := wantDisk(t, dev, stateHeld, "B", 4)
	time.Sleep(600 * time.Millisecond) // B keeps renewing; A does not interfere
	if after := wantDisk(t, dev, stateHeld, "B", 4); after.Seq <= before.Seq {
		t.Errorf("B stopped renewing: seq %d, then %d", before.Seq, after.Seq)
	}
	must(t, true, b, ark.Remove, "B", params, "released")
}

// TestPluginRestart: a plugin that restarts finds its own lease on the
// disk; quickCheck resumes renewing it and restore keeps its generation.
func TestPluginRestart(t *testing.T) {
	systest.RequireRoot(t)
	dev := systest.Loop(t, 4)
	params := map[string]string{"device": dev, "lease_duration": "2s", "renew_interval": "200ms"}
	p := systest.LaunchPlugin(t, bin, "")
	must(t, true, p.ResourceType(), ark.Restore, "A", params, "generation 1")
	p.Kill()
	again := systest.Launch(t, bin, "")
	must(t, true, again, ark.QuickCheck, "A", params, "renewal resumed")
	before := onDisk(t, dev, 0)
	time.Sleep(500 * time.Millisecond)
	if after := wantDisk(t, dev, stateHeld, "A", 1); after.Seq <= before.Seq {
		t.Errorf("quickCheck did not resume renewing: seq %d, then %d", before.Seq, after.Seq)
	}
	must(t, true, again, ark.Restore, "A", params, "already held by node A (generation 1)")

	// Restarted and not renewed for longer than the lease: quickCheck
	// must not pretend it still holds it.
	must(t, true, again, ark.Remove, "A", params, "released by node A (generation 1)")
	p = systest.LaunchPlugin(t, bin, "")
	must(t, true, p.ResourceType(), ark.Restore, "A", params, "generation 2")
	p.Kill()
	time.Sleep(2100 * time.Millisecond)
	must(t, false, systest.Launch(t, bin, ""), ark.QuickCheck, "A", params, "was last renewed", "ago")
}

// TestBadBlock: a block that is not a lease record is never overwritten
// unless takeover: force says so.
func TestBadBlock(t *testing.T) {
	systest.RequireRoot(t)
	dev := systest.Loop(t, 4)
	rt := systest.Launch(t, bin, "")
	params := map[string]string{"device": dev, "lease_duration": "1s", "renew_interval": "200ms", "offset": "4096"}
	garbage := []byte("some filesystem superblock")
	writeDisk(t, dev, 4096, garbage)
	must(t, false, rt, ark.Restore, "A", params, "device "+dev+" offset 4096", "bad magic", "takeover: force")

	// A damaged record: bad checksum.
	b := encoded(t, record{State: stateHeld, Generation: 5, Owner: "B", Cluster: "c"})
	b[20] ^= 0xff
	writeDisk(t, dev, 4096, b)
	must(t, false, rt, ark.Restore, "A", params, "device "+dev+" offset 4096", "bad checksum")

	params["takeover"] = "force"
	must(t, true, rt, ark.Restore, "A", params, "reserved by node A")
	d, err := openBlock(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if r, err := d.readRecord(context.Background(), 4096); err != nil || !r.heldBy("c", "A") || r.Generation <= 5 {
		t.Errorf("after a forced takeover of a damaged record: %+v, %v", r, err)
	}
	must(t, true, rt, ark.Remove, "A", params, "released")

	// Offsets are checked against the device.
	params["offset"] = "8192000" // beyond the end of the 4 MiB device
	if _, _, err := act(t, rt, ark.Restore, "A", params, 0); !errors.Is(err, ark.ErrMisconfigured) || !strings.Contains(err.Error(), "beyond the end") {
		t.Errorf("restore with an offset beyond the device: %v, want misconfigured", err)
	}
	// No NODE, no action.
	if _, _, err := act(t, rt, ark.Restore, "", params, 0); !errors.Is(err, ark.ErrMisconfigured) || !strings.Contains(err.Error(), "NODE") {
		t.Errorf("restore without NODE: %v, want misconfigured naming NODE", err)
	}
}

// TestSCSI3OnLoop: a loop device has no persistent reservations; the kit
// says so plainly and points at the lease method.
func TestSCSI3OnLoop(t *testing.T) {
	systest.RequireRoot(t)
	dev := systest.Loop(t, 4)
	rt := systest.Launch(t, bin, "")
	params := map[string]string{"device": dev, "method": "scsi3"}
	want := "device " + dev + " does not support SCSI-3 persistent reservations ("
	err := rt.Validate(context.Background(), params)
	if !errors.Is(err, ark.ErrMisconfigured) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "use method: lease") {
		t.Errorf("Validate of scsi3 on a loop device: %v, want a misconfigured error saying %q ... use method: lease", err, want)
	}
	_, _, err = act(t, rt, ark.Restore, "A", params, 0)
	if !errors.Is(err, ark.ErrMisconfigured) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "use method: lease") {
		t.Errorf("restore of scsi3 on a loop device: %v, want a misconfigured error saying %q ... use method: lease", err, want)
	}
	must(t, true, rt, ark.Remove, "A", params, "not reserved")
	// Validate of the lease method on the same device is fine.
	params["method"] = "lease"
	if err := rt.Validate(context.Background(), params); err != nil {
		t.Errorf("Validate of the lease method on a loop device: %v", err)
	}
	params["offset"] = "1024"
	if err := rt.Validate(context.Background(), params); err != nil {
		t.Errorf("offset 1024 on a 512-byte-sector device: %v", err)
	}
}

// TestRace: two nodes restore a free lease at the same moment; exactly
// one of them gets it, whatever the interleaving.
func TestRace(t *testing.T) {
	systest.RequireRoot(t)
	dev := systest.Loop(t, 4)
	params := map[string]string{"device": dev, "lease_duration": "1s", "renew_interval": "200ms"}
	nodes := map[string]ark.ResourceType{"A": systest.Launch(t, bin, ""), "B": systest.Launch(t, bin, "")}
	for round := range 3 {
		results := map[string]ark.Result{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for name, rt := range nodes {
			wg.Go(func() {
				res, _, err := act(t, rt, ark.Restore, name, params, 3*time.Second)
				if err != nil {
					t.Errorf("round %d: node %s restore: %v", round, name, err)
				}
				mu.Lock()
				results[name] = res
				mu.Unlock()
			})
		}
		wg.Wait()
		var winners []string
		for name, res := range results {
			if res.OK() {
				winners = append(winners, name)
			}
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: %d nodes got the lease (%v): want exactly one", round, len(winners), results)
		}
		w := winners[0]
		wantDisk(t, dev, stateHeld, w, uint64(round+1))
		must(t, true, nodes[w], ark.QuickCheck, w, params, "held by node "+w)
		must(t, true, nodes[w], ark.Remove, w, params, "released")
	}
}
