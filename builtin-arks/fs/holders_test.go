package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ark-ha/ark/builtin-arks/internal/systest"
)

func TestParseMapsDev(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"07:00", unix.Mkdev(7, 0), true},
		{"fd:01", unix.Mkdev(253, 1), true},
		{"103:0a", unix.Mkdev(0x103, 10), true},
		{"00:00", 0, true},
		{"0700", 0, false},
		{"zz:01", 0, false},
	} {
		got, ok := parseMapsDev(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseMapsDev(%q) = %d, %t; want %d, %t", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestPathUnder(t *testing.T) {
	tg := target{dir: "/mnt/data"}
	for p, want := range map[string]bool{
		"/mnt/data":                 true,
		"/mnt/data/x/y":             true,
		"/mnt/data/log (deleted)":   true,
		"/mnt/database":             false,
		"/mnt":                      false,
		"socket:[1234]":             false,
		"/mnt/data2/file (deleted)": false,
	} {
		if got := tg.pathUnder(p); got != want {
			t.Errorf("pathUnder(%q) = %t, want %t", p, got, want)
		}
	}
}

// scanFor scans for holders of dir by path only (dev 0 matches no
// filesystem) and returns what each of pids is found to hold.
func scanFor(t *testing.T, dir string) map[int]string {
	t.Helper()
	hs, err := scanHolders(context.Background(), target{dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	closeHolders(hs)
	out := map[int]string{}
	for _, h := range hs {
		out[h.pid] = h.comm + ": " + h.why
	}
	return out
}

// TestScanHolders starts real processes that use a temporary directory
// in each way the scan knows and checks that it finds each of them, and
// nothing once they are gone. It needs no root: the processes are ours.
func TestScanHolders(t *testing.T) {
	dir := t.TempDir()
	elsewhere := t.TempDir()
	cwd := systest.Start(t, dir, "sleep", "1000")
	fd := systest.Start(t, elsewhere, "sh", "-c", "exec 3>"+filepath.Join(dir, "file")+"; exec sleep 1000")
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	mine := filepath.Join(dir, "mysleep")
	if err := os.WriteFile(mine, b, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := systest.Start(t, elsewhere, mine, "1000")
	bystander := systest.Start(t, elsewhere, "sleep", "1000")
	want := map[int]string{cwd.Pid: "cwd " + dir, fd.Pid: "fd 3 " + filepath.Join(dir, "file"), exe.Pid: "exe " + mine}
	if py, err := exec.LookPath("python3"); err == nil {
		lib := filepath.Join(dir, "mapped")
		if err := os.WriteFile(lib, make([]byte, 4096), 0o644); err != nil {
			t.Fatal(err)
		}
		mm := systest.Start(t, elsewhere, py, "-c",
			// libc's mmap through ctypes: Python's mmap module keeps a
			// duplicate of the fd, and the point is a mapping without one.
			"import ctypes,os,time\nc=ctypes.CDLL(None,use_errno=True)\nc.mmap.restype=ctypes.c_void_p\n"+
				"c.mmap.argtypes=[ctypes.c_void_p,ctypes.c_size_t,ctypes.c_int,ctypes.c_int,ctypes.c_int,ctypes.c_long]\n"+
				"f=os.open('"+lib+"',os.O_RDONLY)\nassert c.mmap(None,4096,1,1,f,0) not in (None,2**64-1)\nos.close(f)\ntime.sleep(1000)")
		want[mm.Pid] = "mmap " + lib
	} else {
		t.Log("python3 not found: the memory-mapping case is not tested")
	}

	var got map[int]string
	// Give the shells time to open their files and exec.
	for deadline := time.Now().Add(10 * time.Second); ; {
		got = scanFor(t, dir)
		complete := true
		for pid, w := range want {
			if !strings.HasSuffix(got[pid], w) {
				complete = false
			}
		}
		if complete || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for pid, w := range want {
		if !strings.HasSuffix(got[pid], w) {
			t.Errorf("pid %d: found %q, want it to hold %q (all found: %v)", pid, got[pid], w, got)
		}
	}
	if _, ok := got[os.Getpid()]; ok {
		t.Errorf("the scan listed its own process")
	}
	if w, ok := got[bystander.Pid]; ok {
		t.Errorf("pid %d, which uses only %s, was listed as holding %s: %s", bystander.Pid, elsewhere, dir, w)
	}
}
