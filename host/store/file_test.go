package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ark-ha/ark/host/model"
	"golang.org/x/sys/unix"
)

// holdLockEnv makes the test binary a helper process that opens the store
// in the directory it names, prints "locked", and holds it until its
// stdin closes.
const holdLockEnv = "STORE_TEST_HOLD_LOCK"

func TestMain(m *testing.M) {
	if dir := os.Getenv(holdLockEnv); dir != "" {
		f, err := Open(dir, Options{Holder: "helper"})
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("locked")
		io.Copy(io.Discard, os.Stdin)
		f.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func open(t *testing.T, dir string) *File {
	t.Helper()
	f, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func apply(t *testing.T, f *File, op Op) {
	t.Helper()
	if err := f.Apply(context.Background(), op); err != nil {
		t.Fatal(err)
	}
}

// onDisk decodes dir's state.json as Open would.
func onDisk(t *testing.T, dir string) Data {
	t.Helper()
	d, err := load(filepath.Join(dir, StateFile))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// richOp defines a small hierarchy with statuses holding times with a
// monotonic reading and a non-UTC zone, and a kit.
func richOp() Op {
	now := time.Now().In(time.FixedZone("JST", 9*3600))
	s := model.Status{Target: model.Online, State: model.ISP, Node: "node1", Restarts: 1, Failures: 2,
		WindowStart: now.Add(-time.Hour), Since: now, Pid: 4321, Reason: "restored"}
	return Op{
		Define:     []*model.Resource{res("web-ip"), res("web-app", "web-ip"), {Tag: "bare", Type: "ip"}},
		Status:     map[string]model.Status{"web-ip": s, "web-app": s, "bare": {Target: model.Offline, State: model.OSU}},
		EnableKits: []model.Kit{kit("generic"), kit("ip")},
	}
}

func TestRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	f := open(t, dir)
	op := richOp()
	apply(t, f, op)
	before := f.Read()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	f = open(t, dir)
	after := f.Read()
	if !reflect.DeepEqual(after, before) {
		t.Errorf("after reopening:\n%+v\nbefore:\n%+v", after, before)
	}
	for _, r := range op.Define {
		got := after.Resources[r.Tag]
		if got == nil || !got.Same(r) || got.Pos != r.Pos {
			t.Errorf("resource %s: got %+v, want %+v", r.Tag, got, r)
		}
	}
	for tag, s := range op.Status {
		got := after.Status[tag]
		if !got.Since.Equal(s.Since) || !got.WindowStart.Equal(s.WindowStart) {
			t.Errorf("status %s times: got %v %v, want %v %v", tag, got.Since, got.WindowStart, s.Since, s.WindowStart)
		}
		got.Since, got.WindowStart, s.Since, s.WindowStart = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if got != s {
			t.Errorf("status %s: got %+v, want %+v", tag, got, s)
		}
	}

	for name, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, filepath.Join(dir, StateFile): 0o600, filepath.Join(dir, LockFile): 0o600} {
		if fi, err := os.Stat(name); err != nil || fi.Mode() != want {
			t.Errorf("%s: mode %v (%v), want %v", name, fi.Mode(), err, want)
		}
	}
}

func TestOpenEmpty(t *testing.T) {
	f := open(t, t.TempDir())
	d := f.Read()
	if d.Resources == nil || d.Status == nil || d.Kits == nil || len(d.Resources)+len(d.Status)+len(d.Kits) != 0 {
		t.Errorf("Read of a new store = %#v, want empty non-nil maps", d)
	}
}

func TestReadIsACopy(t *testing.T) {
	f := open(t, t.TempDir())
	apply(t, f, richOp())
	d := f.Read()
	d.Resources["web-ip"].Params["script"] = "changed"
	*d.Resources["web-ip"].RestartAttempts = 42
	delete(d.Status, "web-ip")
	d.Kits["x"] = kit("x")
	if got := f.Read(); !got.Resources["web-ip"].Same(res("web-ip")) || len(got.Status) != 3 || len(got.Kits) != 2 {
		t.Errorf("changing Read's result changed the store: %s", summary(got))
	}
}

func TestApplyRejects(t *testing.T) {
	dir := t.TempDir()
	f := open(t, dir)
	apply(t, f, richOp())
	want := f.Read()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		op   Op
		is   error
	}{
		{"invalid", context.Background(), Op{Status: map[string]model.Status{"nope": {}}}, ErrInvalid},
		{"cancelled", cancelled, Op{Undefine: []string{"web-ip"}}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := f.Apply(tt.ctx, tt.op); !errors.Is(err, tt.is) {
				t.Fatalf("Apply = %v, want %v", err, tt.is)
			}
			if got := f.Read(); !reflect.DeepEqual(got, want) {
				t.Errorf("a rejected op changed the state: %s", summary(got))
			}
			if got := onDisk(t, dir); !reflect.DeepEqual(got, want) {
				t.Errorf("a rejected op changed the file: %s", summary(got))
			}
		})
	}

	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Apply(context.Background(), Op{Undefine: []string{"web-ip"}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Apply after Close = %v, want ErrClosed", err)
	}
	if err := f.Flush(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close = %v, want ErrClosed", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestCorruptState(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    string // substring of Open's error after the file name
	}{
		{"truncated", "{\n\t\"version\": 1,\n\t\"resources\": {\n", "invalid JSON at line 4, column 1 (byte offset 33): unexpected end of JSON input"},
		{"bad character", "{\n\t\"version\": 1,\n\t\"resources\": {x}\n}\n", "invalid JSON at line 3, column 16"},
		{"wrong type", "{\"version\": 1,\n \"status\": []}", "invalid JSON at line 2, column 13"},
		{"empty file", "", "invalid JSON at line 1, column 1 (byte offset 0): unexpected end of JSON input"},
		{"trailing garbage", `{"version": 1} {}`, "invalid JSON at line 1, column 16"},
		{"future version", `{"version": 2}`, "format version 2, this program reads version 1"},
		{"no version", `{"resources": {}}`, "format version 0"},
		{"tag mismatch", `{"version": 1, "resources": {"a": {"tag": "b", "type": "ip"}}}`, `resource "b" is stored under the tag "a"`},
		{"null resource", `{"version": 1, "resources": {"a": null}}`, `resource "a" is null`},
		{"orphan status", `{"version": 1, "status": {"a": {"target": "ONLINE", "state": "ISP"}}}`, `status of "a": no such resource`},
		{"kit name mismatch", `{"version": 1, "kits": {"ip": {"name": "fs"}}}`, `kit "fs" is stored under the name "ip"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, StateFile)
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := Open(dir, Options{})
			if err == nil {
				f.Close()
				t.Fatal("Open of a bad state.json succeeded")
			}
			if !strings.HasPrefix(err.Error(), path+": ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open error:\n %v\nwant %s: ...%s...", err, path, tt.want)
			}
			if b, _ := os.ReadFile(path); string(b) != tt.content {
				t.Errorf("the bad file was changed to %q", b)
			}
			// The failed Open released the directory.
			os.Remove(path)
			open(t, dir)
		})
	}
}

func TestStaleTempsRemoved(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, ".state.json.123.tmp")
	other := filepath.Join(dir, "notes.tmp")
	for _, p := range []string{stale, other} {
		if err := os.WriteFile(p, []byte("{"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	open(t, dir)
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary file kept: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("unrelated file removed: %v", err)
	}
}

func TestLockInProcess(t *testing.T) {
	dir := t.TempDir()
	f := open(t, dir)
	_, err := Open(dir, Options{})
	want := fmt.Sprintf("state dir %s is in use by arkd pid %d", dir, os.Getpid())
	if !errors.Is(err, ErrLocked) || err.Error() != want {
		t.Fatalf("second Open = %v, want %q wrapping ErrLocked", err, want)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	g := open(t, dir)
	g.Close()
	if b, _ := os.ReadFile(filepath.Join(dir, LockFile)); len(b) != 0 {
		t.Errorf("lock file after Close holds %q, want it empty", b)
	}
}

// TestLockRecordUnknown: a holder that has not written its pid yet (or
// wrote something else) is still named as a holder.
func TestLockRecordUnknown(t *testing.T) {
	for _, record := range []string{"", "garbage", "0 arkd", "12 "} {
		dir := t.TempDir()
		path := filepath.Join(dir, LockFile)
		if err := os.WriteFile(path, []byte(record), 0o600); err != nil {
			t.Fatal(err)
		}
		lf, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX); err != nil {
			t.Fatal(err)
		}
		_, err = Open(dir, Options{})
		want := "state dir " + dir + " is in use by another process"
		if !errors.Is(err, ErrLocked) || err.Error() != want {
			t.Errorf("record %q: Open = %v, want %q", record, err, want)
		}
		lf.Close()
	}
}

// TestLockOtherProcess holds the directory in a child process (this test
// binary, re-executed) and checks that Open fails naming the child, and
// succeeds once the child let go, whether it closed the store or was
// killed.
func TestLockOtherProcess(t *testing.T) {
	tests := []struct {
		name string
		end  func(cmd *exec.Cmd, stdin io.Closer) // make the child let go
	}{
		{"child closes", func(_ *exec.Cmd, stdin io.Closer) { stdin.Close() }},
		{"child killed", func(cmd *exec.Cmd, _ io.Closer) { cmd.Process.Kill() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			// GORACE: a race-enabled child otherwise lingers a second at exit.
			cmd.Env = append(os.Environ(), holdLockEnv+"="+dir, "GORACE=atexit_sleep_ms=0")
			cmd.Stderr = os.Stderr
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				cmd.Process.Kill()
				cmd.Wait()
			})
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if line != "locked\n" {
				t.Fatalf("helper said %q (%v)", line, err)
			}

			_, err = Open(dir, Options{})
			want := fmt.Sprintf("state dir %s is in use by helper pid %d", dir, cmd.Process.Pid)
			if !errors.Is(err, ErrLocked) || err.Error() != want {
				t.Fatalf("Open = %v, want %q wrapping ErrLocked", err, want)
			}

			tt.end(cmd, stdin)
			cmd.Wait()
			f, err := Open(dir, Options{})
			if err != nil {
				t.Fatalf("Open after the holder let go: %v", err)
			}
			f.Close()
		})
	}
}

func TestConcurrentApplyRead(t *testing.T) {
	dir := t.TempDir()
	f := open(t, dir)
	const writers, each = 8, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				tag := fmt.Sprintf("r%d-%d", w, i)
				if err := f.Apply(context.Background(), Op{
					Define: []*model.Resource{res(tag)},
					Status: map[string]model.Status{tag: st(model.OSU)},
				}); err != nil {
					t.Error(err)
				}
			}
		})
		wg.Go(func() {
			for range each {
				d := f.Read()
				for tag := range d.Status {
					if d.Resources[tag] == nil {
						t.Errorf("Read saw the status of %s without its definition", tag)
					}
				}
			}
		})
	}
	wg.Wait()
	want := f.Read()
	if len(want.Resources) != writers*each || len(want.Status) != writers*each {
		t.Fatalf("after all Applies: %d resources, %d statuses", len(want.Resources), len(want.Status))
	}
	if got := onDisk(t, dir); !reflect.DeepEqual(got, want) {
		t.Errorf("state.json holds %d resources, memory %d", len(got.Resources), len(want.Resources))
	}
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory, unmounted
// when the test ends; it skips the test when it cannot mount (not root).
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: mounting a small tmpfs to fill it needs root")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.Itoa(size)+",mode=0700"); err != nil {
		t.Skipf("skipped: cannot mount a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
			unix.Unmount(dir, unix.MNT_DETACH)
		}
	})
	return dir
}

// fillDisk writes to dir/filler until the file system is full.
func fillDisk(t *testing.T, dir string) {
	t.Helper()
	fl, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := fl.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// TestNotDurable breaks the disk for real under a store: the change is
// kept in memory, the error says so and names the file, state.json still
// holds the last durable state, and once the disk is back Flush (or the
// next Apply) writes.
func TestNotDurable(t *testing.T) {
	tests := []struct {
		name  string
		cause error
		// breakDisk makes dir unwritable and returns what repairs it.
		breakDisk func(t *testing.T, dir string) (repair func())
		// repaired makes the store durable again once the disk is back.
		repaired func(f *File) error
	}{
		{
			name:  "disk full, Flush",
			cause: syscall.ENOSPC,
			breakDisk: func(t *testing.T, dir string) func() {
				fillDisk(t, dir)
				return func() { os.Remove(filepath.Join(dir, "filler")) }
			},
			repaired: func(f *File) error { return f.Flush(context.Background()) },
		},
		{
			name:  "disk full, next Apply",
			cause: syscall.ENOSPC,
			breakDisk: func(t *testing.T, dir string) func() {
				fillDisk(t, dir)
				return func() { os.Remove(filepath.Join(dir, "filler")) }
			},
			repaired: func(f *File) error {
				return f.Apply(context.Background(), Op{Status: map[string]model.Status{"web-ip": st(model.ISU)}})
			},
		},
		{
			name:  "read-only file system",
			cause: syscall.EROFS,
			breakDisk: func(t *testing.T, dir string) func() {
				// A read-only bind mount over the directory: the store's
				// open lock file stays on the writable mount below.
				if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
					t.Fatal(err)
				}
				var once sync.Once
				unmount := func() { once.Do(func() { unix.Unmount(dir, 0) }) }
				t.Cleanup(unmount)
				if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
					t.Fatal(err)
				}
				return unmount
			},
			repaired: func(f *File) error { return f.Flush(context.Background()) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := mountTmpfs(t, 64<<10)
			f := open(t, dir)
			apply(t, f, richOp())
			durable := f.Read()

			repair := tt.breakDisk(t, dir)
			err := f.Apply(context.Background(), Op{Undefine: []string{"bare"}, Define: []*model.Resource{res("big")}})
			if !errors.Is(err, ErrNotDurable) || !errors.Is(err, tt.cause) || !strings.Contains(err.Error(), filepath.Join(dir, StateFile)) {
				t.Fatalf("Apply on a broken disk = %v, want ErrNotDurable and %v naming state.json", err, tt.cause)
			}
			t.Logf("Apply: %v", err)
			inMemory := f.Read()
			if inMemory.Resources["big"] == nil || inMemory.Resources["bare"] != nil {
				t.Fatalf("the change is not kept in memory: %s", summary(inMemory))
			}
			if err := f.Flush(context.Background()); !errors.Is(err, ErrNotDurable) {
				t.Fatalf("Flush on a broken disk = %v", err)
			}
			checkFiles(t, dir, durable)

			repair()
			if err := tt.repaired(f); err != nil {
				t.Fatalf("once repaired: %v", err)
			}
			want := f.Read()
			checkFiles(t, dir, want)
			if err := f.Flush(context.Background()); err != nil {
				t.Errorf("Flush with nothing pending = %v", err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if got := open(t, dir).Read(); !reflect.DeepEqual(got, want) {
				t.Errorf("after reopening: %s, want %s", summary(got), summary(want))
			}
		})
	}
}

// checkFiles checks that dir's state.json decodes to want and that no
// temporary file was left behind.
func checkFiles(t *testing.T, dir string, want Data) {
	t.Helper()
	if got := onDisk(t, dir); !reflect.DeepEqual(got, want) {
		t.Errorf("state.json holds %s, want %s", summary(got), summary(want))
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(tmps) != 0 {
		t.Errorf("temporary files left: %v", tmps)
	}
}

// TestCloseReportsLoss: Close tries once more and says when changes are
// lost.
func TestCloseReportsLoss(t *testing.T) {
	dir := mountTmpfs(t, 64<<10)
	f, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	apply(t, f, richOp())
	fillDisk(t, dir)
	if err := f.Apply(context.Background(), Op{Undefine: []string{"bare"}}); !errors.Is(err, ErrNotDurable) {
		t.Fatalf("Apply = %v", err)
	}
	if err := f.Close(); !errors.Is(err, ErrNotDurable) {
		t.Errorf("Close with a pending change on a full disk = %v, want ErrNotDurable", err)
	}
	// The lock is released all the same.
	g, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if g.Read().Resources["bare"] == nil {
		t.Error("the change that was never written is on disk")
	}
	g.Close()
}
