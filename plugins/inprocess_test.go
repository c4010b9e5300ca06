package plugins_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ark-ha/ark/plugins"
	"github.com/ark-ha/ark/plugins/internal/fakeark"
	"github.com/ark-ha/ark/plugins/plugintest"
	"github.com/ark-ha/ark/sdk/ark"
)

// fakeHost is an ark.Host answering from a map.
type fakeHost struct {
	states map[string]string
	err    error
}

func (h fakeHost) State(_ context.Context, tag string) (string, error) {
	if h.err != nil {
		return "", h.err
	}
	st, ok := h.states[tag]
	if !ok {
		return "", ark.Misconfigured(fmt.Errorf("no resource %q", tag))
	}
	return st, nil
}

// logs collects the lines of one action.
type logs struct {
	mu    sync.Mutex
	lines []ark.LogLine
}

func (l *logs) add(line ark.LogLine) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
}

func (l *logs) messages() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, x := range l.lines {
		out = append(out, x.Message)
	}
	return out
}

func request(tag string, params map[string]string, l *logs) *ark.Request {
	if l == nil {
		l = &logs{}
	}
	return &ark.Request{
		Tag: tag, ID: tag + "-id", Params: params,
		Env: map[string]string{"TAG": tag}, Log: l.add,
		Host: fakeHost{states: map[string]string{"db": "ISP"}},
	}
}

func TestInProcessRoundTrip(t *testing.T) {
	c := plugintest.Connect(t, fakeark.Type{}, plugins.ClientOptions{})
	ctx := context.Background()

	got, err := c.Info(ctx)
	if err != nil {
		t.Fatalf("info: %v", err)
	}
	want, _ := fakeark.Type{}.Info(ctx)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("info over the wire:\n got %+v\nwant %+v", got, want)
	}
	if err := c.Validate(ctx, map[string]string{"logs": "2"}); err != nil {
		t.Errorf("validate of good params: %v", err)
	}
	res, err := c.Restore(ctx, request("web-ip", map[string]string{"status": "5"}, nil))
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if res.Status != 5 || res.Message != "restore web-ip done" || res.Duration <= 0 ||
		!reflect.DeepEqual(res.Warnings, []string{"fake warning"}) {
		t.Errorf("restore result over the wire: %+v", res)
	}
}

func TestInProcessLogStreaming(t *testing.T) {
	c := plugintest.Connect(t, fakeark.Type{}, plugins.ClientOptions{})
	l := &logs{}
	before := time.Now().Add(-time.Second)
	if _, err := c.QuickCheck(context.Background(), request("web-ip", map[string]string{"logs": "3"}, l)); err != nil {
		t.Fatalf("quickCheck: %v", err)
	}
	if got := l.messages(); !reflect.DeepEqual(got, []string{"line 1", "line 2", "line 3"}) {
		t.Fatalf("log lines reaching the host: %q", got)
	}
	for _, line := range l.lines {
		if line.Code != "FAKE" || line.Level != slog.LevelInfo || line.Time.Before(before) {
			t.Errorf("log line lost a field on the wire: %+v", line)
		}
	}
}

func TestInProcessHostState(t *testing.T) {
	c := plugintest.Connect(t, fakeark.Type{}, plugins.ClientOptions{})
	ctx := context.Background()
	res, err := c.Restore(ctx, request("app", map[string]string{"ask_state": "db"}, nil))
	if err != nil {
		t.Fatalf("restore asking the host: %v", err)
	}
	if res.Message != "state of db is ISP" {
		t.Errorf("message = %q, want the state the host gave", res.Message)
	}

	// The host's error class travels to the plugin, which wraps it and
	// sends it back.
	_, err = c.Restore(ctx, request("app", map[string]string{"ask_state": "nope"}, nil))
	if !errors.Is(err, ark.ErrMisconfigured) || !strings.Contains(err.Error(), `no resource "nope"`) {
		t.Errorf("host error through the plugin: %v (want misconfigured, naming the resource)", err)
	}

	// Several calls, concurrently, each with its own host.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			st := fmt.Sprintf("S%d", i)
			req := request("app", map[string]string{"ask_state": "db"}, nil)
			req.Host = fakeHost{states: map[string]string{"db": st}}
			res, err := c.Restore(ctx, req)
			if err != nil || res.Message != "state of db is "+st {
				t.Errorf("concurrent call %d: %+v, %v", i, res, err)
			}
		})
	}
	wg.Wait()

	// Without a host, the plugin sees none.
	req := request("app", map[string]string{"ask_state": "db"}, nil)
	req.Host = nil
	if _, err := c.Restore(ctx, req); err == nil || !strings.Contains(err.Error(), "no host services") {
		t.Errorf("restore without host: %v", err)
	}
}

func TestInProcessErrorClasses(t *testing.T) {
	c := plugintest.Connect(t, fakeark.Type{}, plugins.ClientOptions{})
	ctx := context.Background()
	for _, tc := range []struct {
		fail  string
		class error
	}{
		{"transient", ark.ErrTransient},
		{"not-installed", ark.ErrNotInstalled},
		{"misconfigured", ark.ErrMisconfigured},
	} {
		t.Run(tc.fail, func(t *testing.T) {
			res, err := c.Remove(ctx, request("web-ip", map[string]string{"fail": tc.fail}, nil))
			if !errors.Is(err, tc.class) {
				t.Fatalf("error %v: class %v lost on the wire", err, ark.ClassOf(err))
			}
			if want := "remove web-ip failed on purpose (" + tc.fail + ")"; err.Error() != want {
				t.Errorf("message %q, want the original %q", err, want)
			}
			if res.Status != 1 || res.Message != "partial" {
				t.Errorf("result returned beside the error was lost: %+v", res)
			}
		})
	}
	t.Run("unclassified", func(t *testing.T) {
		_, err := c.Remove(ctx, request("web-ip", map[string]string{"fail": "none"}, nil))
		if err == nil || ark.ClassOf(err) != ark.ClassNone {
			t.Errorf("error %v of class %v, want an unclassified error", err, ark.ClassOf(err))
		}
	})
	t.Run("not supported", func(t *testing.T) {
		_, err := c.Recover(ctx, request("web-ip", nil, nil))
		if !errors.Is(err, ark.ErrNotSupported) {
			t.Errorf("recover of a type without it: %v, want ErrNotSupported", err)
		}
	})
	t.Run("validate", func(t *testing.T) {
		err := c.Validate(ctx, map[string]string{"logs": "many"})
		if !errors.Is(err, ark.ErrMisconfigured) || !strings.Contains(err.Error(), `"logs"`) {
			t.Errorf("validate of a bad int param: %v", err)
		}
	})
	t.Run("context cause", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		l := &logs{}
		req := request("web-ip", map[string]string{"sleep": "1h"}, l)
		req.Log = func(line ark.LogLine) {
			l.add(line)
			cancel() // the action is running: cancel it
		}
		_, err := c.Restore(ctx, req)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled restore: %v, want context.Canceled", err)
		}
	})
	t.Run("panic", func(t *testing.T) {
		_, err := c.Restore(ctx, request("web-ip", map[string]string{"panic": "true"}, nil))
		if err == nil || !strings.Contains(err.Error(), "panicked: fake panic") {
			t.Errorf("panicking restore: %v", err)
		}
		if _, err := c.Info(ctx); err != nil {
			t.Errorf("server gone after a panic: %v", err)
		}
	})
}

// stuck is a resource type that ignores its context: only the client's
// own deadline can end a call.
type stuck struct {
	fakeark.Type
	release chan struct{}
}

func (s stuck) Info(context.Context) (ark.Info, error) {
	<-s.release
	return ark.Info{}, nil
}

func (s stuck) Restore(context.Context, *ark.Request) (ark.Result, error) {
	<-s.release
	return ark.Result{}, nil
}

func TestInProcessDeadlines(t *testing.T) {
	s := stuck{release: make(chan struct{})}
	t.Cleanup(func() { close(s.release) })
	c := plugintest.Connect(t, s, plugins.ClientOptions{
		Name: "stuck", CallTimeout: 100 * time.Millisecond, ActionMargin: 100 * time.Millisecond,
	})

	_, err := c.Info(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "info: plugin stuck did not answer") {
		t.Errorf("info without a ctx deadline: %v, want the default call deadline", err)
	}
	req := request("web-ip", nil, nil)
	req.Timeout = 100 * time.Millisecond
	_, err = c.Restore(context.Background(), req)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "restore web-ip: plugin stuck") {
		t.Errorf("restore with a timeout: %v, want its deadline", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		t.Errorf("ping of a live plugin: %v", err)
	}
}
