package arktest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ark-ha/ark/plugins"
	"github.com/ark-ha/ark/plugins/plugintest"
	"github.com/ark-ha/ark/sdk/ark"
)

// Defaults of Config.
const (
	DefaultTag           = "arktest"
	DefaultTimeout       = 30 * time.Second
	DefaultDeadlineGrace = 5 * time.Second
)

// UnknownParam is the parameter name Run expects Validate to reject.
const UnknownParam = "arktest_no_such_param"

// Config describes the test resource and what the kit may check about it.
// Only Params is usually needed; the hooks make the checks stronger.
type Config struct {
	// Params are valid parameters of a test resource that Run may bring
	// into service and take out of it (point it at a temporary
	// directory, a test port, ...).
	Params map[string]string
	// Tag of the test resource. Default DefaultTag.
	Tag string
	// Timeout is the Request.Timeout of every action. Default
	// DefaultTimeout.
	Timeout time.Duration
	// Running, if set, says from outside the type whether the resource is
	// really in service (its process runs, its file exists). Run compares
	// it with what the actions report, and checks that quickCheck leaves
	// it unchanged.
	Running func() bool
	// Break, if set, makes the running resource fail behind the type's
	// back (kills its process, deletes its file). Run then checks that
	// quickCheck notices and that restore repairs it.
	Break func()
	// HostStates answers Request.Host.State while actions run; unknown
	// tags get an ark.Misconfigured error.
	HostStates map[string]string
	// Env is added to the environment of every request.
	Env map[string]string
	// Quiet says the type logs nothing by design: Run then does not
	// require log lines to reach the host.
	Quiet bool
	// DeadlineGrace is how long after its context's deadline an action
	// may take to return. Default DefaultDeadlineGrace.
	DeadlineGrace time.Duration
}

// Run checks rt against the ARK contract, in subtests of t named after
// what they check:
//
//   - Info is valid metadata (ark.Info.Check) and survives the wire;
//   - Validate accepts cfg.Params and rejects an unknown parameter with
//     ark.ErrMisconfigured, naming it;
//   - actions Info does not list return ark.ErrNotSupported;
//   - restore succeeds, and succeeds again on a running resource; remove
//     likewise on a stopped one; restore works again after remove;
//   - quickCheck succeeds after restore and fails after remove (when
//     supported), and is read-only: repeating it changes nothing;
//   - with cfg.Break, quickCheck notices the failure and restore repairs it;
//   - actions return soon after their context's deadline;
//   - log lines reach the host.
//
// The lifecycle subtests run in order; once one fails the rest of the
// lifecycle is skipped. Run leaves the resource removed.
func Run(t *testing.T, rt ark.ResourceType, cfg Config) {
	t.Helper()
	if cfg.Tag == "" {
		cfg.Tag = DefaultTag
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.DeadlineGrace <= 0 {
		cfg.DeadlineGrace = DefaultDeadlineGrace
	}
	k := &kit{rt: rt, cfg: cfg}
	k.wire = plugintest.Connect(t, rt, plugins.ClientOptions{Name: "under test"})

	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	info, err := k.wire.Info(ctx)
	cancel()
	if err != nil {
		t.Fatalf("Info failed: %v", err)
	}
	k.info = info
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
		defer cancel()
		_, _ = rt.Remove(ctx, k.request(ark.Remove)) // leave nothing running
	})

	t.Run("info is valid", k.infoIsValid)
	t.Run("validate accepts the params", k.validateAccepts)
	t.Run("validate rejects an unknown parameter", k.validateRejectsUnknown)
	t.Run("unsupported actions say so", k.unsupportedSaySo)

	ok := true
	step := func(name string, f func(t *testing.T)) {
		passed := t.Run(name, func(t *testing.T) {
			if !ok {
				t.Skip("skipped: an earlier lifecycle step failed")
			}
			f(t)
		})
		ok = ok && passed
	}
	step("restore brings it into service", k.restoreStarts)
	step("restore is idempotent", k.restoreAgain)
	step("quickCheck succeeds after restore", k.quickCheckHealthy)
	step("quickCheck is read-only while in service", k.quickCheckReadOnlyRunning)
	if cfg.Break != nil {
		step("quickCheck notices a broken resource", k.quickCheckNoticesBreak)
		step("restore repairs a broken resource", k.restoreRepairs)
	}
	step("remove takes it out of service", k.removeStops)
	step("remove is idempotent", k.removeAgain)
	step("quickCheck fails after remove", k.quickCheckUnhealthy)
	step("quickCheck is read-only after remove", k.quickCheckReadOnlyStopped)
	step("restore works again after remove", k.restoreAfterRemove)
	t.Run("actions honour their context deadline", k.deadlines)
	t.Run("log lines reach the host", k.logsReachHost)
}

type kit struct {
	rt   ark.ResourceType
	wire *plugins.Client // rt behind the real protocol
	cfg  Config
	info ark.Info

	mu      sync.Mutex
	actions int
	lines   []ark.LogLine
}

func (k *kit) host() ark.Host { return host(k.cfg.HostStates) }

type host map[string]string

func (h host) State(_ context.Context, tag string) (string, error) {
	if st, ok := h[tag]; ok {
		return st, nil
	}
	return "", ark.Misconfigured(fmt.Errorf("no resource %q in the test cluster (see arktest.Config.HostStates)", tag))
}

func (k *kit) request(a ark.Action) *ark.Request {
	node, _ := os.Hostname()
	spec := ark.EnvSpec{
		Tag: k.cfg.Tag, ID: k.cfg.Tag, Action: a, ResourceType: k.info.Type,
		Node: node, Cluster: "arktest", Server: ark.ServerHome, Priority: 1,
		Group: k.cfg.Tag, Disk: ark.DiskSuccess,
	}
	if a == ark.Remove {
		spec.Factor = ark.FactorGroupStop
	}
	spec.Event = ark.EventStart
	env := spec.Environ()
	for key, v := range ark.ParamEnv(k.cfg.Params) {
		env[key] = v
	}
	for key, v := range k.cfg.Env {
		env[key] = v
	}
	return &ark.Request{
		Tag:     k.cfg.Tag,
		ID:      k.cfg.Tag,
		Params:  k.info.WithDefaults(k.cfg.Params),
		Env:     env,
		Timeout: k.cfg.Timeout,
		Log: func(l ark.LogLine) {
			k.mu.Lock()
			defer k.mu.Unlock()
			k.lines = append(k.lines, l)
		},
		Host: k.host(),
	}
}

// do runs action a over the wire.
func (k *kit) do(a ark.Action) (ark.Result, error) {
	k.mu.Lock()
	k.actions++
	k.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), k.cfg.Timeout+plugins.DefaultActionMargin)
	defer cancel()
	return ark.Run(ctx, k.wire, a, k.request(a))
}

func describe(res ark.Result, err error) string {
	if err != nil {
		return fmt.Sprintf("error: %v", err)
	}
	s := fmt.Sprintf("status %d", res.Status)
	if res.TimedOut {
		s += " (timed out)"
	}
	if res.Message != "" {
		s += fmt.Sprintf(", message %q", res.Message)
	}
	return s
}

// mustSucceed runs a and fails t with why unless it succeeded.
func (k *kit) mustSucceed(t *testing.T, a ark.Action, why string) {
	t.Helper()
	res, err := k.do(a)
	if err != nil || !res.OK() {
		t.Fatalf("%s failed (%s): %s", a, describe(res, err), why)
	}
}

func (k *kit) running(t *testing.T, want bool, after string) {
	t.Helper()
	if k.cfg.Running == nil {
		return
	}
	if got := k.cfg.Running(); got != want {
		if want {
			t.Fatalf("after %s, Config.Running says the resource is not in service: the action reported success without doing its job", after)
		}
		t.Fatalf("after %s, Config.Running says the resource is still in service: the action reported success without doing its job", after)
	}
}

func (k *kit) infoIsValid(t *testing.T) {
	if err := k.info.Check(); err != nil {
		t.Errorf("Info returns unusable metadata: %v", err)
	}
	direct, err := k.rt.Info(context.Background())
	if err != nil {
		t.Fatalf("Info failed when called directly: %v", err)
	}
	if direct.Type != k.info.Type || len(direct.Params) != len(k.info.Params) || len(direct.Actions) != len(k.info.Actions) {
		t.Errorf("Info changed between calls or on the wire: %+v, then %+v; Info must be constant", k.info, direct)
	}
}

func (k *kit) validateAccepts(t *testing.T) {
	if err := k.wire.Validate(context.Background(), k.cfg.Params); err != nil {
		t.Errorf("Validate rejected Config.Params %v: %v", k.cfg.Params, err)
	}
}

func (k *kit) validateRejectsUnknown(t *testing.T) {
	params := map[string]string{UnknownParam: "x"}
	for key, v := range k.cfg.Params {
		params[key] = v
	}
	err := k.wire.Validate(context.Background(), params)
	switch {
	case err == nil:
		t.Errorf("Validate accepted the unknown parameter %q: it must reject parameters it does not declare, with an ark.Misconfigured error (ark.Info.ValidateParams does this)", UnknownParam)
	case !errors.Is(err, ark.ErrMisconfigured):
		t.Errorf("Validate rejected the unknown parameter %q with an error of class %q (%v): a bad parameter is wrong on every node, so the error must be ark.Misconfigured", UnknownParam, ark.ClassOf(err), err)
	case !strings.Contains(err.Error(), UnknownParam):
		t.Errorf("Validate rejected the unknown parameter with %q, which does not name it: say which parameter is wrong", err)
	}
}

func (k *kit) unsupportedSaySo(t *testing.T) {
	for _, a := range []ark.Action{ark.QuickCheck, ark.Recover} {
		if k.info.Supports(a) {
			continue
		}
		_, err := k.do(a)
		if !errors.Is(err, ark.ErrNotSupported) {
			t.Errorf("Info does not list %s, but calling it gave %s: it must return ark.ErrNotSupported (embed ark.%sNotSupported)",
				a, describe(ark.Result{}, err), strings.ToUpper(string(a[:1]))+string(a[1:]))
		}
	}
}

func (k *kit) restoreStarts(t *testing.T) {
	k.mustSucceed(t, ark.Restore, "restore of a resource out of service must bring it into service")
	k.running(t, true, "restore")
}

func (k *kit) restoreAgain(t *testing.T) {
	k.mustSucceed(t, ark.Restore, "a second restore of a running resource must succeed without side effects (DESIGN §4)")
	k.running(t, true, "a second restore")
}

func (k *kit) needQuickCheck(t *testing.T) {
	if !k.info.Supports(ark.QuickCheck) {
		t.Skip("the type does not support quickCheck")
	}
}

func (k *kit) quickCheckHealthy(t *testing.T) {
	k.needQuickCheck(t)
	k.mustSucceed(t, ark.QuickCheck, "quickCheck of a resource just restored must report it healthy")
}

func (k *kit) quickCheckReadOnlyRunning(t *testing.T) {
	k.needQuickCheck(t)
	for i := 0; i < 2; i++ {
		k.mustSucceed(t, ark.QuickCheck, "repeated quickChecks of a healthy resource must all succeed")
		k.running(t, true, "quickCheck")
	}
}

// failing runs quickCheck expecting it to report the resource unhealthy.
func (k *kit) failing(t *testing.T, state string) {
	t.Helper()
	res, err := k.do(ark.QuickCheck)
	switch {
	case err != nil:
		t.Fatalf("quickCheck of a resource %s returned an error (%v) instead of a failed result: an unhealthy resource is a Result with a non-zero Status; an error means the check could not run", state, err)
	case res.OK():
		t.Fatalf("quickCheck of a resource %s reported it healthy (%s): it must fail", state, describe(res, err))
	}
}

func (k *kit) quickCheckNoticesBreak(t *testing.T) {
	k.needQuickCheck(t)
	k.cfg.Break()
	k.running(t, false, "Config.Break")
	k.failing(t, "broken by Config.Break")
}

func (k *kit) restoreRepairs(t *testing.T) {
	if k.info.Supports(ark.QuickCheck) {
		k.running(t, false, "a quickCheck of the broken resource (quickCheck must not repair: it is read-only)")
	} else {
		k.cfg.Break()
	}
	k.mustSucceed(t, ark.Restore, "restore of a resource that failed behind its back must bring it back")
	k.running(t, true, "restore of a broken resource")
}

func (k *kit) removeStops(t *testing.T) {
	k.mustSucceed(t, ark.Remove, "remove of a running resource must take it out of service")
	k.running(t, false, "remove")
}

func (k *kit) removeAgain(t *testing.T) {
	k.mustSucceed(t, ark.Remove, "a second remove of a stopped resource must succeed (DESIGN §4)")
	k.running(t, false, "a second remove")
}

func (k *kit) quickCheckUnhealthy(t *testing.T) {
	k.needQuickCheck(t)
	k.failing(t, "that was removed")
}

func (k *kit) quickCheckReadOnlyStopped(t *testing.T) {
	k.needQuickCheck(t)
	for i := 0; i < 2; i++ {
		k.failing(t, "that was removed (asked again: a quickCheck must not bring it back)")
		k.running(t, false, "quickCheck of a removed resource")
	}
}

func (k *kit) restoreAfterRemove(t *testing.T) {
	k.mustSucceed(t, ark.Restore, "restore after remove must bring the resource back into service")
	k.running(t, true, "restore after remove")
	k.mustSucceed(t, ark.Remove, "remove after restore must take it out of service again")
	k.running(t, false, "the final remove")
}

// deadlines calls the type directly, not over the wire: the client ends a
// call at its deadline whatever the type does, and the point here is the
// type itself.
func (k *kit) deadlines(t *testing.T) {
	actions := []ark.Action{ark.Restore, ark.Remove}
	if k.info.Supports(ark.QuickCheck) {
		actions = append(actions, ark.QuickCheck)
	}
	const budget = 10 * time.Millisecond
	for _, a := range actions {
		ctx, cancel := context.WithTimeout(context.Background(), budget)
		start := time.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = ark.Run(ctx, k.rt, a, k.request(a))
		}()
		select {
		case <-done:
			t.Logf("%s with a %s deadline returned after %s", a, budget, time.Since(start).Round(time.Microsecond))
		case <-time.After(budget + k.cfg.DeadlineGrace):
			t.Errorf("%s was given a context ending after %s and is still running %s later: every action must return soon after its context ends", a, budget, k.cfg.DeadlineGrace)
		}
		cancel()
	}
}

func (k *kit) logsReachHost(t *testing.T) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i, l := range k.lines {
		if l.Message == "" || l.Time.IsZero() {
			t.Errorf("log line %d reached the host without a message or a time: %+v", i+1, l)
		}
	}
	if len(k.lines) == 0 && !k.cfg.Quiet {
		t.Errorf("none of the %d actions run sent a log line to the host: an ARK should log what it does through Request.Log (sdk.Logf), or set Config.Quiet", k.actions)
	}
	t.Logf("%d log lines from %d actions reached the host", len(k.lines), k.actions)
}
