package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/ark-ha/ark/sdk/ark"
)

// PERSISTENT RESERVE IN / OUT (SPC-4 6.15, 6.16).
const (
	opPRIn  = 0x5e
	opPROut = 0x5f

	saReadKeys        = 0x00
	saReadReservation = 0x01

	saRegister        = 0x00
	saReserve         = 0x01
	saRelease         = 0x02
	saPreemptAbort    = 0x05
	saRegisterIgnore  = 0x06
	scopeLU           = 0x0
	typeWERO          = 0x5 // Write Exclusive – Registrants Only
	prOutParamLen     = 24
	prInAllocLen      = 8 + 8*255 // header and up to 255 keys
	readReservationSz = 8 + 16
)

var prOutNames = map[byte]string{
	saRegister: "REGISTER", saReserve: "RESERVE", saRelease: "RELEASE",
	saPreemptAbort: "PREEMPT AND ABORT", saRegisterIgnore: "REGISTER AND IGNORE EXISTING KEY",
}

// prInCDB builds a PERSISTENT RESERVE IN CDB (10 bytes).
func prInCDB(sa byte, alloc uint16) []byte {
	cdb := make([]byte, 10)
	cdb[0] = opPRIn
	cdb[1] = sa & 0x1f
	binary.BigEndian.PutUint16(cdb[7:9], alloc)
	return cdb
}

// prOutCDB builds a PERSISTENT RESERVE OUT CDB (10 bytes) with a
// parameter list of prOutParamLen bytes.
func prOutCDB(sa, scope, typ byte) []byte {
	cdb := make([]byte, 10)
	cdb[0] = opPROut
	cdb[1] = sa & 0x1f
	cdb[2] = scope<<4 | typ&0x0f
	binary.BigEndian.PutUint32(cdb[5:9], prOutParamLen)
	return cdb
}

// prOutParams builds the basic 24-byte PERSISTENT RESERVE OUT parameter
// list: reservation key, service action reservation key; no APTPL (a
// power cycle drops the reservation, and the cluster takes it again).
func prOutParams(key, saKey uint64) []byte {
	b := make([]byte, prOutParamLen)
	binary.BigEndian.PutUint64(b[0:8], key)
	binary.BigEndian.PutUint64(b[8:16], saKey)
	return b
}

// parseReadKeys parses a READ KEYS reply: generation, then the keys.
func parseReadKeys(b []byte) (gen uint32, keys []uint64, err error) {
	if len(b) < 8 {
		return 0, nil, fmt.Errorf("READ KEYS reply of %d bytes, need 8", len(b))
	}
	gen = binary.BigEndian.Uint32(b[0:4])
	n := int(binary.BigEndian.Uint32(b[4:8]))
	if n%8 != 0 {
		return gen, nil, fmt.Errorf("READ KEYS reply: additional length %d is not a multiple of 8", n)
	}
	if 8+n > len(b) {
		return gen, nil, fmt.Errorf("READ KEYS reply truncated: %d bytes of keys announced, %d received", n, len(b)-8)
	}
	for i := 8; i < 8+n; i += 8 {
		keys = append(keys, binary.BigEndian.Uint64(b[i:i+8]))
	}
	return gen, keys, nil
}

// reservation is the reply of READ RESERVATION.
type reservation struct {
	Key   uint64
	Scope byte
	Type  byte
}

// parseReadReservation parses a READ RESERVATION reply; nil when no
// reservation is held.
func parseReadReservation(b []byte) (gen uint32, r *reservation, err error) {
	if len(b) < 8 {
		return 0, nil, fmt.Errorf("READ RESERVATION reply of %d bytes, need 8", len(b))
	}
	gen = binary.BigEndian.Uint32(b[0:4])
	switch n := binary.BigEndian.Uint32(b[4:8]); {
	case n == 0:
		return gen, nil, nil
	case n < 16:
		return gen, nil, fmt.Errorf("READ RESERVATION reply: additional length %d, want 16", n)
	case len(b) < 24:
		return gen, nil, fmt.Errorf("READ RESERVATION reply truncated: %d bytes, need 24", len(b))
	}
	return gen, &reservation{Key: binary.BigEndian.Uint64(b[8:16]), Scope: b[21] >> 4, Type: b[21] & 0x0f}, nil
}

// prDev is a device spoken to in persistent reservations.
type prDev struct{ *sgDev }

func (d prDev) readKeys(ctx context.Context) ([]uint64, error) {
	buf := make([]byte, prInAllocLen)
	n, err := d.execRetry(ctx, "PERSISTENT RESERVE IN/READ KEYS", prInCDB(saReadKeys, prInAllocLen), sgDxferFrom, buf)
	if err != nil {
		return nil, err
	}
	_, keys, err := parseReadKeys(buf[:n])
	return keys, err
}

func (d prDev) readReservation(ctx context.Context) (*reservation, error) {
	buf := make([]byte, readReservationSz)
	n, err := d.execRetry(ctx, "PERSISTENT RESERVE IN/READ RESERVATION", prInCDB(saReadReservation, readReservationSz), sgDxferFrom, buf)
	if err != nil {
		return nil, err
	}
	_, r, err := parseReadReservation(buf[:n])
	return r, err
}

func (d prDev) out(ctx context.Context, sa, typ byte, key, saKey uint64) error {
	_, err := d.execRetry(ctx, "PERSISTENT RESERVE OUT/"+prOutNames[sa], prOutCDB(sa, scopeLU, typ), sgDxferToDev, prOutParams(key, saKey))
	return err
}

// openPR opens the device for persistent reservations; errors are
// classed (missing here: NotInstalled).
func openPR(c config) (prDev, error) {
	d, err := openSG(c.device)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return prDev{}, ark.NotInstalled(fmt.Errorf("device %s is not present on this node: %w", c.device, err))
	case err != nil:
		return prDev{}, ark.Transient(err)
	}
	return prDev{d}, nil
}

// classify turns a PR error into the action's outcome: a device without
// PR is Misconfigured (no node can do it), anything else a failure.
func classify(c config, what string, err error) (ark.Result, error) {
	if unsupported(err) {
		return ark.Result{}, ark.Misconfigured(&noPRError{dev: c.device, cause: err})
	}
	return fail("device %s: %s: %v", c.device, what, err), nil
}

// probePR sends READ KEYS (read-only) to see whether path supports
// persistent reservations; errNoPR when it does not.
func probePR(ctx context.Context, path string) error {
	d, err := openSG(path)
	if err != nil {
		return err
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := (prDev{d}).readKeys(ctx); err != nil {
		if unsupported(err) {
			return &noPRError{dev: path, cause: err}
		}
		return err
	}
	return nil
}

// scsiRestore registers our key and takes the reservation, preempting
// another holder's key.
func scsiRestore(ctx context.Context, req *ark.Request, c config, w who) (ark.Result, error) {
	d, err := openPR(c)
	if err != nil {
		return ark.Result{}, err
	}
	defer d.Close()
	if err := d.out(ctx, saRegisterIgnore, 0, 0, c.key); err != nil {
		return classify(c, "register key "+fmtKey(c.key), err)
	}
	r, err := d.readReservation(ctx)
	if err != nil {
		return classify(c, "read the reservation", err)
	}
	switch {
	case r != nil && r.Key == c.key:
		return ok("device %s: already reserved by node %s (key %s)", c.device, w.node, fmtKey(c.key)), nil
	case r == nil:
		if err := d.out(ctx, saReserve, typeWERO, c.key, 0); err != nil {
			var se *scsiError
			if errors.As(err, &se) && se.Status == statusReservationConflict {
				if now, err2 := d.readReservation(ctx); err2 == nil && now != nil {
					return fail("device %s: reserved by key %s while we reserved it", c.device, fmtKey(now.Key)), nil
				}
			}
			return classify(c, "reserve", err)
		}
		logf(req, slog.LevelInfo, "reserve", "device %s: reserved with key %s (Write Exclusive - Registrants Only)", c.device, fmtKey(c.key))
	default:
		logf(req, slog.LevelWarn, "preempt", "device %s: reserved by key %s: preempting it (PREEMPT AND ABORT) with key %s", c.device, fmtKey(r.Key), fmtKey(c.key))
		if err := d.out(ctx, saPreemptAbort, typeWERO, c.key, r.Key); err != nil {
			return classify(c, "preempt key "+fmtKey(r.Key), err)
		}
	}
	now, err := d.readReservation(ctx)
	switch {
	case err != nil:
		return classify(c, "read the reservation back", err)
	case now == nil:
		return fail("device %s: no reservation after reserving it with key %s", c.device, fmtKey(c.key)), nil
	case now.Key != c.key:
		return fail("device %s: reserved by key %s, not ours (%s)", c.device, fmtKey(now.Key), fmtKey(c.key)), nil
	}
	msg := fmt.Sprintf("device %s: reserved by node %s (key %s)", c.device, w.node, fmtKey(c.key))
	if r != nil {
		msg += ", preempting key " + fmtKey(r.Key)
	}
	return ok("%s", msg), nil
}

// scsiCheck reports whether our key is registered and holds the
// reservation.
func scsiCheck(ctx context.Context, _ *ark.Request, c config, w who) (ark.Result, error) {
	d, err := openPR(c)
	if err != nil {
		return ark.Result{}, err
	}
	defer d.Close()
	keys, err := d.readKeys(ctx)
	if err != nil {
		return classify(c, "read the registered keys", err)
	}
	r, err := d.readReservation(ctx)
	if err != nil {
		return classify(c, "read the reservation", err)
	}
	registered := false
	for _, k := range keys {
		registered = registered || k == c.key
	}
	switch {
	case r != nil && r.Key != c.key:
		return fail("device %s: reservation taken by key %s", c.device, fmtKey(r.Key)), nil
	case !registered:
		return fail("device %s: key %s of node %s is not registered (preempted?)", c.device, fmtKey(c.key), w.node), nil
	case r == nil:
		return fail("device %s: not reserved (our key %s is registered)", c.device, fmtKey(c.key)), nil
	}
	return ok("device %s: reserved by node %s (key %s)", c.device, w.node, fmtKey(c.key)), nil
}

// scsiRemove releases our reservation and unregisters our key.
func scsiRemove(ctx context.Context, req *ark.Request, c config, w who) (ark.Result, error) {
	d, err := openPR(c)
	if err != nil {
		if ark.ClassOf(err) == ark.ClassNotInstalled {
			return ok("device %s: not reserved (the device is not present on this node)", c.device), nil
		}
		return ark.Result{}, err
	}
	defer d.Close()
	r, err := d.readReservation(ctx)
	switch {
	case err != nil && unsupported(err):
		return ok("device %s: not reserved (it does not support persistent reservations: %v)", c.device, err), nil
	case err != nil:
		return classify(c, "read the reservation", err)
	}
	released := false
	if r != nil && r.Key == c.key {
		if err := d.out(ctx, saRelease, r.Type, c.key, 0); err != nil {
			return classify(c, "release", err)
		}
		released = true
		logf(req, slog.LevelInfo, "release", "device %s: released the reservation of key %s", c.device, fmtKey(c.key))
	}
	keys, err := d.readKeys(ctx)
	if err != nil {
		return classify(c, "read the registered keys", err)
	}
	registered := false
	for _, k := range keys {
		registered = registered || k == c.key
	}
	if !registered {
		if released {
			return ok("device %s: released by node %s (key %s)", c.device, w.node, fmtKey(c.key)), nil
		}
		return ok("device %s: not registered (key %s of node %s)", c.device, fmtKey(c.key), w.node), nil
	}
	if err := d.out(ctx, saRegister, 0, c.key, 0); err != nil {
		return classify(c, "unregister key "+fmtKey(c.key), err)
	}
	return ok("device %s: released and unregistered by node %s (key %s)", c.device, w.node, fmtKey(c.key)), nil
}
