package scripttest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/ark-ha/ark/interpreters/proc"
	"github.com/ark-ha/ark/sdk/ark"
)

// Verdict is the outcome of one check.
type Verdict string

// Verdicts.
const (
	Pass Verdict = "PASS"
	Fail Verdict = "FAIL"
	Warn Verdict = "WARN"
	Skip Verdict = "SKIP"
)

// Check is one line of the report.
type Check struct {
	Verdict  Verdict       `json:"verdict"`
	Step     string        `json:"step"`
	Reason   string        `json:"reason"`
	Where    string        `json:"where,omitempty"` // file:line when known
	Duration time.Duration `json:"duration_ns,omitempty"`
}

// Report is the whole run.
type Report struct {
	Target string  `json:"target"`
	Tag    string  `json:"tag"`
	Checks []Check `json:"checks"`
}

// Count returns how many checks have verdict v.
func (r *Report) Count(v Verdict) int {
	n := 0
	for _, c := range r.Checks {
		if c.Verdict == v {
			n++
		}
	}
	return n
}

// OK reports whether nothing failed.
func (r *Report) OK() bool { return r.Count(Fail) == 0 }

func (r *Report) add(v Verdict, step, format string, args ...any) *Check {
	r.Checks = append(r.Checks, Check{Verdict: v, Step: step, Reason: fmt.Sprintf(format, args...)})
	return &r.Checks[len(r.Checks)-1]
}

// Options configure a run.
type Options struct {
	Tag, ID string
	Params  map[string]string
	// Timeouts per action; an action absent here gets the type's default.
	Timeouts map[ark.Action]time.Duration
	// PluginPID returns the pid of the plugin process (its own processes
	// are not the service's). May be nil.
	PluginPID func() int
	// Log receives every line the actions log (for -v). May be nil.
	Log func(ark.Action, ark.LogLine)
	// Actions the resource has (GenericARK: the scripts found); nil means
	// what the type's Info says.
	Actions []ark.Action
	// Node and Cluster fill NODE and CLUSTER.
	Node, Cluster string
}

// Run drives rt through the life of a resource and reports each check.
// It does not stop at the first failure: a script writer wants every
// problem at once. It always ends with a remove, and kills what the
// resource left running so a failed run does not leave it behind.
func Run(ctx context.Context, rt ark.ResourceType, o Options) *Report {
	h := &harness{rt: rt, o: o, rep: &Report{Tag: o.Tag}, self: map[int]bool{os.Getpid(): true}}
	h.run(ctx)
	return h.rep
}

type harness struct {
	rt   ark.ResourceType
	o    Options
	info ark.Info
	rep  *Report
	self map[int]bool
	mu   sync.Mutex
}

// outcome of one action call.
type outcome struct {
	res  ark.Result
	err  error
	left []process // new processes alive after the action
}

func (h *harness) run(ctx context.Context) {
	info, err := h.rt.Info(ctx)
	if err != nil {
		h.rep.add(Fail, "info", "the plugin did not describe itself: %v", err)
		return
	}
	h.info = info
	if err := h.rt.Validate(ctx, h.o.Params); err != nil {
		h.rep.add(Fail, "validate", "%v", err)
		return
	}
	h.rep.add(Pass, "validate", "%s %s accepts the parameters", info.Type, info.Version)
	params := info.WithDefaults(h.o.Params)
	cgroupMark := ""
	if proc.DefaultParent() != "" {
		cgroupMark = "/ark/" + proc.SafeName(h.o.Tag) + "/"
	}
	var service []process // what the first restore left running
	defer func() { killAll(service) }()

	call := func(a ark.Action, env ark.EnvSpec) outcome {
		before := takeSnapshot()
		o := h.call(ctx, a, params, env)
		plugin := 0
		if h.o.PluginPID != nil {
			plugin = h.o.PluginPID()
		}
		o.left = newProcs(before, takeSnapshot(), plugin, h.self, cgroupMark)
		return o
	}
	expect := func(step string, o outcome, wantOK bool, why string) bool {
		c := h.verdict(step, o, wantOK, why)
		return c.Verdict != Fail
	}
	start, stop := h.env(ark.Restore, ark.EventStart, ""), h.env(ark.Remove, ark.EventStart, ark.FactorGroupStop)
	check := h.env(ark.QuickCheck, ark.EventStart, "")
	hasQC := h.has(ark.QuickCheck)

	// 1. restore, and what it left running is the service.
	o := call(ark.Restore, start)
	expect("restore", o, true, "restore must bring the service up")
	service = o.left
	if len(service) == 0 {
		h.rep.add(Warn, "restore", "restore left no process running: the kill and recover steps cannot test anything")
	}
	// 2. quickCheck after restore.
	if hasQC {
		o = call(ark.QuickCheck, check)
		expect("quickCheck after restore", o, true, "the service was just restored")
		h.noLeftovers("quickCheck after restore", o)
	} else {
		h.rep.add(Warn, "quickCheck", "no quickCheck script: failures are never detected, only node loss")
	}
	// 3. restore again: must succeed and must not start a second copy.
	o = call(ark.Restore, start)
	expect("restore again", o, true, "restore on a running service must succeed (lkstart after lkstop -f)")
	if len(o.left) > 0 {
		h.rep.add(Fail, "restore again", "restore started a second instance while the first was running: new processes %s", describe(o.left))
		killAll(o.left)
	} else if len(service) > 0 {
		h.rep.add(Pass, "restore again", "no second instance: the service's processes are the same")
	}
	// 4. remove: must stop everything the restore started.
	o = call(ark.Remove, stop)
	if expect("remove", o, true, "remove must take the service down") {
		if alive := stillAlive(service); len(alive) > 0 {
			h.rep.add(Fail, "remove", "remove exited 0 but left the service running: %s", describe(alive))
		}
	}
	// 5. quickCheck after remove must fail.
	if hasQC {
		o = call(ark.QuickCheck, check)
		expect("quickCheck after remove", o, false, "the service was just removed")
		h.noLeftovers("quickCheck after remove", o)
	}
	// 6. remove again.
	o = call(ark.Remove, stop)
	expect("remove again", o, true, "remove on a stopped service must succeed")
	// 7. restore, kill the service, quickCheck must notice, recover.
	o = call(ark.Restore, start)
	expect("restore after remove", o, true, "restore must bring the service back")
	service = append(service, o.left...)
	if len(o.left) > 0 {
		killAll(o.left)
		waitGone(o.left)
		h.rep.add(Pass, "kill service", "killed %s", describe(o.left))
		if hasQC {
			q := call(ark.QuickCheck, check)
			expect("quickCheck after kill", q, false, "the service's processes were killed")
		}
		if h.has(ark.Recover) {
			r := call(ark.Recover, h.env(ark.Recover, ark.EventRecover, ""))
			service = append(service, r.left...)
			if expect("recover", r, true, "recover must bring the killed service back") && hasQC {
				q := call(ark.QuickCheck, check)
				expect("quickCheck after recover", q, true, "recover said the service is back")
			}
		} else {
			h.rep.add(Warn, "recover", "no recover script: every failed quickCheck becomes a failover")
		}
	} else {
		h.rep.add(Skip, "kill service", "restore left no process to kill")
	}
	// 8. remove to finish, and nothing may be left.
	o = call(ark.Remove, stop)
	if expect("final remove", o, true, "remove must take the service down") {
		if alive := stillAlive(service); len(alive) > 0 {
			h.rep.add(Fail, "final remove", "remove exited 0 but left processes running: %s", describe(alive))
		} else {
			h.rep.add(Pass, "leftovers", "no process of the resource is left running")
		}
	}
}

// has reports whether the resource implements a.
func (h *harness) has(a ark.Action) bool {
	if h.o.Actions == nil {
		return h.info.Supports(a)
	}
	for _, x := range h.o.Actions {
		if x == a {
			return true
		}
	}
	return false
}

func (h *harness) call(ctx context.Context, a ark.Action, params map[string]string, env ark.EnvSpec) outcome {
	req := &ark.Request{
		Tag: h.o.Tag, ID: h.o.ID, Params: params, Env: env.Environ(),
		Timeout: h.timeout(a),
		Log: func(l ark.LogLine) {
			if h.o.Log != nil {
				h.mu.Lock()
				h.o.Log(a, l)
				h.mu.Unlock()
			}
		},
	}
	res, err := ark.Run(ctx, h.rt, a, req)
	return outcome{res: res, err: err}
}

func (h *harness) timeout(a ark.Action) time.Duration {
	if d, ok := h.o.Timeouts[a]; ok {
		return d
	}
	return h.info.DefaultTimeouts[a]
}

// verdict turns an outcome into a check line.
func (h *harness) verdict(step string, o outcome, wantOK bool, why string) Check {
	c := Check{Step: step, Duration: o.res.Duration}
	timeout := h.timeout(actionOf(step))
	switch {
	case o.err != nil && errors.Is(o.err, ark.ErrNotSupported):
		c.Verdict, c.Reason = Skip, "not supported: "+o.err.Error()
	case o.err != nil:
		c.Verdict, c.Reason = Fail, fmt.Sprintf("could not run: %v", o.err)
	case o.res.TimedOut:
		c.Verdict, c.Reason = Fail, fmt.Sprintf("timed out: %s", o.res.Message)
		if o.res.OK() {
			c.Verdict = Warn
			c.Reason += " (a quickCheck timeout counts as success, but the check tells nothing)"
		}
	case o.res.OK() == wantOK:
		c.Verdict = Pass
		c.Reason = fmt.Sprintf("exit %d as expected (%s)", o.res.Status, why)
	case wantOK:
		c.Verdict, c.Reason = Fail, fmt.Sprintf("%s, but it failed: %s", why, o.res.Message)
	default:
		c.Verdict, c.Reason = Fail, fmt.Sprintf("%s, but it succeeded: it does not detect the failure", why)
	}
	if c.Verdict == Pass && timeout > 0 && o.res.Duration > timeout/2 {
		c.Verdict = Warn
		c.Reason = fmt.Sprintf("took %s of its %s timeout: a loaded node will time out", o.res.Duration.Round(time.Millisecond), timeout)
	}
	h.rep.Checks = append(h.rep.Checks, c)
	for _, w := range o.res.Warnings {
		h.rep.add(Warn, step, "%s", w)
	}
	return c
}

func (h *harness) noLeftovers(step string, o outcome) {
	if len(o.left) > 0 {
		h.rep.add(Fail, step, "quickCheck must be read-only but left processes running: %s", describe(o.left))
		killAll(o.left)
	}
}

func actionOf(step string) ark.Action {
	for _, a := range ark.Actions {
		if len(step) >= len(a) && step[:len(a)] == string(a) {
			return a
		}
	}
	switch step {
	case "final remove":
		return ark.Remove
	}
	return ""
}

// env builds the DESIGN §4 environment a single node would give.
func (h *harness) env(a ark.Action, event, factor string) ark.EnvSpec {
	return ark.EnvSpec{
		Tag: h.o.Tag, ID: h.o.ID, Action: a, ResourceType: h.info.Type,
		Node: h.o.Node, Cluster: h.o.Cluster,
		Event: event, Factor: factor, Server: ark.ServerHome, Priority: 1,
		Group: h.o.Tag, Disk: ark.DiskSuccess,
	}
}

// waitGone waits (bounded) for killed processes to disappear.
func waitGone(ps []process) {
	deadline := time.Now().Add(5 * time.Second)
	for len(stillAlive(ps)) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}
