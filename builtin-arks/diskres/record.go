package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// On-disk lease record, little-endian, at the start of one logical block:
//
//	offset size  field
//	     0    8  magic "ARKLEASE"
//	     8    4  version (1)
//	    12    4  state (1 held, 2 released)
//	    16    8  generation: bumped by every new holder
//	    24    8  seq: bumped by every renewal
//	    32    8  lease duration of the holder, ns
//	    40    8  written at, unix ns, writer's clock (informational only)
//	    48   64  cluster name, NUL-padded
//	   112   64  owner node name, NUL-padded
//	   176    4  CRC-32C (Castagnoli) of bytes 0..175
//
// The rest of the block is written as zeros. A block of all zeros is a
// free lease (a new device, or one the admin cleared).
const (
	recordMagic   = "ARKLEASE"
	recordVersion = 1
	nameLen       = 64
	crcOffset     = 176
	recordSize    = crcOffset + 4
)

// leaseState is what a record says about the lease.
type leaseState uint32

// Lease states. stateFree is never written: it is the all-zero block.
const (
	stateFree     leaseState = 0
	stateHeld     leaseState = 1
	stateReleased leaseState = 2
)

func (s leaseState) String() string {
	switch s {
	case stateFree:
		return "free"
	case stateHeld:
		return "held"
	case stateReleased:
		return "released"
	}
	return fmt.Sprintf("state(%d)", uint32(s))
}

// Decoding errors. A block that is neither all zeros nor a valid record
// is never overwritten without takeover: force: it may not be a lease
// block at all (a wrong offset would destroy data).
var (
	errTruncated  = errors.New("lease record truncated")
	errBadMagic   = errors.New("no lease record here (bad magic)")
	errBadCRC     = errors.New("lease record has a bad checksum")
	errBadVersion = errors.New("lease record has an unknown version")
	errBadState   = errors.New("lease record has an unknown state")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// record is one decoded lease record.
type record struct {
	State      leaseState
	Generation uint64
	Seq        uint64
	Duration   time.Duration
	WrittenAt  int64 // unix ns by the writer's clock: never compared across nodes
	Cluster    string
	Owner      string
}

// free reports whether anyone may take the lease without waiting.
func (r record) free() bool { return r.State != stateHeld }

// heldBy reports whether the record says node of cluster holds the lease.
func (r record) heldBy(cluster, node string) bool {
	return r.State == stateHeld && r.Cluster == cluster && r.Owner == node
}

// sameLease reports whether two reads show the same lease instance and
// renewal: what a waiting node compares to see whether the holder lives.
func (r record) sameLease(o record) bool {
	return r.State == o.State && r.Generation == o.Generation && r.Seq == o.Seq &&
		r.Owner == o.Owner && r.Cluster == o.Cluster
}

// String says who holds it, for messages.
func (r record) String() string {
	switch r.State {
	case stateFree:
		return "free"
	case stateReleased:
		return fmt.Sprintf("released by node %s (generation %d)", r.Owner, r.Generation)
	}
	return fmt.Sprintf("held by node %s (generation %d)", r.Owner, r.Generation)
}

// encode writes r into buf (at least recordSize bytes; the rest of buf is
// zeroed).
func (r record) encode(buf []byte) error {
	if len(buf) < recordSize {
		return fmt.Errorf("encode lease record: buffer of %d bytes, need %d", len(buf), recordSize)
	}
	if len(r.Cluster) > nameLen {
		return fmt.Errorf("cluster name %q is longer than %d bytes", r.Cluster, nameLen)
	}
	if len(r.Owner) > nameLen {
		return fmt.Errorf("node name %q is longer than %d bytes", r.Owner, nameLen)
	}
	clear(buf)
	le := binary.LittleEndian
	copy(buf[0:8], recordMagic)
	le.PutUint32(buf[8:], recordVersion)
	le.PutUint32(buf[12:], uint32(r.State))
	le.PutUint64(buf[16:], r.Generation)
	le.PutUint64(buf[24:], r.Seq)
	le.PutUint64(buf[32:], uint64(r.Duration))
	le.PutUint64(buf[40:], uint64(r.WrittenAt))
	copy(buf[48:48+nameLen], r.Cluster)
	copy(buf[112:112+nameLen], r.Owner)
	le.PutUint32(buf[crcOffset:], crc32.Checksum(buf[:crcOffset], castagnoli))
	return nil
}

// decode parses a lease block. All zeros is a free lease. On errBadCRC
// the returned record still carries the raw fields (a forced takeover
// bumps the generation it finds there).
func decode(b []byte) (record, error) {
	if len(b) < recordSize {
		return record{}, fmt.Errorf("%w: %d bytes, need %d", errTruncated, len(b), recordSize)
	}
	if allZero(b) {
		return record{State: stateFree}, nil
	}
	if string(b[0:8]) != recordMagic {
		return record{}, errBadMagic
	}
	le := binary.LittleEndian
	r := record{
		State:      leaseState(le.Uint32(b[12:])),
		Generation: le.Uint64(b[16:]),
		Seq:        le.Uint64(b[24:]),
		Duration:   time.Duration(le.Uint64(b[32:])),
		WrittenAt:  int64(le.Uint64(b[40:])),
		Cluster:    cString(b[48 : 48+nameLen]),
		Owner:      cString(b[112 : 112+nameLen]),
	}
	if got, want := crc32.Checksum(b[:crcOffset], castagnoli), le.Uint32(b[crcOffset:]); got != want {
		return r, fmt.Errorf("%w (stored %08x, computed %08x)", errBadCRC, want, got)
	}
	if v := le.Uint32(b[8:]); v != recordVersion {
		return r, fmt.Errorf("%w %d (this kit writes %d)", errBadVersion, v, recordVersion)
	}
	if r.State != stateHeld && r.State != stateReleased {
		return r, fmt.Errorf("%w %d", errBadState, uint32(r.State))
	}
	return r, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
