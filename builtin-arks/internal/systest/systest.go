package systest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ark-ha/ark/sdk/ark"
)

// RequireRoot skips t unless it runs as root with the tools the system
// tests use (ip, nsenter, losetup, mkfs.ext4).
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, loop devices, mounts): run as root, as CI does")
	}
	for _, tool := range []string{"ip", "nsenter", "losetup", "mkfs.ext4"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: run `make deps`", tool)
		}
	}
}

var seq atomic.Int64

// unique returns a short name unique to this process and call, so that
// test packages running at once never share a namespace or an interface.
func unique(prefix string) string {
	return fmt.Sprintf("%s%d%d", prefix, os.Getpid()%100000, seq.Add(1))
}

// Run runs a command in network namespace ns ("" = the test's own) and
// returns its combined output; it fails the test on error.
func Run(t testing.TB, ns string, args ...string) string {
	t.Helper()
	out, err := Try(ns, args...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return out
}

// Try runs a command in network namespace ns ("" = the test's own) and
// returns its combined output, and an error naming the command and its
// output when it fails.
func Try(ns string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	if ns != "" {
		cmd = exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + NetnsPath(ns)}, args...)...)
	}
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	if err := cmd.Run(); err != nil {
		return b.String(), fmt.Errorf("%s (netns %q): %w\n%s", strings.Join(args, " "), ns, err, b.String())
	}
	return b.String(), nil
}

// NetnsPath is the file that names network namespace ns, what
// `nsenter --net=` takes.
func NetnsPath(ns string) string { return "/run/netns/" + ns }

// Netns creates a network namespace with its loopback up and returns its
// name; it is deleted at cleanup.
func Netns(t testing.TB, prefix string) string {
	t.Helper()
	ns := unique(prefix)
	Run(t, "", "ip", "netns", "add", ns)
	t.Cleanup(func() { _, _ = Try("", "ip", "netns", "del", ns) })
	Run(t, ns, "ip", "link", "set", "lo", "up")
	return ns
}

// LAN joins network namespaces on one Ethernet segment: a bridge in a
// switch namespace of its own, and in each namespace an interface named
// ifname, up, plugged into it. It returns the switch namespace; a test
// can cut a node off with Unplug.
func LAN(t testing.TB, ifname string, nss ...string) string {
	t.Helper()
	sw := Netns(t, "arksw")
	Run(t, sw, "ip", "link", "add", "br0", "type", "bridge")
	Run(t, sw, "ip", "link", "set", "br0", "up")
	for i, ns := range nss {
		port := fmt.Sprintf("p%d", i)
		tmp := unique("veth")
		Run(t, "", "ip", "link", "add", tmp, "type", "veth", "peer", "name", port, "netns", sw)
		Run(t, "", "ip", "link", "set", tmp, "netns", ns)
		Run(t, ns, "ip", "link", "set", tmp, "name", ifname)
		Run(t, ns, "ip", "link", "set", ifname, "up")
		Run(t, sw, "ip", "link", "set", port, "master", "br0")
		Run(t, sw, "ip", "link", "set", port, "up")
	}
	return sw
}

// Unplug takes the i-th namespace given to LAN off the segment (its
// bridge port goes down), as a pulled cable would; Plug puts it back.
func Unplug(t testing.TB, sw string, i int) {
	t.Helper()
	Run(t, sw, "ip", "link", "set", fmt.Sprintf("p%d", i), "down")
}

// Plug undoes Unplug.
func Plug(t testing.TB, sw string, i int) {
	t.Helper()
	Run(t, sw, "ip", "link", "set", fmt.Sprintf("p%d", i), "up")
}

// Loop creates a sparse backing file of sizeMB in t's temp dir and
// attaches a loop device to it; the device is detached at cleanup
// (after anything mounted from it is unmounted by later cleanups, which
// run first).
func Loop(t testing.TB, sizeMB int) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(int64(sizeMB) << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	dev := strings.TrimSpace(Run(t, "", "losetup", "--find", "--show", img))
	t.Cleanup(func() {
		// A mount a failed test left behind would keep the device busy.
		if out, _ := Try("", "findmnt", "-rn", "-S", dev, "-o", "TARGET"); out != "" {
			for _, m := range strings.Fields(out) {
				_, _ = Try("", "umount", "-l", m)
			}
		}
		_, _ = Try("", "losetup", "-d", dev)
	})
	return dev
}

// Mkfs makes a filesystem of type fstype (ext4, ext2, ...) on dev.
func Mkfs(t testing.TB, dev, fstype string) {
	t.Helper()
	Run(t, "", "mkfs."+fstype, "-q", "-F", dev)
}

// Build compiles the Go package in dir (e.g. "." or "../ip") to a binary
// named name in a directory of its own and returns the binary's path.
// Meant for TestMain; the caller removes the directory.
func Build(dir, name string) (string, error) {
	out, err := os.MkdirTemp("", "ark-kit-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(out, name)
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", dir, err, b)
	}
	return bin, nil
}

// Main is a kit test package's TestMain: it builds the package in the
// current directory as name into *bin, runs the tests, removes the
// binary and exits with the tests' status.
func Main(m *testing.M, name string, bin *string) {
	b, err := Build(".", name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bin = b
	code := m.Run()
	os.RemoveAll(filepath.Dir(b))
	os.Exit(code)
}

// Launch starts the kit binary in network namespace ns ("" = the test's
// own) through the real plugin protocol and returns its resource type;
// the process is stopped at cleanup.
func Launch(t testing.TB, bin, ns string) ark.ResourceType {
	t.Helper()
	return LaunchPlugin(t, bin, ns).ResourceType()
}

// Do runs one action of rt with params and returns its result; an error
// (the action could not run) fails the test. Log lines go to t.Log.
func Do(t testing.TB, rt ark.ResourceType, a ark.Action, tag string, params map[string]string, env map[string]string) ark.Result {
	t.Helper()
	res, err := DoErr(t, rt, a, tag, params, env)
	if err != nil {
		t.Fatalf("%s %s: %v", a, tag, err)
	}
	return res
}

// DoErr is Do that returns the error instead of failing.
func DoErr(t testing.TB, rt ark.ResourceType, a ark.Action, tag string, params map[string]string, env map[string]string) (ark.Result, error) {
	t.Helper()
	return doWith(t, rt, a, tag, params, env, func(l ark.LogLine) { t.Logf("%s %s [%s] %s %s", tag, a, l.Level, l.Code, l.Message) })
}
