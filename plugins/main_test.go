package plugins_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	binDir   string
	binOnce  sync.Once
	binPath  string
	binError error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ark-plugins-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testPlugin returns the path of the testplugin binary (the fake resource
// type served by sdk.Serve), building it on first use.
func testPlugin(tb testing.TB) string {
	tb.Helper()
	binOnce.Do(func() {
		gobin, err := exec.LookPath("go")
		if err != nil {
			binError = fmt.Errorf("no go tool to build the test plugin: %w", err)
			return
		}
		binPath = filepath.Join(binDir, "ark-testplugin")
		out, err := exec.Command(gobin, "build", "-o", binPath, "./internal/testplugin").CombinedOutput()
		if err != nil {
			binError = fmt.Errorf("build test plugin: %v\n%s", err, out)
		}
	})
	if binError != nil {
		tb.Fatal(binError)
	}
	return binPath
}
