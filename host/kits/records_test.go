//go:build linux

package kits

import (
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sleeper starts a process the test owns, standing for a plugin: sleep(1),
// or a copy of it at copyTo deleted once it runs (its /proc/PID/exe then
// ends in " (deleted)").
func sleeper(t *testing.T, copyTo string) *exec.Cmd {
	t.Helper()
	bin, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep(1)")
	}
	if copyTo != "" {
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(copyTo, b, 0o755); err != nil {
			t.Fatal(err)
		}
		bin = copyTo
	}
	cmd := exec.Command(bin, "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if copyTo != "" {
		if err := os.Remove(copyTo); err != nil {
			t.Fatal(err)
		}
	}
	return cmd
}

func TestReapOrphans(t *testing.T) {
	tests := []struct {
		name     string
		replaced bool // the binary was deleted after the process started
		tamper   func(*record)
		killed   bool
	}{
		{"recorded plugin", false, func(*record) {}, true},
		{"binary replaced since", true, func(*record) {}, true},
		{"pid reused (other start time)", false, func(r *record) { r.StartTime++ }, false},
		{"other executable", false, func(r *record) { r.Exe = "/usr/lib/ark/ark-ip" }, false},
		{"record of another boot", false, func(r *record) { r.BootID = "00000000-0000-0000-0000-000000000000" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			copyTo := ""
			if tt.replaced {
				copyTo = filepath.Join(t.TempDir(), "sleep")
			}
			cmd := sleeper(t, copyTo)
			pid := cmd.Process.Pid
			rec := newRecord("sleep", cmd.Path, pid, time.Now())
			if rec.StartTime == 0 || rec.Exe == "" {
				t.Fatalf("record without identity: %+v", rec)
			}
			if tt.replaced {
				// The record was made when the binary was still there.
				rec.Exe = strings.TrimSuffix(rec.Exe, " (deleted)")
			}
			tt.tamper(&rec)
			state := t.TempDir()
			dir := filepath.Join(state, "plugins")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := (records{dir: dir}).write(rec); err != nil {
				t.Fatal(err)
			}
			m, err := New(Config{StateDir: state, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Stop(t.Context())

			if !tt.killed {
				if err := syscall.Kill(pid, 0); err != nil {
					t.Fatalf("process %d was signalled or is gone: %v", pid, err)
				}
				if st := processState(pid); st == "Z" {
					t.Fatalf("process %d was killed", pid)
				}
			} else {
				err := cmd.Wait()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
					t.Fatalf("orphan ended with %v, want SIGTERM", err)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "sleep.pid")); !os.IsNotExist(err) {
				t.Errorf("record not removed: %v", err)
			}
		})
	}
}

func TestReapOrphansJunk(t *testing.T) {
	state := t.TempDir()
	dir := filepath.Join(state, "plugins")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"bad.pid":              "{not json",
		"zero.pid":             `{"kit":"zero","pid":0}`,
		".x.pid.tmp123":        `{"kit":"x","pid":1}`,
		"gone.pid":             `{"kit":"gone","pid":999999999,"start_time":1,"exe":"/bin/x"}`,
		"init.pid":             `{"kit":"init","pid":1,"start_time":123456789,"exe":"/sbin/init"}`,
		"unrelated-file.other": "kept",
	}
	for name, s := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	killed := (records{dir: dir}).reapOrphans(slog.New(slog.DiscardHandler), time.Second)
	if len(killed) != 0 {
		t.Errorf("killed %+v", killed)
	}
	ents, _ := os.ReadDir(dir)
	var left []string
	for _, e := range ents {
		left = append(left, e.Name())
	}
	if strings.Join(left, ",") != "unrelated-file.other" {
		t.Errorf("left in the record dir: %v", left)
	}
}

func TestRecordWriteRemove(t *testing.T) {
	r := records{dir: t.TempDir()}
	rec := newRecord("k", "/bin/k", os.Getpid(), time.Now())
	if err := r.write(rec); err != nil {
		t.Fatal(err)
	}
	rec.Pid = 1
	if err := r.write(rec); err != nil { // overwrite
		t.Fatal(err)
	}
	if err := r.remove("k", 2); err != nil { // names another pid: kept
		t.Fatal(err)
	}
	if _, err := os.Stat(r.file("k")); err != nil {
		t.Fatalf("record of pid 1 removed by a remove for pid 2: %v", err)
	}
	if err := r.remove("k", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(r.file("k")); !os.IsNotExist(err) {
		t.Fatalf("record still there: %v", err)
	}
	if err := r.remove("k", 0); err != nil {
		t.Errorf("remove of a missing record: %v", err)
	}
	ents, _ := os.ReadDir(r.dir)
	if len(ents) != 0 {
		t.Errorf("temporary files left: %v", ents)
	}
}

func processState(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+3 > len(s) {
		return ""
	}
	return s[i+2 : i+3]
}
