package main

import (
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseOptions(t *testing.T) {
	for _, tc := range []struct {
		in    string
		flags uintptr
		data  string
		want  map[string]bool
		err   string
	}{
		{in: "", want: map[string]bool{}},
		{in: "defaults", want: map[string]bool{}},
		{in: "ro", flags: unix.MS_RDONLY, want: map[string]bool{"ro": true}},
		{in: "ro,rw", want: map[string]bool{"ro": false}},
		{in: "rw,ro", flags: unix.MS_RDONLY, want: map[string]bool{"ro": true}},
		{in: "noatime,nodev,nosuid,noexec", flags: unix.MS_NOATIME | unix.MS_NODEV | unix.MS_NOSUID | unix.MS_NOEXEC,
			want: map[string]bool{"noatime": true, "nodev": true, "nosuid": true, "noexec": true}},
		{in: "noexec,exec", want: map[string]bool{"noexec": false}},
		{in: "sync,dirsync", flags: unix.MS_SYNCHRONOUS | unix.MS_DIRSYNC, want: map[string]bool{"sync": true, "dirsync": true}},
		{in: "strictatime,lazytime", flags: unix.MS_STRICTATIME | unix.MS_LAZYTIME, want: map[string]bool{"lazytime": true}},
		{in: "errors=remount-ro,data=ordered", data: "errors=remount-ro,data=ordered", want: map[string]bool{}},
		{in: " noatime , commit=5 ,", flags: unix.MS_NOATIME, data: "commit=5", want: map[string]bool{"noatime": true}},
		{in: "defaults,nofail,_netdev,x-systemd.automount,comment=foo,noauto", want: map[string]bool{}},
		{in: "uid=1000,ro", flags: unix.MS_RDONLY, data: "uid=1000", want: map[string]bool{"ro": true}},
		{in: "bind", err: `"bind"`},
		{in: "remount,ro", err: `"remount"`},
		{in: "loop=/dev/loop0", err: "loop device"},
		{in: "make-private", err: "propagation"},
		{in: "rshared", err: "propagation"},
		{in: "offset=1024", err: "loop device"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			o, err := parseOptions(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseOptions(%q) error %v, want one containing %q", tc.in, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseOptions(%q): %v", tc.in, err)
			}
			if o.flags != tc.flags || o.data != tc.data || !reflect.DeepEqual(o.want, tc.want) {
				t.Fatalf("parseOptions(%q) = flags %#x data %q want %v; expected flags %#x data %q want %v",
					tc.in, o.flags, o.data, o.want, tc.flags, tc.data, tc.want)
			}
		})
	}
}

func TestMismatch(t *testing.T) {
	for _, tc := range []struct {
		options, mountOpts, superOpts string
		want                          []string
	}{
		{"", "rw,relatime", "rw", nil},
		{"", "ro,relatime", "ro", []string{"read-only (wanted rw)"}},
		// ext4 errors=remount-ro turns the superblock read-only; the mount
		// itself still says rw.
		{"", "rw,relatime", "ro,errors=remount-ro", []string{"read-only (wanted rw)"}},
		{"ro", "rw,relatime", "rw", []string{"read-write (wanted ro)"}},
		{"ro", "ro,relatime", "ro", nil},
		{"noexec,nodev", "rw,nodev,relatime", "rw", []string{"without noexec (wanted noexec)"}},
		{"exec", "rw,noexec,relatime", "rw", []string{"with noexec (wanted it off)"}},
		{"sync", "rw,relatime", "rw,sync", nil},
		{"noatime,errors=panic", "rw,noatime", "rw", nil},
	} {
		o, err := parseOptions(tc.options)
		if err != nil {
			t.Fatal(err)
		}
		if got := o.mismatch(tc.mountOpts, tc.superOpts); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("options %q vs mount %q super %q: %q, want %q", tc.options, tc.mountOpts, tc.superOpts, got, tc.want)
		}
	}
}
