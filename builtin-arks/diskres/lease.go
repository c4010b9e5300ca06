package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/ark-ha/ark/sdk/ark"
)

// forceAttempts bounds the retries of a forced takeover whose record the
// old holder overwrote with a renewal it had already in flight.
const forceAttempts = 3

// settle is how long a new holder waits between writing its record and
// reading it back. Two nodes that both found the lease free both write;
// the read-back shows each the last writer, so exactly one keeps it.
func (c config) settle() time.Duration { return min(c.renew, time.Second) }

// expiry is how long a lease held by another node must stay unchanged,
// on our monotonic clock, before we take it: the longer of the holder's
// and our lease, plus one renewal period as margin for clock rates and
// polling.
func (c config) expiry(r record) time.Duration { return max(c.duration, r.Duration) + c.renew }

// holder is a lease this process holds, with its renewer goroutine.
type holder struct {
	c    config
	w    who
	dev  *blockDev
	stop context.CancelFunc
	done chan struct{}

	sem    chan struct{} // a lock (capacity 1) serialising device I/O and the fields below
	gen    uint64
	seq    uint64
	lastOK time.Time // last successful renewal, monotonic
	lost   string    // why the lease is lost; "" while held
}

// startHolder starts renewing the lease of generation gen, last written
// with seq, on dev (which it takes over and closes when it stops).
func startHolder(c config, w who, dev *blockDev, gen, seq uint64) *holder {
	ctx, cancel := context.WithCancel(context.Background())
	h := &holder{c: c, w: w, dev: dev, stop: cancel, done: make(chan struct{}),
		sem: make(chan struct{}, 1), gen: gen, seq: seq, lastOK: time.Now()}
	go h.renewLoop(ctx)
	return h
}

// halt stops the renewer and waits for it, then closes the device.
func (h *holder) halt() {
	h.stop()
	<-h.done
	h.dev.Close()
}

// lock takes the holder's lock, or gives up when ctx ends: an action
// must not wait past its deadline behind a renewal stuck in I/O.
func (h *holder) lock(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *holder) unlock() { <-h.sem }

func (h *holder) renewLoop(ctx context.Context) {
	defer close(h.done)
	t := time.NewTicker(h.c.renew)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if !h.renew(ctx) {
				return
			}
		}
	}
}

// renew renews the lease once: read, and if the record is still ours
// (owner and generation) write it back with seq+1. It returns false once
// the lease is lost: taken by another node, or not renewed for a whole
// lease_duration because of I/O errors. The renewer logs through slog,
// which sdk.Serve sends to the host's log: no action is running.
func (h *holder) renew(ctx context.Context) bool {
	if h.lock(ctx) != nil {
		return false // halted
	}
	defer h.unlock()
	if h.lost != "" {
		return false
	}
	// Each I/O gets at most a lease: a hung device ends in "lost", not in
	// a renewer stuck forever.
	ioCtx, cancel := context.WithTimeout(ctx, h.c.duration)
	defer cancel()
	r, err := h.dev.readRecord(ioCtx, h.c.offset)
	if err == nil && !h.ours(r) {
		h.lost = fmt.Sprintf("device %s: reservation taken by node %s (generation %d)", h.c.device, r.Owner, r.Generation)
		if r.State != stateHeld {
			h.lost = fmt.Sprintf("device %s: reservation %s behind our back (we held generation %d)", h.c.device, r, h.gen)
		}
		slog.Error(h.lost, "device", h.c.device, "node", h.w.node)
		return false
	}
	if err == nil {
		next := r
		next.Seq = max(r.Seq, h.seq) + 1
		next.WrittenAt = time.Now().UnixNano()
		if err = h.dev.writeRecord(ioCtx, h.c.offset, next); err == nil {
			h.seq = next.Seq
			h.lastOK = time.Now()
			return true
		}
	}
	if ctx.Err() != nil {
		return false // halted
	}
	since := time.Since(h.lastOK)
	if since >= h.c.duration {
		h.lost = fmt.Sprintf("device %s: lease lost: not renewed for %s (last error: %v)", h.c.device, since.Round(time.Millisecond), err)
		slog.Error(h.lost, "device", h.c.device, "node", h.w.node)
		return false
	}
	slog.Warn(fmt.Sprintf("device %s: lease renewal failed, retrying: %v", h.c.device, err), "device", h.c.device, "node", h.w.node)
	return true
}

// ours reports whether r is this holder's lease (same owner and
// generation).
func (h *holder) ours(r record) bool { return r.heldBy(h.w.cluster, h.w.node) && r.Generation == h.gen }

// verify reads the record and reports whether the lease is still ours;
// when it is not, the holder is marked lost. The Result says what it
// found; lost is set when the lease is gone for good (an I/O error is
// a failure, not a loss: the renewer keeps trying).
func (h *holder) verify(ctx context.Context) (res ark.Result, lost bool) {
	if err := h.lock(ctx); err != nil {
		return fail("device %s: the action's time ran out waiting for a renewal in progress", h.c.device), false
	}
	defer h.unlock()
	if h.lost != "" {
		return fail("%s", h.lost), true
	}
	r, err := h.dev.readRecord(ctx, h.c.offset)
	switch {
	case err != nil:
		return failIO(ctx, h.c, "read the lease", err), false
	case !h.ours(r):
		h.lost = fmt.Sprintf("device %s: reservation taken by node %s (generation %d)", h.c.device, r.Owner, r.Generation)
		if r.State != stateHeld {
			h.lost = fmt.Sprintf("device %s: reservation %s behind our back (we held generation %d)", h.c.device, r, h.gen)
		}
		return fail("%s", h.lost), true
	}
	return ok("device %s: held by node %s (generation %d, renewal %d)", h.c.device, h.w.node, r.Generation, r.Seq), false
}

// openLease opens the device of c and checks the lease offset against
// it. The error is classed: a device missing here is NotInstalled, a
// misplaced offset Misconfigured.
func openLease(c config) (*blockDev, error) {
	d, err := openBlock(c.device)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, ark.NotInstalled(fmt.Errorf("device %s is not present on this node: %w", c.device, err))
	case errors.Is(err, errNotBlock):
		return nil, ark.Misconfigured(err)
	case err != nil:
		return nil, ark.Transient(err)
	}
	if err := d.checkOffset(c.offset); err != nil {
		d.Close()
		return nil, ark.Misconfigured(fmt.Errorf("parameter %q: %w", pOffset, err))
	}
	return d, nil
}

// leaseRestore takes the lease (see README.md for the rules).
func (k *DiskRes) leaseRestore(ctx context.Context, req *ark.Request, c config, w who) (ark.Result, error) {
	s := k.slot(c)
	s.act.Lock()
	defer s.act.Unlock()
	if h := s.h; h != nil {
		res, lost := h.verify(ctx)
		switch {
		case res.OK():
			return ok("device %s: already held by node %s (generation %d)", c.device, w.node, h.gen), nil
		case !lost:
			return res, nil // cannot tell: the renewer keeps trying
		}
		logf(req, slog.LevelWarn, "lost", "%s: taking it again", res.Message)
		h.halt() // lost: start over from what the disk says
		s.h = nil
	}
	d, err := openLease(c)
	if err != nil {
		return ark.Result{}, err
	}
	res, h := acquire(ctx, req, c, w, d)
	if h == nil {
		d.Close()
		return res, nil
	}
	s.h = h
	return res, nil
}

// acquire runs the acquisition on the open device d. It returns the
// holder when the lease is ours, or the failure.
func acquire(ctx context.Context, req *ark.Request, c config, w who, d *blockDev) (ark.Result, *holder) {
	r, err := d.readRecord(ctx, c.offset)
	var recErr *recordError
	switch {
	case errors.As(err, &recErr) && !c.force:
		return fail("device %s offset %d: %v: refusing to overwrite a block that holds no valid lease record; check %s, or take it with takeover: force", c.device, c.offset, recErr.err, pOffset), nil
	case errors.As(err, &recErr):
		logf(req, slog.LevelWarn, "forced", "device %s offset %d: %v: overwriting it (takeover: force)", c.device, c.offset, recErr.err)
		if errors.Is(err, errBadMagic) {
			r = record{}
		}
		// Otherwise the raw fields are all there is: bump the generation
		// found there, so that it still moves forward.
		r.State = stateReleased
	case err != nil:
		return failIO(ctx, c, "read the lease", err), nil
	}

	switch {
	case recErr != nil: // logged above
	case r.heldBy(w.cluster, w.node):
		// Ours already: the plugin restarted, or the daemon re-attached.
		// Keep the generation, renew once now, and renew from here on.
		next := r
		next.Seq++
		next.WrittenAt = time.Now().UnixNano()
		next.Duration = c.duration
		if err := d.writeRecord(ctx, c.offset, next); err != nil {
			return failIO(ctx, c, "renew the lease", err), nil
		}
		logf(req, slog.LevelInfo, "held", "device %s: the lease is already ours (generation %d): renewing it again", c.device, r.Generation)
		return ok("device %s: already held by node %s (generation %d)", c.device, w.node, r.Generation), startHolder(c, w, d, r.Generation, next.Seq)
	case r.free():
		logf(req, slog.LevelInfo, "take", "device %s: the lease is %s: taking it with generation %d", c.device, r, r.Generation+1)
	case c.force:
		logf(req, slog.LevelWarn, "forced", "device %s: forced takeover of the lease from node %s (generation %d) with generation %d", c.device, r.Owner, r.Generation, r.Generation+1)
	default:
		var res ark.Result
		if r, res = waitExpiry(ctx, req, c, d, r); !res.OK() {
			return res, nil
		}
	}

	prev := r
	for attempt := 1; ; attempt++ {
		mine := record{State: stateHeld, Generation: prev.Generation + 1, Duration: c.duration,
			WrittenAt: time.Now().UnixNano(), Cluster: w.cluster, Owner: w.node}
		if err := d.writeRecord(ctx, c.offset, mine); err != nil {
			release(d, c, w, mine.Generation)
			return failIO(ctx, c, "write the lease", err), nil
		}
		if err := sleep(ctx, c.settle()); err != nil {
			release(d, c, w, mine.Generation)
			return fail("device %s: the restore's time ran out while taking the lease (%v); released it again", c.device, err), nil
		}
		back, err := d.readRecord(ctx, c.offset)
		switch {
		case err != nil:
			release(d, c, w, mine.Generation)
			return failIO(ctx, c, "read the lease back", err), nil
		case back.sameLease(mine):
			msg := fmt.Sprintf("device %s: reserved by node %s (generation %d)", c.device, w.node, mine.Generation)
			if prev.State == stateHeld {
				msg += fmt.Sprintf(", taken over from node %s (generation %d)", prev.Owner, prev.Generation)
			}
			return ok("%s", msg), startHolder(c, w, d, mine.Generation, mine.Seq)
		case c.force && attempt < forceAttempts && back.Owner == prev.Owner && back.Generation == prev.Generation:
			// The old holder's renewal was in flight and landed over
			// ours; its next renewal will see our record.
			logf(req, slog.LevelWarn, "forced", "device %s: node %s renewed over our takeover; writing it again", c.device, back.Owner)
			prev = back
			continue
		}
		return fail("device %s: reserved by node %s (generation %d): it wrote the lease while we took it", c.device, back.Owner, back.Generation), nil
	}
}

// waitExpiry waits for the lease r, held by another node, to stay
// unchanged for its expiry time on our monotonic clock. It returns the
// record to take over (expired, or released meanwhile) or the failure:
// the holder renewed, another node took it, or ctx ended.
func waitExpiry(ctx context.Context, req *ark.Request, c config, d *blockDev, r record) (record, ark.Result) {
	wait := c.expiry(r)
	logf(req, slog.LevelInfo, "wait", "device %s: reserved by node %s (generation %d): waiting %s for its lease to expire", c.device, r.Owner, r.Generation, wait)
	start := time.Now()
	t := time.NewTicker(c.renew)
	defer t.Stop()
	var lastErr error
	for {
		select {
		case <-ctx.Done():
			why := ""
			if lastErr != nil {
				why = fmt.Sprintf("; last read error: %v", lastErr)
			}
			return r, fail("device %s: reserved by node %s (generation %d): the restore's time ran out after %s of the %s wait for its lease to expire%s",
				c.device, r.Owner, r.Generation, time.Since(start).Round(time.Millisecond), wait, why)
		case <-t.C:
		}
		now, err := d.readRecord(ctx, c.offset)
		var recErr *recordError
		switch {
		case errors.As(err, &recErr):
			return r, fail("%v: written during our wait for node %s's lease; refusing to take it", err, r.Owner)
		case err != nil:
			// No evidence either way: keep waiting; expiry needs a good
			// read at its end.
			lastErr = err
			continue
		case now.free():
			logf(req, slog.LevelInfo, "take", "device %s: node %s released the lease during our wait", c.device, r.Owner)
			return now, ok("")
		case now.Owner != r.Owner || now.Cluster != r.Cluster || now.Generation != r.Generation:
			return now, fail("device %s: reserved by node %s (generation %d), taken during our wait for node %s's lease", c.device, now.Owner, now.Generation, r.Owner)
		case !now.sameLease(r):
			return now, fail("device %s: reserved by node %s (generation %d), renewed during our wait", c.device, now.Owner, now.Generation)
		case time.Since(start) >= wait:
			logf(req, slog.LevelWarn, "expired", "device %s: the lease of node %s (generation %d) did not change for %s: it expired; taking it over", c.device, r.Owner, r.Generation, time.Since(start).Round(time.Millisecond))
			return now, ok("")
		}
	}
}

// release writes a released record over our lease of generation gen if
// the device still shows it (a restore that failed halfway cleans up). It
// has its own short deadline: it runs when the action's ctx may be over.
func release(d *blockDev, c config, w who, gen uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), min(c.duration, 2*time.Second))
	defer cancel()
	r, err := d.readRecord(ctx, c.offset)
	if err != nil || !r.heldBy(w.cluster, w.node) || r.Generation != gen {
		return
	}
	r.State = stateReleased
	r.Seq++
	r.WrittenAt = time.Now().UnixNano()
	_ = d.writeRecord(ctx, c.offset, r)
}

// failIO is the failure of an I/O step; it says so when the action's
// time ran out rather than the device failing.
func failIO(ctx context.Context, c config, what string, err error) ark.Result {
	if ctx.Err() != nil {
		return fail("device %s: the action's time ran out before it could %s", c.device, what)
	}
	return fail("device %s: cannot %s: %v", c.device, what, err)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// leaseRemove stops renewing and releases the lease if it still is ours.
func (k *DiskRes) leaseRemove(ctx context.Context, req *ark.Request, c config, w who) (ark.Result, error) {
	s := k.slot(c)
	s.act.Lock()
	defer s.act.Unlock()
	var gen uint64 // 0: not held in this process (it may have restarted)
	if h := s.h; h != nil {
		gen = h.gen
		h.halt()
		s.h = nil
		logf(req, slog.LevelInfo, "stop", "device %s: stopped renewing the lease (generation %d)", c.device, gen)
	}
	d, err := openLease(c)
	if err != nil {
		if ark.ClassOf(err) == ark.ClassNotInstalled {
			return ok("device %s: not held (the device is not present on this node)", c.device), nil
		}
		return ark.Result{}, err
	}
	defer d.Close()
	r, err := d.readRecord(ctx, c.offset)
	var recErr *recordError
	switch {
	case errors.As(err, &recErr):
		return ok("device %s: not held (%v)", c.device, recErr.err), nil
	case err != nil && gen != 0:
		res := ok("device %s: renewal stopped; could not release the lease (%v): it expires by itself after %s", c.device, err, c.duration)
		res.Warnings = []string{res.Message}
		return res, nil
	case err != nil:
		return failIO(ctx, c, "read the lease", err), nil
	case !r.heldBy(w.cluster, w.node):
		return ok("device %s: not held by node %s (the lease is %s)", c.device, w.node, r), nil
	case gen != 0 && r.Generation != gen:
		return ok("device %s: not held by node %s (the lease is at generation %d, we held %d)", c.device, w.node, r.Generation, gen), nil
	}
	r.State = stateReleased
	r.Seq++
	r.WrittenAt = time.Now().UnixNano()
	if err := d.writeRecord(ctx, c.offset, r); err != nil {
		if gen != 0 {
			res := ok("device %s: renewal stopped; could not release the lease (%v): it expires by itself after %s", c.device, err, c.duration)
			res.Warnings = []string{res.Message}
			return res, nil
		}
		return failIO(ctx, c, "release the lease", err), nil
	}
	return ok("device %s: released by node %s (generation %d)", c.device, w.node, r.Generation), nil
}

// leaseCheck reports whether the lease is ours per this process AND per
// the device. After a plugin restart (no renewer here) a lease the device
// still shows as ours and fresh is resumed.
func (k *DiskRes) leaseCheck(ctx context.Context, req *ark.Request, c config, w who) (ark.Result, error) {
	s := k.slot(c)
	s.act.Lock()
	defer s.act.Unlock()
	if h := s.h; h != nil {
		res, _ := h.verify(ctx)
		return res, nil
	}
	d, err := openLease(c)
	if err != nil {
		return ark.Result{}, err
	}
	r, err := d.readRecord(ctx, c.offset)
	switch {
	case err != nil:
		d.Close()
		return failIO(ctx, c, "read the lease", err), nil
	case r.State == stateHeld && !r.heldBy(w.cluster, w.node):
		d.Close()
		return fail("device %s: reservation taken by node %s (generation %d)", c.device, r.Owner, r.Generation), nil
	case !r.heldBy(w.cluster, w.node):
		d.Close()
		return fail("device %s: not held by node %s (the lease is %s)", c.device, w.node, r), nil
	}
	// Our own record: its time stamp is from this node's clock, so it may
	// be compared with ours.
	if age := time.Duration(time.Now().UnixNano() - r.WrittenAt); age >= c.duration {
		d.Close()
		return fail("device %s: our lease (generation %d) was last renewed %s ago, longer than %s: another node may be taking it over",
			c.device, r.Generation, age.Round(time.Millisecond), c.duration), nil
	}
	s.h = startHolder(c, w, d, r.Generation, r.Seq)
	logf(req, slog.LevelWarn, "resume", "device %s: the lease (generation %d) is ours but nothing in this process renewed it (the plugin restarted?): renewing it again", c.device, r.Generation)
	return ok("device %s: held by node %s (generation %d); renewal resumed", c.device, w.node, r.Generation), nil
}
