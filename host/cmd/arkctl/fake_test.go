package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ark-ha/ark/host/api"
)

// fakeDaemon serves canned replies on a unix socket, as arkd would: a
// fake for rendering only. What the daemon decides is tested with the
// real arkd elsewhere.
type fakeDaemon struct {
	dir    string // holds the socket; replaced by TMP in transcripts
	socket string

	mu       sync.Mutex
	requests []fakeRequest
}

// fakeRequest is a request the fake received, for tests that check what
// arkctl sent.
type fakeRequest struct {
	Method, Path string
	Query        map[string][]string
	Body         string
}

// startFake serves routes ("GET /v1/status") on a fresh socket. The
// directory is short (not t.TempDir) because a unix socket path is
// limited to about 100 bytes.
func startFake(t *testing.T, routes map[string]http.HandlerFunc) *fakeDaemon {
	t.Helper()
	dir, err := os.MkdirTemp("", "arkctl")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeDaemon{dir: dir, socket: filepath.Join(dir, "arkd.sock")}
	ln, err := net.Listen("unix", f.socket)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for pattern, h := range routes {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			f.mu.Lock()
			f.requests = append(f.requests, fakeRequest{r.Method, r.URL.Path, r.URL.Query(), string(body)})
			f.mu.Unlock()
			h(w, r)
		})
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		os.RemoveAll(dir)
	})
	return f
}

// last returns the last request the fake received.
func (f *fakeDaemon) last(t *testing.T) fakeRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		t.Fatal("the fake daemon got no request")
	}
	return f.requests[len(f.requests)-1]
}

// reply answers with v as JSON, as arkd does.
func reply(code int, v any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
}

// usageError is arkd's answer to a request it refuses.
func usageError(msg string) http.HandlerFunc {
	return reply(http.StatusBadRequest, api.ErrorReply{Error: msg, Kind: api.KindUsage})
}

// transcript runs arkctl once per args and records, for a golden file,
// each command line with its stdout, stderr and exit code.
type transcript struct {
	t    *testing.T
	b    strings.Builder
	repl *strings.Replacer
}

func newTranscript(t *testing.T, f *fakeDaemon) *transcript {
	tr := &transcript{t: t, repl: strings.NewReplacer()}
	if f != nil {
		tr.repl = strings.NewReplacer(f.dir, "TMP")
	}
	return tr
}

// run runs arkctl with args, records it and checks the exit code, so that
// a golden file never silently holds the output of a wrong exit.
func (tr *transcript) run(want int, args ...string) (stdout, stderr string) {
	tr.t.Helper()
	return tr.runCtx(context.Background(), nil, want, args...)
}

func (tr *transcript) runCtx(ctx context.Context, out *syncBuffer, want int, args ...string) (string, string) {
	tr.t.Helper()
	if out == nil {
		out = &syncBuffer{}
	}
	var errb syncBuffer
	code := run(ctx, args, out, &errb)
	stdout, stderr := out.String(), errb.String()
	if code != want {
		tr.t.Errorf("arkctl %s: exit %d, want %d\n--- stdout\n%s--- stderr\n%s", strings.Join(args, " "), code, want, stdout, stderr)
	}
	shown := make([]string, len(args))
	for i, a := range args {
		shown[i] = tr.repl.Replace(a)
	}
	fmt.Fprintf(&tr.b, "$ arkctl %s\n", strings.Join(shown, " "))
	if stdout != "" {
		fmt.Fprintf(&tr.b, "--- stdout\n%s", tr.repl.Replace(stdout))
	}
	if stderr != "" {
		fmt.Fprintf(&tr.b, "--- stderr\n%s", tr.repl.Replace(stderr))
	}
	fmt.Fprintf(&tr.b, "--- exit %d\n\n", code)
	return stdout, stderr
}

// golden compares the transcript with testdata/name.
func (tr *transcript) golden(name string) {
	tr.t.Helper()
	golden(tr.t, name, tr.b.String())
}

// syncBuffer is a buffer a test may read while arkctl writes to it, and
// that can tell when enough has been written (for --follow, which only
// ends when cancelled).
type syncBuffer struct {
	mu     sync.Mutex
	b      strings.Builder
	onLine func(lines int)
	lines  int
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.b.Write(p)
	s.lines += strings.Count(string(p), "\n")
	if s.onLine != nil {
		s.onLine(s.lines)
	}
	return n, err
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
