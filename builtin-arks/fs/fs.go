package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/ark-ha/ark/sdk/ark"
)

// Version of the fs kit.
const Version = "0.1.0"

// Parameter names.
const (
	pDevice       = "device"
	pMountpoint   = "mountpoint"
	pFSType       = "fstype"
	pOptions      = "options"
	pFsck         = "fsck"
	pFsckTimeout  = "fsck_timeout"
	pKillUsers    = "kill_users"
	pKillGrace    = "kill_grace"
	pProbeTimeout = "probe_timeout"
)

// DefaultQuickCheckTimeout is LifeKeeper's quickCheck timeout; it must
// exceed probe_timeout for a hung probe to be reported by the kit rather
// than cut off by the host.
const DefaultQuickCheckTimeout = 22 * time.Second

// Unmount retries: a filesystem is often busy for a moment after its last
// user exits (a closing file, a process being reaped).
const (
	unmountAttempts = 4
	unmountPause    = 500 * time.Millisecond
)

var info = ark.Info{
	Type:    "fs",
	Version: Version,
	Doc: "A filesystem on a block device, mounted at a mountpoint while in service. " +
		"restore runs fsck and mounts it; remove stops the processes using it and unmounts it; " +
		"quickCheck checks the mount, its options and that it takes writes.",
	Params: []ark.ParamSpec{
		{Name: pDevice, Type: ark.TypePath, Required: true, Doc: "the block device (/dev/sdb1, /dev/mapper/vg-lv, ...), or UUID=<uuid> or LABEL=<label>"},
		{Name: pMountpoint, Type: ark.TypePath, Required: true, Doc: "absolute path to mount it at; created (mode 0755, with its parents) if missing"},
		{Name: pFSType, Type: ark.TypeString, Required: true, Doc: "filesystem type as mount(8) -t takes it: ext4, xfs, ..."},
		{Name: pOptions, Type: ark.TypeString, Doc: "mount options, comma-separated, as in fstab (\"\" = defaults): ro, noatime, nodev, ... and the filesystem's own (errors=remount-ro, ...)"},
		{Name: pFsck, Type: ark.TypeBool, Default: "true", Doc: "run fsck.<fstype> -a on the device before mounting; exit 0 or 1 mounts, 2 and more fails restore"},
		{Name: pFsckTimeout, Type: ark.TypeDuration, Default: "2h", Doc: "how long fsck may run before it is stopped and restore fails; 0 = only the restore timeout limits it"},
		{Name: pKillUsers, Type: ark.TypeBool, Default: "true", Doc: "on remove, end the processes that use the filesystem (SIGTERM, then SIGKILL after kill_grace) so it can be unmounted"},
		{Name: pKillGrace, Type: ark.TypeDuration, Default: "5s", Doc: "time between SIGTERM and SIGKILL for the processes using the filesystem"},
		{Name: pProbeTimeout, Type: ark.TypeDuration, Default: "5s", Doc: "time quickCheck's write probe (create, write, fsync, remove a hidden file) may take"},
	},
	Actions:         []ark.Action{ark.Restore, ark.Remove, ark.QuickCheck},
	DefaultTimeouts: map[ark.Action]time.Duration{ark.QuickCheck: DefaultQuickCheckTimeout},
}

// Filesystem implements ark.ResourceType for mounted filesystems. It keeps
// no state between actions except the write probes still running (see
// probes).
type Filesystem struct {
	ark.RecoverNotSupported // a broken filesystem needs fsck, so unmounting: failover does that
	probes                  probes
}

var _ ark.ResourceType = (*Filesystem)(nil)

// New returns the fs resource type.
func New() *Filesystem { return &Filesystem{} }

// Info implements ark.ResourceType.
func (*Filesystem) Info(context.Context) (ark.Info, error) { return info, nil }

// config is a resource's parameters, parsed.
type config struct {
	device       string // as given: a path, UUID=... or LABEL=...
	mountpoint   string // cleaned
	fstype       string
	optionsText  string
	options      mountOptions
	fsck         bool
	fsckTimeout  time.Duration
	killUsers    bool
	killGrace    time.Duration
	probeTimeout time.Duration
}

// parseConfig parses and checks params (with defaults filled in). Errors
// name the parameter.
func parseConfig(params map[string]string) (config, error) {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("parameter %q: %s", name, fmt.Sprintf(format, args...)))
	}
	c := config{
		device:      params[pDevice],
		mountpoint:  filepath.Clean(params[pMountpoint]),
		fstype:      params[pFSType],
		optionsText: params[pOptions],
	}
	switch d := c.device; {
	case strings.HasPrefix(d, "UUID=") || strings.HasPrefix(d, "LABEL="):
		if _, v, _ := strings.Cut(d, "="); v == "" {
			bad(pDevice, "%q names no UUID or label", d)
		}
	case !filepath.IsAbs(d):
		bad(pDevice, "%q is not an absolute path, UUID=... or LABEL=...", d)
	}
	switch mp := params[pMountpoint]; {
	case !filepath.IsAbs(mp):
		bad(pMountpoint, "%q is not an absolute path", mp)
	case c.mountpoint == "/":
		bad(pMountpoint, "the root directory cannot be a resource's mountpoint")
	}
	if c.fstype == "" || strings.ContainsAny(c.fstype, ", /\t") {
		bad(pFSType, "%q is not a filesystem type (ext4, xfs, ...)", c.fstype)
	}
	var err error
	if c.options, err = parseOptions(c.optionsText); err != nil {
		bad(pOptions, "%v", err)
	}
	c.fsck = parseBool(params[pFsck], true)
	c.killUsers = parseBool(params[pKillUsers], true)
	dur := func(name, def string, positive bool) time.Duration {
		v := params[name]
		if v == "" {
			v = def
		}
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			bad(name, "%q is not a duration (e.g. 5s, 1m30s)", v)
		case d < 0 || positive && d == 0:
			bad(name, "%s must be more than zero", v)
		}
		return d
	}
	c.fsckTimeout = dur(pFsckTimeout, "2h", false)
	c.killGrace = dur(pKillGrace, "5s", false)
	c.probeTimeout = dur(pProbeTimeout, "5s", true)
	if len(errs) > 0 {
		return c, ark.Misconfigured(errors.Join(errs...))
	}
	return c, nil
}

func parseBool(v string, def bool) bool {
	switch strings.ToLower(v) {
	case "true", "yes", "on", "1":
		return true
	case "false", "no", "off", "0":
		return false
	}
	return def
}

// Validate checks the schema, then the values: absolute paths, a
// filesystem type, mount options the kit can pass, durations.
func (*Filesystem) Validate(_ context.Context, params map[string]string) error {
	if err := info.ValidateParams(params); err != nil {
		return err
	}
	_, err := parseConfig(info.WithDefaults(params))
	return err
}

// device is the resolved block device of a resource.
type device struct {
	path string // /dev/...
	rdev uint64 // its device number (st_rdev)
}

func (d device) String() string {
	return fmt.Sprintf("%s (%d:%d)", d.path, unix.Major(d.rdev), unix.Minor(d.rdev))
}

// resolveDevice finds the block device the device parameter names. A
// device that is not there is a failure of this node (a disk not
// attached), reported as such; a lookup that cannot run is an error.
func resolveDevice(ctx context.Context, spec string) (device, string, error) {
	path := spec
	if kind, v, ok := strings.Cut(spec, "="); ok && (kind == "UUID" || kind == "LABEL") {
		var err error
		path, err = lookupDevice(ctx, kind, v)
		if err != nil {
			return device{}, "", err
		}
		if path == "" {
			return device{}, fmt.Sprintf("no block device with %s on this node", spec), nil
		}
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return device{}, fmt.Sprintf("device %s does not exist on this node", path), nil
		}
		return device{}, fmt.Sprintf("device %s: %v", path, err), nil
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return device{}, fmt.Sprintf("device %s is not a block device", path), nil
	}
	return device{path: path, rdev: st.Rdev}, "", nil
}

// lookupDevice resolves UUID=/LABEL= through udev's /dev/disk links, or
// blkid where udev does not run. "" means no such device.
func lookupDevice(ctx context.Context, kind, v string) (string, error) {
	link := "/dev/disk/by-" + strings.ToLower(kind) + "/" + v
	if p, err := filepath.EvalSymlinks(link); err == nil {
		return p, nil
	}
	blkid, err := lookTool("blkid")
	if err != nil {
		return "", ark.NotInstalled(fmt.Errorf("resolve %s=%s: %s missing and %w", kind, v, link, err))
	}
	flag := map[string]string{"UUID": "-U", "LABEL": "-L"}[kind]
	out, err := exec.CommandContext(ctx, blkid, flag, v).Output()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ee.ExitCode() == 2: // blkid: not found
		return "", nil
	case err != nil:
		if ctx.Err() != nil {
			return "", fmt.Errorf("resolve %s=%s: %w", kind, v, ctx.Err())
		}
		return "", fmt.Errorf("resolve %s=%s: blkid %s %s: %w", kind, v, flag, v, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// mounts returns the mount table of this process's mount namespace.
func mounts() ([]*mountinfo.Info, error) {
	ms, err := mountinfo.GetMounts(nil)
	if err != nil {
		return nil, fmt.Errorf("read the mount table: %w", err)
	}
	return ms, nil
}

// mountAt returns the mount visible at mountpoint mp (the topmost, when
// several are stacked there), or nil. mp is also looked up with its
// symlinks resolved, as the kernel lists it so.
func mountAt(ms []*mountinfo.Info, mp string) *mountinfo.Info {
	names := []string{mp}
	if real, err := filepath.EvalSymlinks(mp); err == nil && real != mp {
		names = append(names, real)
	}
	var top *mountinfo.Info
	for _, m := range ms {
		for _, n := range names {
			// The table lists mounts in the order they were made, so the
			// last one at mp is the one on top.
			if m.Mountpoint == n {
				top = m
			}
		}
	}
	return top
}

// isFrom reports whether mount m is of device d: by the device number of
// its files, or (for filesystems such as btrfs whose files carry an
// anonymous device number) by the device its source names.
func isFrom(m *mountinfo.Info, d device) bool {
	if unix.Mkdev(uint32(m.Major), uint32(m.Minor)) == d.rdev {
		return true
	}
	var st unix.Stat_t
	return strings.HasPrefix(m.Source, "/") && unix.Stat(m.Source, &st) == nil &&
		st.Mode&unix.S_IFMT == unix.S_IFBLK && st.Rdev == d.rdev
}

// describeMount names what is mounted: "/dev/loop3 (7:3, ext4)".
func describeMount(m *mountinfo.Info) string {
	return fmt.Sprintf("%s (%d:%d, %s)", m.Source, m.Major, m.Minor, m.FSType)
}

// elsewhere lists the other mountpoints of device d.
func elsewhere(ms []*mountinfo.Info, d device, mp string) []string {
	var out []string
	for _, m := range ms {
		if m.Mountpoint != mp && isFrom(m, d) {
			out = append(out, m.Mountpoint)
		}
	}
	return out
}

// outcome builds results and logs them: every action logs one line saying
// what it did.
type outcome struct {
	req      *ark.Request
	action   ark.Action
	start    time.Time
	warnings []string
}

func (o *outcome) warn(code, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	o.warnings = append(o.warnings, msg)
	logf(o.req, slog.LevelWarn, code, "%s", msg)
}

func (o *outcome) ok(level slog.Level, format string, args ...any) (ark.Result, error) {
	msg := fmt.Sprintf(format, args...)
	logf(o.req, level, string(o.action), "%s", msg)
	return ark.Result{Message: msg, Duration: time.Since(o.start), Warnings: o.warnings}, nil
}

func (o *outcome) fail(format string, args ...any) (ark.Result, error) {
	msg := fmt.Sprintf(format, args...)
	logf(o.req, slog.LevelError, string(o.action), "%s", msg)
	return ark.Result{Status: 1, Message: msg, Duration: time.Since(o.start), Warnings: o.warnings}, nil
}

// begin parses the request's parameters; an action cannot run without
// them.
func begin(ctx context.Context, a ark.Action, req *ark.Request) (*outcome, config, error) {
	o := &outcome{req: req, action: a, start: time.Now()}
	if err := ctx.Err(); err != nil {
		return o, config{}, fmt.Errorf("%s %s: %w", a, req.Tag, err)
	}
	c, err := parseConfig(req.Params)
	if err != nil {
		return o, c, fmt.Errorf("%s %s: %w", a, req.Tag, err)
	}
	return o, c, nil
}

// Restore mounts the filesystem, after fsck when asked for. Mounted
// already from the same device is success; anything else mounted at the
// mountpoint is a failure naming both.
func (f *Filesystem) Restore(ctx context.Context, req *ark.Request) (ark.Result, error) {
	o, c, err := begin(ctx, ark.Restore, req)
	if err != nil {
		return ark.Result{}, err
	}
	dev, missing, err := resolveDevice(ctx, c.device)
	if err != nil {
		return ark.Result{}, fmt.Errorf("restore %s: %w", req.Tag, err)
	}
	if missing != "" {
		return o.fail("cannot mount %s: %s", c.mountpoint, missing)
	}
	ms, err := mounts()
	if err != nil {
		return ark.Result{}, ark.Transient(fmt.Errorf("restore %s: %w", req.Tag, err))
	}
	if m := mountAt(ms, c.mountpoint); m != nil {
		if !isFrom(m, dev) {
			return o.fail("mountpoint %s already has %s mounted on it, not %s: left alone; unmount it or fix the resource",
				c.mountpoint, describeMount(m), dev)
		}
		if diff := c.options.mismatch(m.Options, m.VFSOptions); len(diff) > 0 {
			o.warn("options", "%s is mounted on %s but %s: remove and restore the resource to mount it as configured",
				dev.path, c.mountpoint, strings.Join(diff, ", "))
		}
		return o.ok(slog.LevelInfo, "already mounted: %s on %s", describeMount(m), c.mountpoint)
	}

	if fi, err := os.Stat(c.mountpoint); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(c.mountpoint, 0o755); err != nil {
			return o.fail("cannot create mountpoint %s: %v", c.mountpoint, err)
		}
		logf(req, slog.LevelInfo, "mkdir", "created mountpoint %s", c.mountpoint)
	} else if err != nil {
		return o.fail("mountpoint %s: %v", c.mountpoint, err)
	} else if !fi.IsDir() {
		return o.fail("mountpoint %s is not a directory", c.mountpoint)
	}

	other := elsewhere(ms, dev, c.mountpoint)
	switch {
	case !c.fsck:
	case len(other) > 0:
		// fsck refuses a mounted filesystem (or worse, "repairs" it).
		o.warn("fsck", "fsck of %s skipped: it is already mounted at %s", dev.path, strings.Join(other, ", "))
	default:
		res, err := runFsck(ctx, req, c.fstype, dev.path, c.fsckTimeout)
		if err != nil {
			return ark.Result{}, fmt.Errorf("restore %s: %w", req.Tag, err)
		}
		switch {
		case res.timedOut:
			return o.fail("%s did not finish within fsck_timeout %s and was stopped; %s not mounted", res.cmd, c.fsckTimeout, dev.path)
		case !res.ok():
			return o.fail("%s exited %d (%s), so %s was not mounted on %s; repair it by hand (fsck without -a): %s",
				res.cmd, res.status, res.meaning(), dev.path, c.mountpoint, res.lastLines(3))
		}
		logf(req, slog.LevelInfo, "fsck", "%s: exit %d (%s)", res.cmd, res.status, res.meaning())
	}

	if err := ctx.Err(); err != nil {
		return ark.Result{}, fmt.Errorf("restore %s: %w", req.Tag, err)
	}
	if err := unix.Mount(dev.path, c.mountpoint, c.fstype, c.options.flags, c.options.data); err != nil {
		return o.fail("mount %s on %s (type %s, options %q) failed: %v",
			dev.path, c.mountpoint, c.fstype, c.optionsText, describeErrno(err, mountHints))
	}
	if len(other) > 0 {
		o.warn("mount", "%s is now also mounted at %s", dev.path, strings.Join(other, ", "))
	}
	return o.ok(slog.LevelInfo, "mounted %s on %s (type %s, options %q)", dev, c.mountpoint, c.fstype, c.optionsText)
}

// mountHints explain mount(2)'s errnos to an admin.
var mountHints = map[unix.Errno]string{
	unix.EBUSY:   "the device is in use (mounted elsewhere, or held by device-mapper, md or another process exclusively)",
	unix.ENODEV:  "the kernel does not know this filesystem type",
	unix.EINVAL:  "wrong fstype, a bad option or a damaged superblock; the kernel log (dmesg) says which",
	unix.ENOTBLK: "not a block device",
	unix.EACCES:  "the device is write-protected; mount it with ro",
	unix.EROFS:   "the device is read-only; mount it with ro",
	unix.ENXIO:   "the device is not there (disk gone?)",
	unix.EIO:     "I/O error reading the device",
	unix.EUCLEAN: "the filesystem is corrupted: run fsck",
}

// describeErrno renders a syscall error as "device or resource busy
// (EBUSY): <hint>".
func describeErrno(err error, hints map[unix.Errno]string) string {
	var e unix.Errno
	if !errors.As(err, &e) {
		return err.Error()
	}
	s := fmt.Sprintf("%v (%s)", e, unix.ErrnoName(e))
	if h := hints[e]; h != "" {
		s += ": " + h
	}
	return s
}

// Remove unmounts the filesystem. With kill_users it first ends the
// processes that use it; an unmount still busy after that becomes a lazy
// unmount, which counts as success only if the device is then free.
func (f *Filesystem) Remove(ctx context.Context, req *ark.Request) (ark.Result, error) {
	o, c, err := begin(ctx, ark.Remove, req)
	if err != nil {
		return ark.Result{}, err
	}
	ms, err := mounts()
	if err != nil {
		return ark.Result{}, ark.Transient(fmt.Errorf("remove %s: %w", req.Tag, err))
	}
	m := mountAt(ms, c.mountpoint)
	if m == nil {
		return o.ok(slog.LevelInfo, "already unmounted: nothing is mounted on %s", c.mountpoint)
	}
	dev, missing, err := resolveDevice(ctx, c.device)
	if err != nil {
		return ark.Result{}, fmt.Errorf("remove %s: %w", req.Tag, err)
	}
	switch {
	case missing == "" && !isFrom(m, dev):
		o.warn("foreign", "%s has %s mounted on it, not %s: left alone", c.mountpoint, describeMount(m), dev)
		return o.ok(slog.LevelInfo, "already unmounted: %s is not mounted on %s", dev.path, c.mountpoint)
	case missing != "" && m.Source != c.device && m.FSType != c.fstype:
		o.warn("foreign", "%s has %s mounted on it, and %s", c.mountpoint, describeMount(m), missing)
		return o.ok(slog.LevelInfo, "already unmounted: %s is not mounted on %s", c.device, c.mountpoint)
	case missing != "":
		// The disk went away under a mounted filesystem: it still must be
		// unmounted, and what is mounted here is the best guess of ours.
		o.warn("device", "%s; unmounting %s from %s anyway", missing, describeMount(m), c.mountpoint)
		dev = device{path: m.Source}
	}
	mp := m.Mountpoint
	t := target{dir: mp, dev: unix.Mkdev(uint32(m.Major), uint32(m.Minor))}
	var uerr error
	for attempt := 0; attempt < unmountAttempts; attempt++ {
		if c.killUsers {
			left, err := killHolders(ctx, req, t, c.killGrace)
			if err != nil {
				return ark.Result{}, fmt.Errorf("remove %s: %w", req.Tag, err)
			}
			if len(left) > 0 {
				return o.fail("cannot unmount %s: processes survived SIGKILL: %s", mp, describeHolders(left))
			}
		}
		uerr = unix.Unmount(mp, 0)
		if uerr == nil || !errors.Is(uerr, unix.EBUSY) {
			break
		}
		logf(req, slog.LevelWarn, "umount", "unmount %s: busy (attempt %d of %d)", mp, attempt+1, unmountAttempts)
		select {
		case <-ctx.Done():
			return ark.Result{}, fmt.Errorf("remove %s: unmount %s: %w", req.Tag, mp, ctx.Err())
		case <-time.After(unmountPause):
		}
	}
	switch {
	case uerr == nil:
		if ms, err := mounts(); err == nil && dev.rdev != 0 {
			if other := elsewhere(ms, dev, mp); len(other) > 0 {
				o.warn("mount", "%s is still mounted at %s", dev.path, strings.Join(other, ", "))
			}
		}
		return o.ok(slog.LevelInfo, "unmounted %s from %s", dev.path, mp)
	case errors.Is(uerr, unix.EINVAL) && !mountedAt(mp):
		return o.ok(slog.LevelInfo, "already unmounted: %s was unmounted from %s meanwhile", dev.path, mp)
	case !errors.Is(uerr, unix.EBUSY):
		return o.fail("unmount %s from %s failed: %v", dev.path, mp, describeErrno(uerr, nil))
	}

	hs, err := scanHolders(ctx, t)
	if err != nil {
		return ark.Result{}, fmt.Errorf("remove %s: %w", req.Tag, err)
	}
	closeHolders(hs)
	switch {
	case !c.killUsers && len(hs) > 0:
		return o.fail("cannot unmount %s: busy, used by %s; kill_users is off, so nothing was killed and it stays mounted", mp, describeHolders(hs))
	case !c.killUsers:
		return o.fail("cannot unmount %s: busy (no process has files on it: a mount below it, a loop device or an NFS export?); kill_users is off, so it stays mounted", mp)
	case len(hs) > 0:
		return o.fail("cannot unmount %s: still used by %s after they were killed", mp, describeHolders(hs))
	}
	// Nothing in user space holds it any more, yet the kernel does (a
	// mount below it, a loop device backed by a file on it, ...). Detach
	// it from the tree; the filesystem itself lives on until its last user
	// lets go, so whether the device is free decides success: another node
	// must not mount a device this one still writes to.
	if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil {
		return o.fail("cannot unmount %s: busy, and lazy unmount failed too: %v", mp, describeErrno(err, nil))
	}
	o.warn("lazy", "%s stayed busy with no process left using it: detached it lazily (umount -l)", mp)
	if dev.rdev == 0 {
		return o.fail("%s detached lazily from %s, but whether the device is still in use cannot be checked (device gone)", m.Source, mp)
	}
	if busy := deviceBusy(dev.path); busy != nil {
		return o.fail("%s detached lazily from %s, but the device is still in use: %v; do not mount it on another node until it is free", dev.path, mp, busy)
	}
	return o.ok(slog.LevelWarn, "unmounted %s from %s lazily; the device is free now", dev.path, mp)
}

// mountedAt reports whether anything is mounted at mp.
func mountedAt(mp string) bool {
	ms, err := mounts()
	return err != nil || mountAt(ms, mp) != nil
}

// deviceBusy tries an exclusive open of the block device: the kernel
// refuses it (EBUSY) while a filesystem on it is still alive anywhere.
func deviceBusy(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("exclusive open of %s: %s", path, describeErrno(err, nil))
	}
	unix.Close(fd)
	return nil
}

// QuickCheck checks that the filesystem is mounted at the mountpoint from
// the right device, with the options asked for (read-write above all),
// and, unless read-only, that a write probe finishes within
// probe_timeout. It changes nothing but the probe file, which it removes.
func (f *Filesystem) QuickCheck(ctx context.Context, req *ark.Request) (ark.Result, error) {
	o, c, err := begin(ctx, ark.QuickCheck, req)
	if err != nil {
		return ark.Result{}, err
	}
	dev, missing, err := resolveDevice(ctx, c.device)
	if err != nil {
		return ark.Result{}, fmt.Errorf("quickCheck %s: %w", req.Tag, err)
	}
	ms, err := mounts()
	if err != nil {
		return ark.Result{}, ark.Transient(fmt.Errorf("quickCheck %s: %w", req.Tag, err))
	}
	m := mountAt(ms, c.mountpoint)
	switch {
	case m == nil:
		return o.fail("%s is not mounted on %s", c.device, c.mountpoint)
	case missing != "":
		return o.fail("%s is mounted on %s, but %s", describeMount(m), c.mountpoint, missing)
	case !isFrom(m, dev):
		return o.fail("%s has %s mounted on it, not %s", c.mountpoint, describeMount(m), dev)
	}
	if diff := c.options.mismatch(m.Options, m.VFSOptions); len(diff) > 0 {
		return o.fail("%s is mounted on %s but %s (mount options %s; superblock %s)",
			dev.path, c.mountpoint, strings.Join(diff, ", "), m.Options, m.VFSOptions)
	}
	if c.options.readOnly() {
		return o.ok(slog.LevelDebug, "%s is mounted read-only on %s as configured", dev, c.mountpoint)
	}
	start := time.Now()
	if err := f.probes.check(ctx, m.Mountpoint, req.Tag, c.probeTimeout); err != nil {
		if ctx.Err() != nil {
			return ark.Result{}, fmt.Errorf("quickCheck %s: write probe in %s: %w", req.Tag, m.Mountpoint, ctx.Err())
		}
		return o.fail("%s on %s: %v", dev.path, c.mountpoint, err)
	}
	return o.ok(slog.LevelDebug, "%s is mounted on %s and takes writes (probe took %s)", dev, c.mountpoint,
		time.Since(start).Round(time.Microsecond))
}
