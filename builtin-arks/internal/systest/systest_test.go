package systest

import (
	"strings"
	"testing"
)

// TestLAN: two namespaces on one segment reach each other, and not once
// one is unplugged.
func TestLAN(t *testing.T) {
	RequireRoot(t)
	a, b := Netns(t, "arka"), Netns(t, "arkb")
	sw := LAN(t, "eth0", a, b)
	Run(t, a, "ip", "addr", "add", "192.0.2.1/24", "dev", "eth0")
	Run(t, b, "ip", "addr", "add", "192.0.2.2/24", "dev", "eth0")
	Run(t, a, "ping", "-c1", "-W2", "192.0.2.2")
	Unplug(t, sw, 1)
	if _, err := Try(a, "ping", "-c1", "-W1", "192.0.2.2"); err == nil {
		t.Fatal("ping crossed an unplugged port")
	}
	Plug(t, sw, 1)
	Run(t, a, "ping", "-c1", "-W2", "192.0.2.2")
}

// TestLoop: a loop device with ext4 on it mounts.
func TestLoop(t *testing.T) {
	RequireRoot(t)
	dev := Loop(t, 16)
	Mkfs(t, dev, "ext4")
	mnt := t.TempDir()
	Run(t, "", "mount", dev, mnt)
	t.Cleanup(func() { _, _ = Try("", "umount", mnt) })
	if out := Run(t, "", "findmnt", "-rn", "-o", "SOURCE", mnt); strings.TrimSpace(out) != dev {
		t.Fatalf("findmnt %s: %q, want %s", mnt, out, dev)
	}
}
