package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ark-ha/ark/sdk/ark"
)

// Version of the ip kit.
const Version = "0.1.0"

// DefaultQuickCheckTimeout bounds a quickCheck: a few netlink reads and
// at most ping_timeout of pinging. It is kept below 5 s so that a 5 s
// monitoring interval works without setting timeouts.quickCheck.
const DefaultQuickCheckTimeout = 4 * time.Second

var info = ark.Info{
	Type:    "ip",
	Version: Version,
	Doc: "A virtual IP address (IPv4 or IPv6) that moves with its group: restore checks that nobody on the LAN " +
		"answers for it (ARP probe / duplicate address detection), adds it to the interface and announces it " +
		"(gratuitous ARP / unsolicited neighbor advertisement); remove deletes it; quickCheck checks the address, " +
		"the link and optionally that a ping target (e.g. the gateway) answers.",
	Params: []ark.ParamSpec{
		{Name: pAddress, Type: ark.TypeString, Required: true,
			Doc: "the virtual IP with its prefix length: 192.0.2.10/24 or 2001:db8::10/64 (use /32 or /128 for a host address)"},
		{Name: pInterface, Type: ark.TypeString,
			Doc: "the link to put the address on; default: the only link that already has an address in the same subnet"},
		{Name: pPingTargets, Type: ark.TypeString,
			Doc: "comma-separated IP addresses (e.g. the gateway) quickCheck pings; it fails only if none answers; empty: no ping check"},
		{Name: pPingTimeout, Type: ark.TypeDuration, Default: "1s",
			Doc: "how long quickCheck waits for a ping target to answer (3 echo requests are sent in that time)"},
		{Name: pConflictRetries, Type: ark.TypeInt, Default: "5",
			Doc: "how many times restore checks again, conflict_interval apart, while another host answers for the address, before it fails"},
		{Name: pConflictInterval, Type: ark.TypeDuration, Default: "30s",
			Doc: "time between two duplicate-address checks of restore"},
		{Name: pAnnounceCount, Type: ark.TypeInt, Default: "5",
			Doc: "gratuitous ARPs (IPv4) or unsolicited neighbor advertisements (IPv6) sent at once after the address is added; 0: none"},
		{Name: pAnnounceRepeatAfter, Type: ark.TypeDuration, Default: "5s",
			Doc: "after restore, a second burst of announce_count announcements is sent this long later, in the background; 0: no second burst"},
	},
	Actions:         ark.Actions,
	DefaultTimeouts: map[ark.Action]time.Duration{ark.QuickCheck: DefaultQuickCheckTimeout},
}

// IP implements ark.ResourceType for virtual IP addresses.
type IP struct {
	bursts later // second announcement bursts pending
}

var _ ark.ResourceType = (*IP)(nil)

// New returns the ip resource type.
func New() *IP { return &IP{} }

// Info implements ark.ResourceType.
func (k *IP) Info(context.Context) (ark.Info, error) { return info, nil }

// Validate checks the schema, then the values: the address and its prefix,
// the interface name, the ping targets, the counts and durations.
func (k *IP) Validate(_ context.Context, params map[string]string) error {
	var all []error
	generic := info.ValidateParams(params)
	if generic != nil {
		all = append(all, generic)
	}
	_, errs := parseConfig(info.WithDefaults(params))
	for _, e := range errs {
		// A parameter the schema check already blamed is not blamed twice.
		if generic != nil && strings.Contains(generic.Error(), fmt.Sprintf("%q", paramNamed(e))) {
			continue
		}
		all = append(all, e)
	}
	if len(all) > 0 {
		return ark.Misconfigured(errors.Join(all...))
	}
	return nil
}

// run is one action in progress.
type run struct {
	action   ark.Action
	req      *ark.Request
	c        config
	warnings []string
}

func (r *run) logf(level slog.Level, code, format string, args ...any) {
	if r.req.Log == nil {
		return
	}
	r.req.Log(ark.LogLine{Time: time.Now(), Level: level, Code: code, Message: fmt.Sprintf(format, args...)})
}

// warn logs a warning and returns it with the result, so that the host
// raises it as an event.
func (r *run) warn(code, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.warnings = append(r.warnings, msg)
	r.logf(slog.LevelWarn, code, "%s", msg)
}

// fail is the result of an action that ran and failed; it is logged.
func (r *run) fail(code, format string, args ...any) ark.Result {
	msg := fmt.Sprintf(format, args...)
	r.logf(slog.LevelError, code, "%s", msg)
	return ark.Result{Status: 1, Message: msg}
}

// ok is the result of an action that succeeded; it is logged.
func (r *run) ok(level slog.Level, code, format string, args ...any) ark.Result {
	msg := fmt.Sprintf(format, args...)
	r.logf(level, code, "%s", msg)
	return ark.Result{Message: msg}
}

// act is the frame every action runs in: it parses the parameters,
// bounds the action by req.Timeout, and turns what fn returns into the
// contract's answer. Classed errors (misconfigured, not installed) and
// the host's cancellation are errors; any other error means the action
// ran and failed: Status 1 with the error as message.
func (k *IP) act(ctx context.Context, a ark.Action, req *ark.Request, fn func(context.Context, *run) (ark.Result, error)) (ark.Result, error) {
	start := time.Now()
	if err := ctx.Err(); err != nil {
		return ark.Result{}, fmt.Errorf("%s %s: %w", a, req.Tag, err)
	}
	c, errs := parseConfig(req.Params)
	if len(errs) > 0 {
		return ark.Result{}, ark.Misconfigured(fmt.Errorf("%s %s: %w", a, req.Tag, errors.Join(errs...)))
	}
	actx := ctx
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(ctx, req.Timeout)
		defer cancel()
	}
	r := &run{action: a, req: req, c: c}
	res, err := fn(actx, r)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return ark.Result{}, fmt.Errorf("%s %s: %w", a, req.Tag, ctx.Err())
	case actx.Err() != nil:
		res = r.fail("TIMEOUT", "%s of %s timed out after %s", a, c.addr, req.Timeout)
		res.TimedOut = true
	case ark.ClassOf(err) != ark.ClassNone:
		r.logf(slog.LevelError, "ERROR", "%s of %s: %v", a, c.addr, err)
		return ark.Result{}, fmt.Errorf("%s %s: %w", a, req.Tag, err)
	default:
		res = r.fail("FAILED", "%s of %s failed: %v", a, c.addr, err)
	}
	res.Duration = time.Since(start)
	res.Warnings = append(res.Warnings, r.warnings...)
	return res, nil
}

// Restore implements ark.ResourceType: it adds the VIP to its link after
// checking that no other host answers for it, and announces it. A VIP
// already on the link is re-announced only.
func (k *IP) Restore(ctx context.Context, req *ark.Request) (ark.Result, error) {
	return k.act(ctx, ark.Restore, req, k.restore)
}

// Remove implements ark.ResourceType: it cancels the pending second
// announcement and deletes the VIP from every link of this node that
// holds it.
func (k *IP) Remove(ctx context.Context, req *ark.Request) (ark.Result, error) {
	return k.act(ctx, ark.Remove, req, k.remove)
}

// QuickCheck implements ark.ResourceType: the VIP is on its link, the
// link is up, and a ping target answers (when any are set). Read-only.
func (k *IP) QuickCheck(ctx context.Context, req *ark.Request) (ark.Result, error) {
	return k.act(ctx, ark.QuickCheck, req, k.quickCheck)
}

// Recover implements ark.ResourceType: after a failed quickCheck it
// re-announces the VIP, or re-adds it (after a single conflict check)
// when it vanished, then checks the ping targets again.
func (k *IP) Recover(ctx context.Context, req *ark.Request) (ark.Result, error) {
	return k.act(ctx, ark.Recover, req, k.recover)
}

func (k *IP) restore(ctx context.Context, r *run) (ark.Result, error) {
	c := r.c
	link, h, ok, res, err := target(r, "bring up")
	if err != nil || !res.OK() {
		return res, err
	}
	name := link.Attrs().Name
	if ok {
		if !c.v6() || !(h.dadFailed() || h.tentative()) {
			what := k.announce(ctx, r, link)
			return r.ok(slog.LevelInfo, "ALREADY_PRESENT", "%s already present on %s%s", c.addr, name, reannounced(what)), nil
		}
		// Left by an interrupted or failed DAD: start over.
		r.logf(slog.LevelWarn, "STALE", "%s is on %s but not usable (%s); deleting it and adding it again", c.addr, name, dadState(h))
		if err := delAddr(h); err != nil {
			return ark.Result{}, err
		}
	}
	if msg, err := claim(ctx, r, link, c.conflictRetries); err != nil {
		return ark.Result{}, err
	} else if msg != "" {
		return r.fail("CONFLICT", "%s", msg), nil
	}
	what := k.announce(ctx, r, link)
	later := k.repeat(link, c)
	return r.ok(slog.LevelInfo, "ADDED", "added %s on %s%s%s", c.addr, name, announced(what), later), nil
}

// target finds the link the VIP belongs on, checks that it is up and
// that the VIP is on no other link of this node, and returns the link and
// the VIP's entry there (ok: it is present). A failed result is the
// action's failure, verb saying what could not be done.
func target(r *run, verb string) (link netlink.Link, h held, ok bool, res ark.Result, err error) {
	c := r.c
	if link, err = findLink(c); err != nil {
		return nil, held{}, false, ark.Result{}, err
	}
	name, idx := link.Attrs().Name, link.Attrs().Index
	why, err := linkDown(link)
	if err != nil {
		return nil, held{}, false, ark.Result{}, err
	}
	if why != "" {
		return nil, held{}, false, r.fail("LINK_DOWN", "cannot %s %s here: %s", verb, c.addr, why), nil
	}
	hs, err := holders(c)
	if err != nil {
		return nil, held{}, false, ark.Result{}, err
	}
	if res, bad := elsewhere(r, hs, idx, name); bad {
		return nil, held{}, false, res, nil
	}
	h, ok = on(hs, idx)
	return link, h, ok, ark.Result{}, nil
}

// elsewhere fails the action when the VIP is on another link of this node
// than the one it belongs on: moving it silently would hide a
// configuration mistake.
func elsewhere(r *run, hs []held, idx int, name string) (ark.Result, bool) {
	for _, h := range hs {
		if h.link != idx {
			return r.fail("WRONG_LINK", "%s is already on interface %s of this node, not on %s: delete it there or set parameter %q", r.c.ip(), linkName(h.link), name, pInterface), true
		}
	}
	return ark.Result{}, false
}

func dadState(h held) string {
	if h.dadFailed() {
		return "duplicate address detection failed"
	}
	return "still tentative"
}

// claim makes the VIP ours on link: it checks that no other host answers
// for it, up to 1+retries times conflict_interval apart, and adds it.
// On a lasting conflict it returns the failure message (naming address,
// interface and the MAC that answered) and adds nothing.
func claim(ctx context.Context, r *run, link netlink.Link, retries int) (string, error) {
	c := r.c
	name := link.Attrs().Name
	checks := retries + 1
	for i := 1; ; i++ {
		var mac net.HardwareAddr
		if c.v6() {
			if dadDisabled(link) {
				r.warn("NO_DAD", "duplicate address detection is off on %s (accept_dad=0): %s is added unchecked", name, c.ip())
			}
			m, err := addWithDAD(ctx, c, link)
			if err == nil {
				return "", nil
			}
			if !errors.Is(err, errDAD) {
				return "", err
			}
			mac = m
		} else {
			if why := noNeighbours(link); why != "" {
				r.warn("NO_PROBE", "no duplicate-address check for %s: %s", c.ip(), why)
			} else {
				m, err := probeARP(ctx, iface(link), c.ip())
				if err != nil {
					return "", err
				}
				mac = m
			}
			if mac == nil {
				if err := netlink.AddrAdd(link, vipAddr(c)); err != nil && !errors.Is(err, unix.EEXIST) {
					return "", fmt.Errorf("add %s to %s: %w", c.addr, name, err)
				}
				return "", nil
			}
		}
		who := "another host (its MAC was not seen)"
		if mac != nil {
			who = "MAC " + mac.String()
		}
		if i >= checks {
			how := "checked once"
			if checks > 1 {
				how = fmt.Sprintf("checked %d times, %s apart", checks, c.conflictInterval)
			}
			return fmt.Sprintf("address %s is already in use on %s by %s (%s): not added", c.ip(), name, who, how), nil
		}
		r.logf(slog.LevelWarn, "CONFLICT", "address %s answers on %s from %s (check %d of %d); checking again in %s", c.ip(), name, who, i, checks, c.conflictInterval)
		t := time.NewTimer(c.conflictInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", ctx.Err()
		case <-t.C:
		}
	}
}

// announce sends one burst of announcements for the VIP on link and
// says what it sent ("" for nothing). A failure to announce is a
// warning, not a failure: the address is up, and neighbours with a
// stale entry will ask again when it expires.
func (k *IP) announce(ctx context.Context, r *run, link netlink.Link) string {
	c := r.c
	if c.announceCount == 0 {
		return ""
	}
	if why := noNeighbours(link); why != "" {
		r.warn("NO_ANNOUNCE", "%s not announced: %s", c.ip(), why)
		return ""
	}
	if err := send(ctx, c, iface(link)); err != nil {
		r.warn("ANNOUNCE", "announcing %s: %v", c.ip(), err)
		return ""
	}
	return burst(c)
}

// send sends one burst for the VIP out of ifi.
func send(ctx context.Context, c config, ifi *net.Interface) error {
	if c.v6() {
		return announceNA(ctx, ifi, c.ip(), c.announceCount)
	}
	return announceARP(ctx, ifi, c.ip(), c.announceCount)
}

// burst describes one burst of announcements.
func burst(c config) string {
	if c.v6() {
		return fmt.Sprintf("%d unsolicited neighbor advertisements", c.announceCount)
	}
	return fmt.Sprintf("%d gratuitous ARPs", c.announceCount)
}

func announced(what string) string {
	if what == "" {
		return ""
	}
	return ", announced it (" + what + ")"
}

func reannounced(what string) string {
	if what == "" {
		return ""
	}
	return "; re-announced it (" + what + ")"
}

// repeat schedules the second burst, keepalived's garp_master_delay: sent
// by this process after the action has returned, so that neighbours that
// missed the first (a switch port still coming up) learn the move. It is
// skipped if by then the VIP is no longer on link. It says what it
// scheduled.
func (k *IP) repeat(link netlink.Link, c config) string {
	if c.announceCount == 0 || c.announceRepeatAfter == 0 || noNeighbours(link) != "" {
		return ""
	}
	ifi := iface(link)
	k.bursts.schedule(c.ip().String(), c.announceRepeatAfter, func(ctx context.Context) {
		hs, err := holders(c)
		h, ok := on(hs, ifi.Index)
		if err != nil || !ok || (c.v6() && (h.tentative() || h.dadFailed())) {
			slog.Info("second announcement skipped: the address is no longer on its interface", "address", c.ip().String(), "interface", ifi.Name)
			return
		}
		if err := send(ctx, c, ifi); err != nil {
			if ctx.Err() == nil {
				slog.Warn("second announcement failed", "address", c.ip().String(), "interface", ifi.Name, "err", err)
			}
			return
		}
		slog.Info("second announcement sent", "address", c.ip().String(), "interface", ifi.Name, "burst", burst(c))
	})
	return fmt.Sprintf("; %d more in %s", c.announceCount, c.announceRepeatAfter)
}

func (k *IP) remove(_ context.Context, r *run) (ark.Result, error) {
	c := r.c
	note := ""
	if k.bursts.cancel(c.ip().String()) {
		note = " (its pending second announcement is cancelled)"
	}
	hs, err := holders(c)
	if err != nil {
		return ark.Result{}, err
	}
	if len(hs) == 0 {
		return r.ok(slog.LevelInfo, "ALREADY_ABSENT", "%s already absent%s", c.ip(), note), nil
	}
	var names []string
	for _, h := range hs {
		if err := delAddr(h); err != nil {
			return ark.Result{}, err
		}
		names = append(names, linkName(h.link))
	}
	return r.ok(slog.LevelInfo, "DELETED", "deleted %s from %s%s", c.ip(), strings.Join(names, ", "), note), nil
}

func (k *IP) quickCheck(ctx context.Context, r *run) (ark.Result, error) {
	c := r.c
	link, err := findLink(c)
	if err != nil {
		// Where the address belongs cannot be told: it is not healthy
		// here.
		return r.fail("NO_LINK", "%v", err), nil
	}
	name, idx := link.Attrs().Name, link.Attrs().Index
	var bad []string
	down, err := linkDown(link)
	if err != nil {
		return ark.Result{}, err
	}
	if down != "" {
		bad = append(bad, down)
	}
	hs, err := holders(c)
	if err != nil {
		return ark.Result{}, err
	}
	h, ok := on(hs, idx)
	switch {
	case !ok && len(hs) > 0:
		bad = append(bad, fmt.Sprintf("%s is not on %s (it is on %s)", c.ip(), name, linkName(hs[0].link)))
	case !ok:
		bad = append(bad, fmt.Sprintf("%s is not on %s", c.ip(), name))
	case h.dadFailed():
		bad = append(bad, fmt.Sprintf("%s failed duplicate address detection on %s", c.ip(), name))
	case h.tentative():
		bad = append(bad, fmt.Sprintf("%s is still tentative (duplicate address detection running) on %s", c.ip(), name))
	}
	pinged := ""
	if len(c.pingTargets) > 0 && down == "" {
		who, ok, why := pingAny(ctx, c.pingTargets, c.pingTimeout)
		if err := ctx.Err(); err != nil {
			return ark.Result{}, err
		}
		if ok {
			pinged = fmt.Sprintf(", ping target %s answered", who)
		} else {
			bad = append(bad, fmt.Sprintf("no ping target answered within %s (%s)", c.pingTimeout, why))
		}
	}
	if len(bad) > 0 {
		return r.fail("UNHEALTHY", "%s", strings.Join(bad, "; ")), nil
	}
	return r.ok(slog.LevelDebug, "HEALTHY", "%s is on %s, link up%s", c.addr, name, pinged), nil
}

func (k *IP) recover(ctx context.Context, r *run) (ark.Result, error) {
	c := r.c
	link, h, ok, res, err := target(r, "recover")
	if err != nil || !res.OK() {
		return res, err
	}
	name := link.Attrs().Name
	var did string
	if ok && !(c.v6() && (h.dadFailed() || h.tentative())) {
		// Still ours: quickCheck failed on the link or the ping targets;
		// telling the neighbours again is all that can be done here.
		did = "re-announced " + c.ip().String() + " on " + name
		if what := k.announce(ctx, r, link); what != "" {
			did += " (" + what + ")"
		}
	} else {
		if ok {
			if err := delAddr(h); err != nil {
				return ark.Result{}, err
			}
		}
		// It vanished: someone may have taken it meanwhile, so check
		// once (no retries: waiting is failover's business) and re-add.
		if msg, err := claim(ctx, r, link, 0); err != nil {
			return ark.Result{}, err
		} else if msg != "" {
			return r.fail("CONFLICT", "%s", msg), nil
		}
		did = "re-added " + c.addr.String() + " on " + name + announced(k.announce(ctx, r, link)) + k.repeat(link, c)
	}
	if len(c.pingTargets) > 0 {
		who, ok, why := pingAny(ctx, c.pingTargets, c.pingTimeout)
		if err := ctx.Err(); err != nil {
			return ark.Result{}, err
		}
		if !ok {
			return r.fail("UNHEALTHY", "%s, but no ping target answered within %s (%s)", did, c.pingTimeout, why), nil
		}
		did += fmt.Sprintf("; ping target %s answered", who)
	}
	return r.ok(slog.LevelInfo, "RECOVERED", "%s", did), nil
}
