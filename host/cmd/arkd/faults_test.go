package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// simpleWeb defines web-app (bash) on top of web-svc (Lua), both the
// example echo service, and returns their addresses.
func simpleWeb(t *testing.T, n *node) (appAddr, svcAddr string) {
	t.Helper()
	repo, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	appAddr, svcAddr = freePort(t), freePort(t)
	defs := filepath.Join(n.dir, "web.yaml")
	writeFile(t, defs, fmt.Sprintf(`resources:
  - tag: web-app
    type: generic
    depends_on: [web-svc]
    params: {dir: %[1]s/examples/bash, addr: "%[2]s", pidfile: %[3]s/app.pid}
  - tag: web-svc
    type: generic
    params: {dir: %[1]s/examples/lua, addr: "%[4]s", pidfile: %[3]s/svc.pid}
`, repo, appAddr, n.dir, svcAddr))
	t.Cleanup(func() {
		for _, addr := range []string{appAddr, svcAddr} {
			for _, p := range servers(addr) {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
		}
	})
	n.must("define", "-f", defs)
	return appAddr, svcAddr
}

// TestConcurrentStartStop tries to start a second instance by racing
// start and stop commands on overlapping hierarchies (CAA 8.4.3): at no
// moment may two copies of a service run, and the end state must match
// what runs.
func TestConcurrentStartStop(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (the control socket is root only); CI runs it as root")
	}
	n := newNode(t)
	n.start()
	appAddr, svcAddr := simpleWeb(t, n)

	stop := make(chan struct{})
	var worst sync.Map
	var watcher sync.WaitGroup
	watcher.Add(1)
	go func() {
		defer watcher.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, addr := range []string{appAddr, svcAddr} {
				if c := len(servers(addr)); c > 1 {
					worst.Store(addr, c)
				}
			}
		}
	}()
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch i % 3 {
			case 0:
				n.arkctl("start", "web-app")
			case 1:
				n.arkctl("stop", "web-svc")
			default:
				n.arkctl("start", "web-svc")
			}
		}()
	}
	wg.Wait()
	close(stop)
	watcher.Wait()
	worst.Range(func(k, v any) bool {
		t.Errorf("%v copies of the service on %s at once", v, k)
		return true
	})
	for tag, addr := range map[string]string{"web-app": appAddr, "web-svc": svcAddr} {
		st := n.status(tag)
		want := 0
		if st.State == "ISP" {
			want = 1
		}
		if got := len(servers(addr)); got != want {
			t.Errorf("%s is %s but %d copies run", tag, st.State, got)
		}
	}
}

// TestBadRequests sends what a broken or hostile client might: the
// daemon answers with an error and carries on.
func TestBadRequests(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (the control socket is root only); CI runs it as root")
	}
	n := newNode(t)
	n.start()
	simpleWeb(t, n)

	// Not HTTP at all.
	c, err := net.Dial("unix", n.socket)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(c, "\x00\x01garbage\r\n\r\n")
	_, _ = io.ReadAll(c)
	c.Close()

	client := &http.Client{Transport: &http.Transport{Dial: func(_, _ string) (net.Conn, error) {
		return net.Dial("unix", n.socket)
	}}}
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/v1/start", "{not json"},
		{"POST", "/v1/start", `{"tag": "web-app", "surprise": 1}`},
		{"POST", "/v1/start", `{"tag": "nope"}`},
		{"POST", "/v1/define", `{"mode": "sideways", "file": "x", "data": ""}`},
		{"POST", "/v1/kit", `{"op": "explode", "name": "generic"}`},
		{"GET", "/v1/events?since=yesterday", ""},
		{"GET", "/v1/nothing-here", ""},
	} {
		req, _ := http.NewRequest(r.method, "http://arkd"+r.path, strings.NewReader(r.body))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", r.method, r.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 4 {
			t.Errorf("%s %s %q: %s %s, want a 4xx error", r.method, r.path, r.body, resp.Status, body)
		}
	}

	// A bad definition file: the errors name file and line, and nothing
	// changes.
	bad := filepath.Join(n.dir, "bad.yaml")
	writeFile(t, bad, "resources:\n  - tag: x\n    type: generic\n    intreval: 5s\n")
	_, errOut, code := n.arkctl("define", "-f", bad)
	if code != 2 || !strings.Contains(errOut, bad+":4:") || !strings.Contains(errOut, "did you mean interval") {
		t.Errorf("define of a bad file: exit %d, stderr %q; want exit 2 and %s:4: with a suggestion", code, errOut, bad)
	}
	if _, _, code := n.arkctl("status", "x"); code != 2 {
		t.Errorf("status of the refused resource: exit %d, want 2 (not defined)", code)
	}

	// Still serving, still sane.
	n.must("start", "web-app")
	if st := n.status("web-app"); st.State != "ISP" {
		t.Errorf("web-app %s after the bad requests, want ISP", st.State)
	}

	// Changing the type of a running resource would leave the old
	// type's service without anyone to stop it: refused.
	retype := filepath.Join(n.dir, "retype.yaml")
	writeFile(t, retype, "resources:\n  - tag: web-app\n    type: flagfile\n    depends_on: [web-svc]\n")
	if _, errOut, code := n.arkctl("update", "-f", retype); code != 2 || !strings.Contains(errOut, "stop it before changing its type") {
		t.Errorf("update of a running resource's type: exit %d, stderr %q; want exit 2 and a refusal", code, errOut)
	}
}
