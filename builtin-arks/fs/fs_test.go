package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ark-ha/ark/builtin-arks/internal/systest"
	"github.com/ark-ha/ark/sdk/ark"
	"github.com/ark-ha/ark/sdk/arktest"
)

// bin is the kit binary built for the tests, run through the real plugin
// protocol as the daemon runs it.
var bin string

func TestMain(m *testing.M) { systest.Main(m, "ark-fs", &bin) }

// disk is a loop device with a fresh ext4 on it and a mountpoint path
// (not created: restore creates it).
type disk struct {
	dev, mnt string
}

func newDisk(t *testing.T) disk {
	t.Helper()
	systest.RequireRoot(t)
	dev := systest.Loop(t, 32)
	systest.Mkfs(t, dev, "ext4")
	return disk{dev: dev, mnt: filepath.Join(t.TempDir(), "mnt")}
}

// params returns the resource's parameters, with extra ones added.
func (d disk) params(extra ...string) map[string]string {
	p := map[string]string{pDevice: d.dev, pMountpoint: d.mnt, pFSType: "ext4", pKillGrace: "1s"}
	for i := 0; i+1 < len(extra); i += 2 {
		p[extra[i]] = extra[i+1]
	}
	return p
}

// source returns what findmnt says is mounted at dir, "" if nothing.
func source(dir string) string {
	out, _ := systest.Try("", "findmnt", "-rn", "-o", "SOURCE", "--mountpoint", dir)
	lines := strings.Fields(out)
	if len(lines) == 0 {
		return ""
	}
	return lines[len(lines)-1]
}

func (d disk) mounted() bool { return source(d.mnt) == d.dev }

func mustOK(t *testing.T, res ark.Result, what string) {
	t.Helper()
	if !res.OK() {
		t.Fatalf("%s failed: status %d: %s", what, res.Status, res.Message)
	}
}

func mustFail(t *testing.T, res ark.Result, what string, want ...string) {
	t.Helper()
	if res.OK() {
		t.Fatalf("%s succeeded (%s), want a failure", what, res.Message)
	}
	for _, w := range want {
		if !strings.Contains(res.Message, w) {
			t.Errorf("%s: message %q does not say %q", what, res.Message, w)
		}
	}
}

func hasLine(lines []ark.LogLine, code string, want ...string) bool {
	for _, l := range lines {
		if l.Code != code {
			continue
		}
		all := true
		for _, w := range want {
			all = all && strings.Contains(l.Message, w)
		}
		if all {
			return true
		}
	}
	return false
}

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is missing: run `make deps`", tool)
		}
	}
}

// TestConformance runs the SDK's conformance kit on the real plugin with
// a loop device: in service = mounted, broken = unmounted behind its back.
func TestConformance(t *testing.T) {
	d := newDisk(t)
	rt := systest.Launch(t, bin, "")
	arktest.Run(t, rt, arktest.Config{
		Params:  d.params(),
		Running: d.mounted,
		Break:   func() { systest.Run(t, "", "umount", d.mnt) },
	})
}

// TestLifecycle mounts with options, checks, and has quickCheck notice a
// filesystem remounted read-only and an option gone behind its back.
func TestLifecycle(t *testing.T) {
	d := newDisk(t)
	rt := systest.Launch(t, bin, "")
	p := d.params(pOptions, "noexec,nodev,errors=remount-ro")

	res := systest.Do(t, rt, ark.Restore, "data", p, nil)
	mustOK(t, res, "restore")
	if !d.mounted() {
		t.Fatalf("restore said %q, but %s is not mounted on %s", res.Message, d.dev, d.mnt)
	}
	opts := systest.Run(t, "", "findmnt", "-rn", "-o", "OPTIONS", "--mountpoint", d.mnt)
	if !strings.Contains(opts, "noexec") || !strings.Contains(opts, "nodev") || !strings.Contains(opts, "errors=remount-ro") {
		t.Errorf("mounted with options %q, want noexec, nodev and errors=remount-ro", opts)
	}
	mustOK(t, systest.Do(t, rt, ark.QuickCheck, "data", p, nil), "quickCheck of the mounted filesystem")
	if ents, _ := os.ReadDir(d.mnt); len(ents) != 1 || ents[0].Name() != "lost+found" {
		t.Errorf("quickCheck left files in the mountpoint: %v", ents)
	}

	res = systest.Do(t, rt, ark.Restore, "data", p, nil)
	mustOK(t, res, "second restore")
	if !strings.Contains(res.Message, "already mounted") {
		t.Errorf("second restore: %q, want it to say already mounted", res.Message)
	}

	systest.Run(t, "", "mount", "-o", "remount,exec", d.mnt)
	mustFail(t, systest.Do(t, rt, ark.QuickCheck, "data", p, nil), "quickCheck after remount,exec", "noexec")
	systest.Run(t, "", "mount", "-o", "remount,noexec,ro", d.mnt)
	mustFail(t, systest.Do(t, rt, ark.QuickCheck, "data", p, nil), "quickCheck after remount,ro", "read-only (wanted rw)", d.dev, d.mnt)

	res = systest.Do(t, rt, ark.Remove, "data", p, nil)
	mustOK(t, res, "remove")
	if source(d.mnt) != "" {
		t.Fatalf("remove said %q, but %s is still mounted", res.Message, source(d.mnt))
	}
	mustFail(t, systest.Do(t, rt, ark.QuickCheck, "data", p, nil), "quickCheck after remove", "not mounted")
	res = systest.Do(t, rt, ark.Remove, "data", p, nil)
	mustOK(t, res, "second remove")
	if !strings.Contains(res.Message, "already unmounted") {
		t.Errorf("second remove: %q, want it to say already unmounted", res.Message)
	}

	// A read-only resource is checked for read-only, without a probe.
	ro := d.params(pOptions, "ro")
	mustOK(t, systest.Do(t, rt, ark.Restore, "data", ro, nil), "restore ro")
	mustOK(t, systest.Do(t, rt, ark.QuickCheck, "data", ro, nil), "quickCheck ro")
	mustOK(t, systest.Do(t, rt, ark.Remove, "data", ro, nil), "remove ro")
}

// waitFor polls cond up to 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// busy starts the processes of test 4 on a mounted disk: one with its
// cwd there, one holding a file open from elsewhere, one ignoring TERM.
func busy(t *testing.T, d disk) (cwd, fd, stubborn *systest.Proc) {
	t.Helper()
	elsewhere := t.TempDir()
	cwd = systest.Start(t, d.mnt, "sleep", "1000")
	fd = systest.Start(t, elsewhere, "sh", "-c", "exec 3>"+filepath.Join(d.mnt, "file")+"; exec sleep 1000")
	// SIG_IGN survives exec: the sleep ignores TERM.
	stubborn = systest.Start(t, d.mnt, "sh", "-c", `trap "" TERM; exec sleep 1000`)
	// Wait until the shells have set up and exec'd sleep, so that the
	// signals reach what the test means them to.
	waitFor(t, "the children to exec sleep", func() bool {
		return comm(fd.Pid) == "sleep" && comm(stubborn.Pid) == "sleep"
	})
	return cwd, fd, stubborn
}

// TestRemoveKillsUsers: with kill_users the processes using the
// filesystem are ended, TERM first and KILL for the one that ignores it,
// and the filesystem is unmounted.
func TestRemoveKillsUsers(t *testing.T) {
	d := newDisk(t)
	rt := systest.Launch(t, bin, "")
	p := d.params()
	mustOK(t, systest.Do(t, rt, ark.Restore, "data", p, nil), "restore")
	cwd, fd, stubborn := busy(t, d)

	res, lines := systest.DoLog(t, rt, ark.Remove, "data", p, nil)
	mustOK(t, res, "remove of a busy filesystem with kill_users")
	if d.mounted() {
		t.Fatalf("remove said %q, but %s is still mounted", res.Message, d.mnt)
	}
	for _, c := range []struct {
		p   *systest.Proc
		sig syscall.Signal
	}{{cwd, syscall.SIGTERM}, {fd, syscall.SIGTERM}, {stubborn, syscall.SIGKILL}} {
		if !c.p.WaitExit(5 * time.Second) {
			t.Errorf("pid %d still runs after remove", c.p.Pid)
			continue
		}
		if got := c.p.Signal(); got != c.sig {
			t.Errorf("pid %d ended by signal %v, want %v", c.p.Pid, got, c.sig)
		}
		if !hasLine(lines, "kill", strconv.Itoa(c.p.Pid), "sleep", "SIGTERM") {
			t.Errorf("no log line says pid %d (sleep) was sent SIGTERM", c.p.Pid)
		}
	}
	if !hasLine(lines, "kill", strconv.Itoa(stubborn.Pid), "SIGKILL") {
		t.Errorf("no log line says pid %d was sent SIGKILL", stubborn.Pid)
	}
}

// TestRemoveBusyNoKill: without kill_users a busy filesystem stays
// mounted, the processes live, and the failure names them.
func TestRemoveBusyNoKill(t *testing.T) {
	d := newDisk(t)
	rt := systest.Launch(t, bin, "")
	mustOK(t, systest.Do(t, rt, ark.Restore, "data", d.params(), nil), "restore")
	cwd, fd, _ := busy(t, d)

	res := systest.Do(t, rt, ark.Remove, "data", d.params(pKillUsers, "false"), nil)
	mustFail(t, res, "remove of a busy filesystem without kill_users",
		d.mnt, strconv.Itoa(cwd.Pid), strconv.Itoa(fd.Pid), "sleep", "kill_users is off")
	if !d.mounted() {
		t.Fatalf("the failed remove unmounted %s (lazily?)", d.mnt)
	}
	if cwd.Exited() || fd.Exited() {
		t.Fatalf("remove with kill_users=false killed a process")
	}
}

// TestLazyUnmount: busy with no process to blame (a mount below it)
// ends in a lazy unmount that succeeds with a warning since the device
// is free; busy because the kernel itself holds a file (a loop device
// backed by it) fails, as the device stays in use.
func TestLazyUnmount(t *testing.T) {
	d := newDisk(t)
	rt := systest.Launch(t, bin, "")
	p := d.params()

	mustOK(t, systest.Do(t, rt, ark.Restore, "data", p, nil), "restore")
	sub := filepath.Join(d.mnt, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	systest.Run(t, "", "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", sub)
	t.Cleanup(func() { _, _ = systest.Try("", "umount", "-l", sub) })
	res := systest.Do(t, rt, ark.Remove, "data", p, nil)
	mustOK(t, res, "remove with a mount below the mountpoint")
	if len(res.Warnings) == 0 || !strings.Contains(strings.Join(res.Warnings, "; "), "lazily") {
		t.Errorf("lazy unmount without a warning: %q", res.Warnings)
	}
	if source(d.mnt) != "" {
		t.Fatalf("%s still mounted after remove", d.mnt)
	}

	mustOK(t, systest.Do(t, rt, ark.Restore, "data", p, nil), "restore again")
	img := filepath.Join(d.mnt, "inner.img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	inner := strings.TrimSpace(systest.Run(t, "", "losetup", "--find", "--show", img))
	t.Cleanup(func() { _, _ = systest.Try("", "losetup", "-d", inner) })
	res = systest.Do(t, rt, ark.Remove, "data", p, nil)
	mustFail(t, res, "remove while a loop device uses a file on it", "still in use", d.dev)
}

// TestFsck: fsck runs before the mount; an unclean filesystem is
// repaired and mounted; one fsck -a cannot repair is refused.
func TestFsck(t *testing.T) {
	need(t, "debugfs")
	rt := systest.Launch(t, bin, "")

	t.Run("clean", func(t *testing.T) {
		d := newDisk(t)
		res, lines := systest.DoLog(t, rt, ark.Restore, "data", d.params(), nil)
		mustOK(t, res, "restore")
		if !hasLine(lines, "fsck", "fsck.ext4 -a "+d.dev, "exit 0") {
			t.Errorf("no log line says fsck.ext4 ran and exited 0")
		}
		mustOK(t, systest.Do(t, rt, ark.Remove, "data", d.params(), nil), "remove")
	})
	t.Run("unclean is repaired", func(t *testing.T) {
		d := newDisk(t)
		systest.Run(t, "", "debugfs", "-w", "-R", "ssv state 0", d.dev)
		res, lines := systest.DoLog(t, rt, ark.Restore, "data", d.params(), nil)
		mustOK(t, res, "restore of an unclean filesystem")
		if !hasLine(lines, "fsck", "exit 1 (errors corrected)") {
			t.Errorf("no log line says fsck corrected errors")
		}
		if !d.mounted() {
			t.Errorf("not mounted")
		}
		mustOK(t, systest.Do(t, rt, ark.Remove, "data", d.params(), nil), "remove")
	})
	t.Run("corrupt is refused", func(t *testing.T) {
		d := newDisk(t)
		systest.Run(t, "", "debugfs", "-w", "-R", "clri <2>", d.dev) // the root directory's inode
		systest.Run(t, "", "debugfs", "-w", "-R", "ssv state 0", d.dev)
		res := systest.Do(t, rt, ark.Restore, "data", d.params(), nil)
		mustFail(t, res, "restore of a corrupt filesystem", "fsck.ext4 -a "+d.dev, "exited 4", "errors left uncorrected", "UNEXPECTED INCONSISTENCY")
		if source(d.mnt) != "" {
			t.Errorf("the corrupt filesystem was mounted")
		}
		// fsck=false mounts it regardless: the admin's choice.
		res = systest.Do(t, rt, ark.Restore, "data", d.params(pFsck, "false"), nil)
		t.Logf("restore with fsck=false: status %d %s", res.Status, res.Message)
	})
}

// TestWrongDevice: another device mounted at the mountpoint is named by
// restore and quickCheck and left alone by all actions.
func TestWrongDevice(t *testing.T) {
	a, b := newDisk(t), newDisk(t)
	rt := systest.Launch(t, bin, "")
	if err := os.MkdirAll(a.mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	systest.Mount(t, b.dev, a.mnt, "")

	mustFail(t, systest.Do(t, rt, ark.Restore, "data", a.params(), nil), "restore over another device", a.dev, b.dev, a.mnt)
	if source(a.mnt) != b.dev {
		t.Fatalf("restore changed what is mounted at %s: %q", a.mnt, source(a.mnt))
	}
	mustFail(t, systest.Do(t, rt, ark.QuickCheck, "data", a.params(), nil), "quickCheck with another device", a.dev, b.dev)
	res := systest.Do(t, rt, ark.Remove, "data", a.params(), nil)
	mustOK(t, res, "remove with another device mounted")
	if source(a.mnt) != b.dev {
		t.Fatalf("remove unmounted the other device from %s", a.mnt)
	}
	if len(res.Warnings) == 0 || !strings.Contains(res.Warnings[0], b.dev) {
		t.Errorf("remove left another device alone without a warning naming it: %q", res.Warnings)
	}
}

// TestProbeHang freezes the filesystem: the write probe hangs, quickCheck
// fails at probe_timeout, the next one fails at once saying since when,
// and after a thaw quickCheck succeeds again.
func TestProbeHang(t *testing.T) {
	need(t, "fsfreeze")
	d := newDisk(t)
	rt := systest.Launch(t, bin, "")
	p := d.params(pProbeTimeout, "500ms")
	mustOK(t, systest.Do(t, rt, ark.Restore, "data", p, nil), "restore")

	systest.Run(t, "", "fsfreeze", "-f", d.mnt)
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			_, _ = systest.Try("", "fsfreeze", "-u", d.mnt)
		}
	}
	// Registered after Launch, so it runs before the plugin is stopped:
	// a process blocked on a frozen filesystem cannot exit.
	t.Cleanup(thaw)

	mustFail(t, systest.Do(t, rt, ark.QuickCheck, "data", p, nil), "quickCheck of a frozen filesystem", "did not finish within probe_timeout 500ms")
	mustFail(t, systest.Do(t, rt, ark.QuickCheck, "data", p, nil), "second quickCheck of a frozen filesystem", "has not returned", "ago")
	thaw()
	waitFor(t, "quickCheck to succeed after the thaw", func() bool {
		return systest.Do(t, rt, ark.QuickCheck, "data", p, nil).OK()
	})
	if _, err := os.Stat(filepath.Join(d.mnt, probeName("data"))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the probe file is left behind: %v", err)
	}
	mustOK(t, systest.Do(t, rt, ark.Remove, "data", p, nil), "remove")
}

// TestUUIDAndLabel: the device may be named by UUID= or LABEL=.
func TestUUIDAndLabel(t *testing.T) {
	need(t, "blkid", "tune2fs")
	d := newDisk(t)
	rt := systest.Launch(t, bin, "")
	uuid := strings.TrimSpace(systest.Run(t, "", "blkid", "-s", "UUID", "-o", "value", d.dev))
	label := fmt.Sprintf("arkfs%d", os.Getpid()%100000)
	systest.Run(t, "", "tune2fs", "-L", label, d.dev)
	for _, spec := range []string{"UUID=" + uuid, "LABEL=" + label} {
		p := d.params(pDevice, spec)
		mustOK(t, systest.Do(t, rt, ark.Restore, "data", p, nil), "restore with "+spec)
		if !d.mounted() {
			t.Fatalf("restore with %s: %s not mounted", spec, d.dev)
		}
		mustOK(t, systest.Do(t, rt, ark.QuickCheck, "data", p, nil), "quickCheck with "+spec)
		mustOK(t, systest.Do(t, rt, ark.Remove, "data", p, nil), "remove with "+spec)
	}
	res := systest.Do(t, rt, ark.Restore, "data", d.params(pDevice, "UUID=00000000-0000-0000-0000-000000000000"), nil)
	mustFail(t, res, "restore of an unknown UUID", "no block device with UUID=00000000")
}

// TestValidate: each bad value is refused as misconfigured, naming the
// parameter.
func TestValidate(t *testing.T) {
	good := map[string]string{pDevice: "/dev/sdb1", pMountpoint: "/srv/data", pFSType: "ext4"}
	with := func(k, v string) map[string]string {
		p := map[string]string{}
		for a, b := range good {
			p[a] = b
		}
		if v == "<unset>" {
			delete(p, k)
		} else {
			p[k] = v
		}
		return p
	}
	if err := New().Validate(context.Background(), good); err != nil {
		t.Fatalf("Validate(%v): %v", good, err)
	}
	if err := New().Validate(context.Background(), with(pDevice, "UUID=1234-abcd")); err != nil {
		t.Fatalf("Validate with UUID=: %v", err)
	}
	for _, tc := range []struct{ key, value, want string }{
		{pDevice, "<unset>", pDevice},
		{pDevice, "sdb1", pDevice},
		{pDevice, "LABEL=", pDevice},
		{pMountpoint, "srv/data", pMountpoint},
		{pMountpoint, "/", pMountpoint},
		{pFSType, "", pFSType},
		{pFSType, "ext4,xfs", pFSType},
		{pOptions, "ro,bind", "bind"},
		{pFsck, "maybe", pFsck},
		{pKillGrace, "-1s", pKillGrace},
		{pProbeTimeout, "0s", pProbeTimeout},
		{pFsckTimeout, "soon", pFsckTimeout},
		{"mountpiont", "/x", "mountpoint"},
	} {
		err := New().Validate(context.Background(), with(tc.key, tc.value))
		switch {
		case err == nil:
			t.Errorf("%s=%q accepted", tc.key, tc.value)
		case !errors.Is(err, ark.ErrMisconfigured):
			t.Errorf("%s=%q: %v is not misconfigured", tc.key, tc.value, err)
		case !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s=%q: %q does not name %q", tc.key, tc.value, err, tc.want)
		}
	}
}
