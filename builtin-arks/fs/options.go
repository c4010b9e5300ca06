package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// mountOptions is the options parameter taken apart the way mount(8) does
// it: the generic options become MS_* flags for mount(2), the rest are the
// filesystem's own and go to it verbatim as the data string.
type mountOptions struct {
	flags uintptr
	data  string
	// want lists what quickCheck can verify in /proc/self/mountinfo: each
	// option the admin asked for, and whether it must show there (nodev)
	// or must not (dev: the kernel shows only the "no" form). The last
	// word on an option wins, as with mount(8).
	want map[string]bool
}

// flagOption is a generic mount option: the MS_* bit it sets (or clears,
// when clear is true), and the word /proc/self/mountinfo uses for the bit
// ("" when the kernel does not show it).
type flagOption struct {
	bit   uintptr
	clear bool
	shows string
}

// flagOptions are mount(8)'s filesystem-independent options.
var flagOptions = map[string]flagOption{
	"ro":          {unix.MS_RDONLY, false, "ro"},
	"rw":          {unix.MS_RDONLY, true, "ro"},
	"nosuid":      {unix.MS_NOSUID, false, "nosuid"},
	"suid":        {unix.MS_NOSUID, true, "nosuid"},
	"nodev":       {unix.MS_NODEV, false, "nodev"},
	"dev":         {unix.MS_NODEV, true, "nodev"},
	"noexec":      {unix.MS_NOEXEC, false, "noexec"},
	"exec":        {unix.MS_NOEXEC, true, "noexec"},
	"sync":        {unix.MS_SYNCHRONOUS, false, "sync"},
	"async":       {unix.MS_SYNCHRONOUS, true, "sync"},
	"dirsync":     {unix.MS_DIRSYNC, false, "dirsync"},
	"noatime":     {unix.MS_NOATIME, false, "noatime"},
	"atime":       {unix.MS_NOATIME, true, "noatime"},
	"nodiratime":  {unix.MS_NODIRATIME, false, "nodiratime"},
	"diratime":    {unix.MS_NODIRATIME, true, "nodiratime"},
	"relatime":    {unix.MS_RELATIME, false, "relatime"},
	"norelatime":  {unix.MS_RELATIME, true, ""},
	"strictatime": {unix.MS_STRICTATIME, false, ""},
	"lazytime":    {unix.MS_LAZYTIME, false, "lazytime"},
	"nolazytime":  {unix.MS_LAZYTIME, true, "lazytime"},
	"nosymfollow": {unix.MS_NOSYMFOLLOW, false, "nosymfollow"},
	"symfollow":   {unix.MS_NOSYMFOLLOW, true, "nosymfollow"},
	"mand":        {unix.MS_MANDLOCK, false, ""},
	"nomand":      {unix.MS_MANDLOCK, true, ""},
	"silent":      {unix.MS_SILENT, false, ""},
	"loud":        {unix.MS_SILENT, true, ""},
}

// userspaceOptions mean something to mount(8) or to fstab readers only;
// the kernel would reject them, so they are dropped.
var userspaceOptions = map[string]bool{
	"defaults": true, "auto": true, "noauto": true, "user": true, "nouser": true,
	"users": true, "owner": true, "group": true, "nofail": true, "_netdev": true,
}

// refusedOptions change what kind of mount this is, or ask mount(8) to
// set things up first; the kit mounts one block device, so they are
// configuration errors.
var refusedOptions = map[string]string{
	"remount":     "the kit mounts, it does not remount",
	"bind":        "the kit mounts a device, not a bind mount",
	"rbind":       "the kit mounts a device, not a bind mount",
	"move":        "the kit mounts a device, it does not move mounts",
	"loop":        "set up the loop device yourself and give it as device",
	"shared":      "mount propagation is not set by the kit",
	"private":     "mount propagation is not set by the kit",
	"slave":       "mount propagation is not set by the kit",
	"unbindable":  "mount propagation is not set by the kit",
	"rshared":     "mount propagation is not set by the kit",
	"rprivate":    "mount propagation is not set by the kit",
	"rslave":      "mount propagation is not set by the kit",
	"runbindable": "mount propagation is not set by the kit",
}

// parseOptions parses a comma-separated mount option list ("" = defaults).
// Errors name the offending option.
func parseOptions(s string) (mountOptions, error) {
	o := mountOptions{want: map[string]bool{}}
	var data []string
	for _, opt := range strings.Split(s, ",") {
		opt = strings.TrimSpace(opt)
		name, _, _ := strings.Cut(opt, "=")
		switch {
		case opt == "":
			continue
		case userspaceOptions[opt] || strings.HasPrefix(opt, "x-") || strings.HasPrefix(opt, "comment="):
			continue
		case refusedOptions[name] != "":
			return o, fmt.Errorf("mount option %q: %s", opt, refusedOptions[name])
		case strings.HasPrefix(name, "make-"):
			return o, fmt.Errorf("mount option %q: mount propagation is not set by the kit", opt)
		case name == "offset" || name == "sizelimit" || name == "encryption":
			return o, fmt.Errorf("mount option %q: set up the loop device yourself and give it as device", opt)
		}
		if f, ok := flagOptions[opt]; ok {
			if f.clear {
				o.flags &^= f.bit
			} else {
				o.flags |= f.bit
			}
			if f.shows != "" {
				o.want[f.shows] = !f.clear
			}
			continue
		}
		data = append(data, opt)
	}
	o.data = strings.Join(data, ",")
	return o, nil
}

// readOnly reports whether the options ask for a read-only mount.
func (o mountOptions) readOnly() bool { return o.flags&unix.MS_RDONLY != 0 }

// mismatch compares the options of a mount (per-mount and superblock
// options from /proc/self/mountinfo, comma-separated) with what was asked
// for and describes each difference, e.g. "read-only (wanted rw)".
// Read-write is always checked: a filesystem the kernel turned read-only
// after an error is the failure quickCheck exists to catch. The
// filesystem's own (data) options are not compared: each filesystem shows
// them its own way.
func (o mountOptions) mismatch(mountOpts, superOpts string) []string {
	have := map[string]bool{}
	for _, s := range []string{mountOpts, superOpts} {
		for _, w := range strings.Split(s, ",") {
			have[w] = true
		}
	}
	var out []string
	if ro := have["ro"]; ro != o.readOnly() {
		if ro {
			out = append(out, "read-only (wanted rw)")
		} else {
			out = append(out, "read-write (wanted ro)")
		}
	}
	for _, w := range slices.Sorted(maps.Keys(o.want)) {
		if w == "ro" {
			continue
		}
		switch want := o.want[w]; {
		case want && !have[w]:
			out = append(out, fmt.Sprintf("without %s (wanted %s)", w, w))
		case !want && have[w]:
			out = append(out, fmt.Sprintf("with %s (wanted it off)", w))
		}
	}
	return out
}
