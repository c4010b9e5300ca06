package arktest_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ark-ha/ark/sdk"
	"github.com/ark-ha/ark/sdk/ark"
	"github.com/ark-ha/ark/sdk/arktest"
)

// memType is an in-memory resource type; bug makes it break one rule of
// the contract.
type memType struct {
	ark.RecoverNotSupported
	bug string

	mu      sync.Mutex
	running bool
}

func (m *memType) isRunning() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.running
}

func (m *memType) set(v bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.running = v
}

func (m *memType) Info(context.Context) (ark.Info, error) {
	return ark.Info{
		Type:    "mem",
		Params:  []ark.ParamSpec{{Name: "name", Type: ark.TypeString, Required: true}},
		Actions: []ark.Action{ark.Restore, ark.Remove, ark.QuickCheck},
	}, nil
}

func (m *memType) Validate(ctx context.Context, params map[string]string) error {
	switch m.bug {
	case "validate-accepts-all":
		return nil
	case "validate-wrong-class":
		if _, ok := params[arktest.UnknownParam]; ok {
			return errors.New("bad param " + arktest.UnknownParam)
		}
	}
	info, _ := m.Info(ctx)
	return info.ValidateParams(params)
}

func (m *memType) log(req *ark.Request, msg string) {
	if m.bug != "quiet" {
		sdk.Logf(req, slog.LevelInfo, "%s", msg)
	}
}

func (m *memType) Restore(ctx context.Context, req *ark.Request) (ark.Result, error) {
	if d, ok := ctx.Deadline(); ok && m.bug == "ignores-deadline" && time.Until(d) < time.Second {
		time.Sleep(2 * time.Second) // only in the deadline check, to keep the rest fast
	}
	if err := ctx.Err(); err != nil {
		return ark.Result{}, err
	}
	if m.isRunning() && m.bug == "restore-not-idempotent" {
		return ark.Result{Status: 1, Message: "already running"}, nil
	}
	if m.bug != "restore-does-nothing" {
		m.set(true)
	}
	m.log(req, "started "+req.Params["name"])
	return ark.Result{}, nil
}

func (m *memType) Remove(ctx context.Context, req *ark.Request) (ark.Result, error) {
	if err := ctx.Err(); err != nil {
		return ark.Result{}, err
	}
	if !m.isRunning() && m.bug == "remove-not-idempotent" {
		return ark.Result{}, errors.New("not running")
	}
	m.set(false)
	m.log(req, "stopped")
	return ark.Result{}, nil
}

func (m *memType) QuickCheck(ctx context.Context, req *ark.Request) (ark.Result, error) {
	if m.bug == "quickcheck-repairs" {
		m.set(true)
	}
	if !m.isRunning() {
		return ark.Result{Status: 1, Message: "not running"}, nil
	}
	return ark.Result{}, nil
}

func config(m *memType) arktest.Config {
	return arktest.Config{
		Params:        map[string]string{"name": "x"},
		Running:       m.isRunning,
		Break:         func() { m.set(false) },
		DeadlineGrace: 500 * time.Millisecond,
	}
}

func TestRunPassesAGoodType(t *testing.T) {
	m := &memType{}
	arktest.Run(t, m, config(m))
	if m.isRunning() {
		t.Error("Run left the resource running")
	}
}

// TestBuggyType is run in a child process by TestRunCatchesBugs, with the
// bug to plant in ARKTEST_BUG; it is expected to fail.
func TestBuggyType(t *testing.T) {
	bug := os.Getenv("ARKTEST_BUG")
	if bug == "" {
		t.Skip("run by TestRunCatchesBugs")
	}
	m := &memType{bug: bug}
	arktest.Run(t, m, config(m))
}

func TestRunCatchesBugs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child test processes")
	}
	for _, tc := range []struct{ bug, says string }{
		{"restore-not-idempotent", "a second restore of a running resource must succeed"},
		{"restore-does-nothing", "Config.Running says the resource is not in service"},
		{"remove-not-idempotent", "a second remove of a stopped resource must succeed"},
		{"quickcheck-repairs", "reported it healthy"},
		{"validate-accepts-all", "Validate accepted the unknown parameter"},
		{"validate-wrong-class", `with an error of class "unclassified"`},
		{"ignores-deadline", "is still running"},
		{"quiet", "none of the"},
	} {
		t.Run(tc.bug, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestBuggyType$", "-test.v")
			cmd.Env = append(os.Environ(), "ARKTEST_BUG="+tc.bug)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("arktest passed a type with bug %s:\n%s", tc.bug, out)
			}
			if !strings.Contains(string(out), tc.says) {
				t.Errorf("arktest failed the type with bug %s, but not saying %q:\n%s", tc.bug, tc.says, out)
			}
		})
	}
}
