package main

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
	"time"
)

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range []record{
		{State: stateHeld, Generation: 1, Seq: 0, Duration: 10 * time.Second, WrittenAt: 1700000000123456789, Cluster: "prod", Owner: "node1"},
		{State: stateReleased, Generation: 1<<64 - 1, Seq: 42, Duration: time.Second, WrittenAt: -1, Cluster: "", Owner: strings.Repeat("n", nameLen)},
		{State: stateHeld, Generation: 7, Cluster: strings.Repeat("c", nameLen), Owner: "ノード"},
	} {
		for _, size := range []int{recordSize, 512, 4096} {
			buf := make([]byte, size)
			for i := range buf {
				buf[i] = 0xee // encode must clear the rest of the block
			}
			if err := r.encode(buf); err != nil {
				t.Fatalf("encode %+v: %v", r, err)
			}
			if !allZero(buf[recordSize:]) {
				t.Errorf("encode into %d bytes left garbage after the record", size)
			}
			got, err := decode(buf)
			if err != nil {
				t.Fatalf("decode of encoded %+v: %v", r, err)
			}
			if got != r {
				t.Errorf("round trip in %d bytes: got %+v, want %+v", size, got, r)
			}
		}
	}
}

// TestRecordLayout pins the on-disk format: other nodes (and other
// versions of this kit) read it.
func TestRecordLayout(t *testing.T) {
	buf := make([]byte, 512)
	r := record{State: stateHeld, Generation: 0x0102030405060708, Seq: 9, Duration: 10 * time.Second, WrittenAt: 5, Cluster: "c1", Owner: "n1"}
	if err := r.encode(buf); err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"version", uint64(le.Uint32(buf[8:])), 1},
		{"state", uint64(le.Uint32(buf[12:])), 1},
		{"generation", le.Uint64(buf[16:]), 0x0102030405060708},
		{"seq", le.Uint64(buf[24:]), 9},
		{"duration", le.Uint64(buf[32:]), uint64(10 * time.Second)},
		{"written at", le.Uint64(buf[40:]), 5},
		{"crc", uint64(le.Uint32(buf[176:])), uint64(crc32.Checksum(buf[:176], crc32.MakeTable(crc32.Castagnoli)))},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %#x, want %#x", c.name, c.got, c.want)
		}
	}
	if string(buf[:8]) != "ARKLEASE" || string(buf[48:50]) != "c1" || buf[50] != 0 || string(buf[112:114]) != "n1" || buf[114] != 0 {
		t.Errorf("magic or names misplaced: % x", buf[:180])
	}
}

func TestRecordDecodeErrors(t *testing.T) {
	valid := func() []byte {
		b := make([]byte, 512)
		if err := (record{State: stateHeld, Generation: 3, Seq: 4, Owner: "a"}).encode(b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	// reseal recomputes the checksum after a field was changed.
	reseal := func(b []byte) []byte {
		binary.LittleEndian.PutUint32(b[crcOffset:], crc32.Checksum(b[:crcOffset], castagnoli))
		return b
	}
	tests := []struct {
		name    string
		block   []byte
		want    error // nil: decodes
		free    bool
		rawGen  uint64 // the generation still reported beside errBadCRC
		hasData bool
	}{
		{name: "all zeros is free", block: make([]byte, 512), free: true},
		{name: "all zeros, record size", block: make([]byte, recordSize), free: true},
		{name: "valid", block: valid()},
		{name: "truncated", block: valid()[:recordSize-1], want: errTruncated},
		{name: "empty", block: nil, want: errTruncated},
		{name: "bad magic", block: func() []byte { b := valid(); b[0] = 'X'; return b }(), want: errBadMagic},
		{name: "garbage", block: []byte(strings.Repeat("\xde\xad\xbe\xef", 128)), want: errBadMagic},
		{name: "bad crc: generation changed", block: func() []byte { b := valid(); b[16]++; return b }(), want: errBadCRC, rawGen: 4, hasData: true},
		{name: "bad crc: crc changed", block: func() []byte { b := valid(); b[crcOffset] ^= 1; return b }(), want: errBadCRC, rawGen: 3, hasData: true},
		{name: "bad crc: owner changed", block: func() []byte { b := valid(); b[112] = 'b'; return b }(), want: errBadCRC, rawGen: 3, hasData: true},
		{name: "unknown version", block: func() []byte { b := valid(); b[8] = 2; return reseal(b) }(), want: errBadVersion},
		{name: "state 0 with a magic", block: func() []byte { b := valid(); b[12] = 0; return reseal(b) }(), want: errBadState},
		{name: "state 3", block: func() []byte { b := valid(); b[12] = 3; return reseal(b) }(), want: errBadState},
		{name: "bytes after the record do not count", block: func() []byte { b := valid(); b[300] = 1; return b }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := decode(tt.block)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("decode: %v, want %v", err, tt.want)
			}
			if tt.free != (err == nil && r.State == stateFree) {
				t.Errorf("free = %v, want %v (record %+v)", r.State == stateFree, tt.free, r)
			}
			if tt.hasData && r.Generation != tt.rawGen {
				t.Errorf("raw generation beside the error: %d, want %d", r.Generation, tt.rawGen)
			}
		})
	}
}

func TestRecordEncodeErrors(t *testing.T) {
	long := strings.Repeat("x", nameLen+1)
	for _, tt := range []struct {
		name string
		r    record
		buf  int
	}{
		{"owner too long", record{State: stateHeld, Owner: long}, 512},
		{"cluster too long", record{State: stateHeld, Cluster: long, Owner: "a"}, 512},
		{"buffer too small", record{State: stateHeld, Owner: "a"}, recordSize - 1},
	} {
		if err := tt.r.encode(make([]byte, tt.buf)); err == nil {
			t.Errorf("%s: encode succeeded", tt.name)
		}
	}
}

func TestRecordPredicates(t *testing.T) {
	held := record{State: stateHeld, Generation: 2, Seq: 5, Cluster: "c", Owner: "a"}
	if !held.heldBy("c", "a") || held.heldBy("c", "b") || held.heldBy("d", "a") || held.free() {
		t.Errorf("held record: heldBy/free wrong")
	}
	rel := held
	rel.State = stateReleased
	if rel.heldBy("c", "a") || !rel.free() || !(record{}).free() {
		t.Errorf("released/free records: heldBy/free wrong")
	}
	renewed := held
	renewed.Seq++
	if held.sameLease(renewed) || !held.sameLease(held) {
		t.Errorf("sameLease must see a renewal")
	}
	for _, c := range []struct {
		r    record
		want string
	}{
		{record{}, "free"},
		{held, "held by node a (generation 2)"},
		{rel, "released by node a (generation 2)"},
	} {
		if got := c.r.String(); got != c.want {
			t.Errorf("String: %q, want %q", got, c.want)
		}
	}
}
