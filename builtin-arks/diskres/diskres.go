package main

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ark-ha/ark/sdk/ark"
)

// Version of the diskres kit.
const Version = "0.1.0"

// Parameter names.
const (
	pDevice   = "device"
	pMethod   = "method"
	pDuration = "lease_duration"
	pRenew    = "renew_interval"
	pOffset   = "offset"
	pTakeover = "takeover"
	pKey      = "key"
)

// Methods and takeover modes.
const (
	methodLease = "lease"
	methodSCSI3 = "scsi3"
	takeWait    = "wait"
	takeForce   = "force"
)

// minLease is the shortest lease_duration accepted: shorter leases turn
// a scheduling hiccup into a lost reservation.
const minLease = 100 * time.Millisecond

// DefaultQuickCheckTimeout is short: a quickCheck reads one block (or
// sends two SCSI commands), and a reservation is checked at short
// intervals (1 s in examples/hierarchy); the timeout must stay below the
// interval. A quickCheck that times out counts as a success with a
// warning, and the renewer, not quickCheck, decides when a lease is lost.
const DefaultQuickCheckTimeout = 500 * time.Millisecond

var info = ark.Info{
	Type:    "diskres",
	Version: Version,
	Doc: "Reserves a shared block device for the node that runs the failover group, " +
		"with a disk lease (any shared device) or SCSI-3 persistent reservations. " +
		"A node whose reservation is taken fails its quickCheck, so the group above it is removed there.",
	Params: []ark.ParamSpec{
		{Name: pDevice, Type: ark.TypePath, Required: true, Doc: "the shared block device, the same on every node (use a /dev/disk/by-id/ name); with method lease one block of it is overwritten: give it a small dedicated partition or LUN"},
		{Name: pMethod, Type: ark.TypeString, Default: methodLease, Doc: "lease (a lease record on the device, any shared device) or scsi3 (SCSI-3 persistent reservations, Write Exclusive - Registrants Only)"},
		{Name: pDuration, Type: ark.TypeDuration, Default: "10s", Doc: "lease: how long a holder that stopped renewing keeps the lease; another node takes it after seeing it unchanged this long (plus one renew_interval) on its own clock"},
		{Name: pRenew, Type: ark.TypeDuration, Doc: "lease: how often the holder renews; default lease_duration/4; must be less than lease_duration/2"},
		{Name: pOffset, Type: ark.TypeInt, Default: "0", Doc: "lease: byte offset of the lease block on the device, a multiple of its logical block size; that block is overwritten"},
		{Name: pTakeover, Type: ark.TypeString, Default: takeWait, Doc: "lease: wait (take a lease held by another node only once it expired) or force (take it at once)"},
		{Name: pKey, Type: ark.TypeString, Doc: "scsi3: this node's reservation key, 16 hex digits, not 0; default derived from the node name (FNV-1a 64)"},
	},
	Actions:         []ark.Action{ark.Restore, ark.Remove, ark.QuickCheck},
	DefaultTimeouts: map[ark.Action]time.Duration{ark.QuickCheck: DefaultQuickCheckTimeout},
}

// config is a resource's parameters, parsed.
type config struct {
	method   string
	device   string
	duration time.Duration
	renew    time.Duration
	offset   int64
	force    bool
	key      uint64 // 0: derive from the node name
}

// parseParams parses and checks params (defaults filled in). Every error
// names its parameter.
func parseParams(params map[string]string) (config, error) {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("parameter %q: %s", name, fmt.Sprintf(format, args...)))
	}
	c := config{method: params[pMethod], device: params[pDevice]}
	switch {
	case c.device == "":
		bad(pDevice, "missing: give the shared block device")
	case !filepath.IsAbs(c.device):
		bad(pDevice, "%q is not an absolute path", c.device)
	}
	switch c.method {
	case methodLease, methodSCSI3:
	default:
		bad(pMethod, "%q is not lease or scsi3", c.method)
	}
	if s := params[pDuration]; s != "" {
		d, err := time.ParseDuration(s)
		switch {
		case err != nil:
			bad(pDuration, "%q is not a duration", s)
		case d < minLease:
			bad(pDuration, "%s is shorter than %s", d, minLease)
		default:
			c.duration = d
		}
	}
	if c.duration > 0 {
		c.renew = c.duration / 4
		if s := params[pRenew]; s != "" {
			d, err := time.ParseDuration(s)
			switch {
			case err != nil:
				bad(pRenew, "%q is not a duration", s)
			case d <= 0:
				bad(pRenew, "%s is not positive", d)
			case d >= c.duration/2:
				bad(pRenew, "%s is not less than half of %s %s: a holder must be able to miss a renewal and still renew in time", d, pDuration, c.duration)
			default:
				c.renew = d
			}
		}
	}
	if s := params[pOffset]; s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		switch {
		case err != nil:
			bad(pOffset, "%q is not an integer", s)
		case n < 0:
			bad(pOffset, "%d is negative", n)
		case n%512 != 0:
			bad(pOffset, "%d is not a multiple of the logical block size (512 or 4096)", n)
		default:
			c.offset = n
		}
	}
	switch params[pTakeover] {
	case takeWait, "":
	case takeForce:
		c.force = true
	default:
		bad(pTakeover, "%q is not wait or force", params[pTakeover])
	}
	if s := params[pKey]; s != "" {
		k, err := parseKey(s)
		switch {
		case err != nil:
			bad(pKey, "%v", err)
		case c.method == methodLease:
			bad(pKey, "is a scsi3 reservation key: method lease does not use it")
		default:
			c.key = k
		}
	}
	if len(errs) > 0 {
		return c, ark.Misconfigured(errors.Join(errs...))
	}
	return c, nil
}

// parseKey reads a reservation key: 16 hex digits (an 0x prefix is
// allowed), not all zero (key 0 means "unregister" in PERSISTENT RESERVE
// OUT).
func parseKey(s string) (uint64, error) {
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(h) != 16 {
		return 0, fmt.Errorf("%q is not 16 hex digits", s)
	}
	k, err := strconv.ParseUint(h, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not 16 hex digits", s)
	}
	if k == 0 {
		return 0, fmt.Errorf("%q: key 0 is not a valid reservation key", s)
	}
	return k, nil
}

// nodeKey is the default reservation key of a node: FNV-1a 64 of its
// name, never 0.
func nodeKey(node string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(node))
	if k := h.Sum64(); k != 0 {
		return k
	}
	return 1
}

// fmtKey formats a reservation key as sg_persist does.
func fmtKey(k uint64) string { return fmt.Sprintf("0x%016x", k) }

// DiskRes implements ark.ResourceType for shared-disk reservations. It
// keeps the leases this process holds, with their renewers.
type DiskRes struct {
	ark.RecoverNotSupported // losing the disk must not be repaired by grabbing it back

	mu    sync.Mutex
	slots map[string]*slot // by device and offset
}

var _ ark.ResourceType = (*DiskRes)(nil)

// slot is the state of one lease in this process. act serialises the
// actions on it (the host runs one at a time per resource; the lock makes
// that hold also for two resources naming the same block).
type slot struct {
	act sync.Mutex
	h   *holder // nil when this process does not hold it
}

// New returns the diskres resource type.
func New() *DiskRes { return &DiskRes{slots: map[string]*slot{}} }

// Info implements ark.ResourceType.
func (*DiskRes) Info(context.Context) (ark.Info, error) { return info, nil }

// Validate checks the schema and the values; when the device exists on
// this node it also checks that it is a block device, that offset is
// aligned to its logical block size and, for scsi3, that it supports
// persistent reservations. A device missing here is not an error: the
// definition may be checked on a node that does not see the storage.
func (*DiskRes) Validate(ctx context.Context, params map[string]string) error {
	if err := info.ValidateParams(params); err != nil {
		return err
	}
	c, err := parseParams(info.WithDefaults(params))
	if err != nil {
		return err
	}
	bs, err := blockSize(c.device)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case errors.Is(err, errNotBlock):
		return ark.Misconfigured(fmt.Errorf("parameter %q: %w", pDevice, err))
	case err != nil:
		return nil // unreadable here (permissions, a path down): restore will say
	}
	if c.method == methodLease && c.offset%int64(bs) != 0 {
		return ark.Misconfigured(fmt.Errorf("parameter %q: %d is not a multiple of the logical block size %d of %s", pOffset, c.offset, bs, c.device))
	}
	if c.method == methodSCSI3 {
		if err := probePR(ctx, c.device); err != nil && errors.Is(err, errNoPR) {
			return ark.Misconfigured(fmt.Errorf("parameter %q: %w", pMethod, err))
		}
	}
	return nil
}

// who is the identity of this node, from the request environment.
type who struct{ cluster, node string }

// prepare parses the request's params and the node's identity; without
// NODE no action can know whose reservation it is.
func prepare(req *ark.Request) (config, who, error) {
	c, err := parseParams(req.Params)
	if err != nil {
		return c, who{}, err
	}
	w := who{cluster: req.Env["CLUSTER"], node: req.Env["NODE"]}
	if w.node == "" {
		return c, w, ark.Misconfigured(errors.New("no NODE in the request environment: diskres needs this node's name to own a reservation"))
	}
	if len(w.node) > nameLen || len(w.cluster) > nameLen {
		return c, w, ark.Misconfigured(fmt.Errorf("node name %q or cluster name %q is longer than %d bytes", w.node, w.cluster, nameLen))
	}
	if c.key == 0 {
		c.key = nodeKey(w.node)
	}
	return c, w, nil
}

func (k *DiskRes) slot(c config) *slot {
	key := fmt.Sprintf("%s@%d", c.device, c.offset)
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.slots[key]
	if s == nil {
		s = &slot{}
		k.slots[key] = s
	}
	return s
}

// Restore implements ark.ResourceType: take the reservation.
func (k *DiskRes) Restore(ctx context.Context, req *ark.Request) (ark.Result, error) {
	return k.run(ctx, req, (*DiskRes).leaseRestore, scsiRestore)
}

// Remove implements ark.ResourceType: give the reservation up.
func (k *DiskRes) Remove(ctx context.Context, req *ark.Request) (ark.Result, error) {
	return k.run(ctx, req, (*DiskRes).leaseRemove, scsiRemove)
}

// QuickCheck implements ark.ResourceType: is the reservation still ours?
func (k *DiskRes) QuickCheck(ctx context.Context, req *ark.Request) (ark.Result, error) {
	return k.run(ctx, req, (*DiskRes).leaseCheck, scsiCheck)
}

type (
	leaseAction func(*DiskRes, context.Context, *ark.Request, config, who) (ark.Result, error)
	scsiAction  func(context.Context, *ark.Request, config, who) (ark.Result, error)
)

// run applies the request's timeout to ctx, parses the request and runs
// the action of its method.
func (k *DiskRes) run(ctx context.Context, req *ark.Request, lease leaseAction, scsi scsiAction) (ark.Result, error) {
	start := time.Now()
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Timeout)
		defer cancel()
	}
	c, w, err := prepare(req)
	if err != nil {
		return ark.Result{}, err
	}
	var res ark.Result
	if c.method == methodSCSI3 {
		res, err = scsi(ctx, req, c, w)
	} else {
		res, err = lease(k, ctx, req, c, w)
	}
	res.Duration = time.Since(start)
	if err != nil {
		logf(req, slog.LevelError, "error", "%v", err)
	} else {
		level := slog.LevelInfo
		if !res.OK() {
			level = slog.LevelError
		}
		logf(req, level, "result", "%s", res.Message)
	}
	return res, err
}

// fail is a Result of an action that ran and failed.
func fail(format string, args ...any) ark.Result {
	return ark.Result{Status: 1, Message: fmt.Sprintf(format, args...)}
}

// ok is a Result of an action that succeeded.
func ok(format string, args ...any) ark.Result {
	return ark.Result{Message: fmt.Sprintf(format, args...)}
}

// logf sends one line to the host's log of the running action.
func logf(req *ark.Request, level slog.Level, code, format string, args ...any) {
	if req == nil || req.Log == nil {
		return
	}
	req.Log(ark.LogLine{Time: time.Now(), Level: level, Code: code, Message: fmt.Sprintf(format, args...)})
}
