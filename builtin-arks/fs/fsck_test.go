package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ark-ha/ark/sdk/ark"
)

// fakeFsck installs an fsck.<name> script in a directory put first in
// PATH for the test.
func fakeFsck(t *testing.T, name, script string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fsck."+name), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
}

// gone reports whether pid has exited (no such process, or a zombie).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z'
}

// TestFsckStops: a hanging fsck, and the checker it started, are stopped
// when the context ends and when fsck_timeout passes.
func TestFsckStops(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ctx     time.Duration
		timeout time.Duration
	}{
		{"context ends", 200 * time.Millisecond, 0},
		{"fsck_timeout", time.Minute, 200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pidfile := filepath.Join(t.TempDir(), "pid")
			// The checker is a child, as fsck(8) starts fsck.<type>.
			fakeFsck(t, "arkslow", "sleep 1000 & echo $! > "+pidfile+"\nwait\n")
			ctx, cancel := context.WithTimeout(context.Background(), tc.ctx)
			defer cancel()
			out, err := runFsck(ctx, nil, "arkslow", "/dev/null", tc.timeout)
			if tc.timeout == 0 {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("runFsck after its context ended: %v, %+v; want a deadline error", err, out)
				}
			} else if err != nil || !out.timedOut || out.ok() {
				t.Fatalf("runFsck past fsck_timeout: %v, %+v; want timedOut and not ok", err, out)
			}
			b, err := os.ReadFile(pidfile)
			if err != nil {
				t.Fatal(err)
			}
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			deadline := time.Now().Add(5 * time.Second)
			for !gone(pid) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if !gone(pid) {
				t.Errorf("the checker's child %d survived the stop", pid)
			}
		})
	}
}

func TestFsckExitStatus(t *testing.T) {
	for _, tc := range []struct {
		exit    int
		ok      bool
		meaning string
	}{
		{0, true, "no errors"},
		{1, true, "errors corrected"},
		{2, false, "reboot suggested"},
		{4, false, "errors left uncorrected"},
		{12, false, "errors left uncorrected, operational error"},
	} {
		fakeFsck(t, "arkexit", "echo line one\necho checking $1\nexit "+strconv.Itoa(tc.exit)+"\n")
		out, err := runFsck(context.Background(), nil, "arkexit", "/dev/arkdisk", 0)
		if err != nil {
			t.Fatal(err)
		}
		if out.status != tc.exit || out.ok() != tc.ok || out.meaning() != tc.meaning {
			t.Errorf("exit %d: status %d ok %t meaning %q; want ok %t meaning %q", tc.exit, out.status, out.ok(), out.meaning(), tc.ok, tc.meaning)
		}
		if got := out.lastLines(1); got != "checking -a" {
			t.Errorf("lastLines(1) = %q", got)
		}
	}
	if _, err := runFsck(context.Background(), nil, "arknosuch", "/dev/arkdisk", 0); !errors.Is(err, ark.ErrNotInstalled) || !strings.Contains(err.Error(), "fsck.arknosuch") {
		t.Errorf("missing checker: %v, want a not-installed error naming fsck.arknosuch", err)
	}
}
