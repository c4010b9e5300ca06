package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestSGIOHdrLayout(t *testing.T) {
	var h sgIOHdr
	want := uintptr(88) // struct sg_io_hdr on LP64
	if unsafe.Sizeof(uintptr(0)) == 4 {
		want = 64
	}
	if got := unsafe.Sizeof(h); got != want {
		t.Fatalf("sizeof(sgIOHdr) = %d, want %d", got, want)
	}
	if unsafe.Sizeof(uintptr(0)) == 8 {
		for _, f := range []struct {
			name      string
			got, want uintptr
		}{
			{"dxfer_len", unsafe.Offsetof(h.DxferLen), 12},
			{"dxferp", unsafe.Offsetof(h.Dxferp), 16},
			{"cmdp", unsafe.Offsetof(h.Cmdp), 24},
			{"sbp", unsafe.Offsetof(h.Sbp), 32},
			{"timeout", unsafe.Offsetof(h.Timeout), 40},
			{"usr_ptr", unsafe.Offsetof(h.UsrPtr), 56},
			{"status", unsafe.Offsetof(h.Status), 64},
			{"host_status", unsafe.Offsetof(h.HostStatus), 68},
			{"resid", unsafe.Offsetof(h.Resid), 72},
			{"info", unsafe.Offsetof(h.Info), 80},
		} {
			if f.got != f.want {
				t.Errorf("offset of %s = %d, want %d", f.name, f.got, f.want)
			}
		}
	}
}

func TestPRCDBs(t *testing.T) {
	tests := []struct {
		name string
		cdb  []byte
		want []byte
	}{
		{"READ KEYS", prInCDB(saReadKeys, 2048), []byte{0x5e, 0x00, 0, 0, 0, 0, 0, 0x08, 0x00, 0}},
		{"READ RESERVATION", prInCDB(saReadReservation, 24), []byte{0x5e, 0x01, 0, 0, 0, 0, 0, 0x00, 0x18, 0}},
		{"REGISTER", prOutCDB(saRegister, scopeLU, 0), []byte{0x5f, 0x00, 0x00, 0, 0, 0, 0, 0, 24, 0}},
		{"RESERVE WERO", prOutCDB(saReserve, scopeLU, typeWERO), []byte{0x5f, 0x01, 0x05, 0, 0, 0, 0, 0, 24, 0}},
		{"RELEASE WERO", prOutCDB(saRelease, scopeLU, typeWERO), []byte{0x5f, 0x02, 0x05, 0, 0, 0, 0, 0, 24, 0}},
		{"PREEMPT AND ABORT", prOutCDB(saPreemptAbort, scopeLU, typeWERO), []byte{0x5f, 0x05, 0x05, 0, 0, 0, 0, 0, 24, 0}},
		{"REGISTER AND IGNORE", prOutCDB(saRegisterIgnore, scopeLU, 0), []byte{0x5f, 0x06, 0x00, 0, 0, 0, 0, 0, 24, 0}},
		{"scope in the high nibble", prOutCDB(saReserve, 0x2, typeWERO), []byte{0x5f, 0x01, 0x25, 0, 0, 0, 0, 0, 24, 0}},
		{"service action masked to 5 bits", prInCDB(0xe1, 8), []byte{0x5e, 0x01, 0, 0, 0, 0, 0, 0, 8, 0}},
	}
	for _, tt := range tests {
		if !bytes.Equal(tt.cdb, tt.want) {
			t.Errorf("%s: CDB % x, want % x", tt.name, tt.cdb, tt.want)
		}
	}
}

func TestPROutParams(t *testing.T) {
	tests := []struct {
		name       string
		key, saKey uint64
		want       []byte
	}{
		{"register and ignore: new key in the SA key", 0, 0x0123456789abcdef, []byte{
			0, 0, 0, 0, 0, 0, 0, 0,
			0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
			0, 0, 0, 0, 0, 0, 0, 0}},
		{"reserve: our key", 0x1122334455667788, 0, []byte{
			0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
			0, 0, 0, 0, 0, 0, 0, 0,
			0, 0, 0, 0, 0, 0, 0, 0}},
		{"preempt: ours, then theirs", 0xa, 0xb, []byte{
			0, 0, 0, 0, 0, 0, 0, 0x0a,
			0, 0, 0, 0, 0, 0, 0, 0x0b,
			0, 0, 0, 0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		if got := prOutParams(tt.key, tt.saKey); !bytes.Equal(got, tt.want) {
			t.Errorf("%s: % x, want % x", tt.name, got, tt.want)
		}
	}
}

func TestParseReadKeys(t *testing.T) {
	tests := []struct {
		name    string
		reply   []byte
		gen     uint32
		keys    []uint64
		wantErr string
	}{
		{"no keys", []byte{0, 0, 0, 7, 0, 0, 0, 0}, 7, nil, ""},
		{"two keys", []byte{0, 0, 1, 0, 0, 0, 0, 16,
			0, 0, 0, 0, 0, 0, 0, 1,
			0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88}, 256, []uint64{1, 0xffeeddccbbaa9988}, ""},
		{"padding after the keys is ignored", []byte{0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 2, 9, 9}, 1, []uint64{2}, ""},
		{"short header", []byte{0, 0, 0}, 0, nil, "need 8"},
		{"truncated keys", []byte{0, 0, 0, 1, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 2}, 1, nil, "truncated"},
		{"length not a multiple of 8", []byte{0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 0}, 1, nil, "multiple of 8"},
	}
	for _, tt := range tests {
		gen, keys, err := parseReadKeys(tt.reply)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || gen != tt.gen || fmt.Sprint(keys) != fmt.Sprint(tt.keys) {
			t.Errorf("%s: gen %d keys %x err %v, want gen %d keys %x", tt.name, gen, keys, err, tt.gen, tt.keys)
		}
	}
}

func TestParseReadReservation(t *testing.T) {
	tests := []struct {
		name    string
		reply   []byte
		gen     uint32
		want    *reservation
		wantErr string
	}{
		{"none", []byte{0, 0, 0, 3, 0, 0, 0, 0}, 3, nil, ""},
		{"WERO by a key", []byte{0, 0, 0, 4, 0, 0, 0, 16,
			0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1,
			0, 0, 0, 0, 0, 0x05, 0, 0}, 4, &reservation{Key: 0xdeadbeef00000001, Type: typeWERO}, ""},
		{"scope and type nibbles", []byte{0, 0, 0, 4, 0, 0, 0, 16,
			0, 0, 0, 0, 0, 0, 0, 9,
			0, 0, 0, 0, 0, 0x21, 0, 0}, 4, &reservation{Key: 9, Scope: 2, Type: 1}, ""},
		{"short header", []byte{1, 2}, 0, nil, "need 8"},
		{"truncated", []byte{0, 0, 0, 4, 0, 0, 0, 16, 0, 0, 0, 0}, 4, nil, "truncated"},
		{"bad length", []byte{0, 0, 0, 4, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0}, 4, nil, "want 16"},
	}
	for _, tt := range tests {
		gen, r, err := parseReadReservation(tt.reply)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || gen != tt.gen || (r == nil) != (tt.want == nil) || (r != nil && *r != *tt.want) {
			t.Errorf("%s: gen %d reservation %+v err %v, want gen %d %+v", tt.name, gen, r, err, tt.gen, tt.want)
		}
	}
}

func TestDecodeSense(t *testing.T) {
	fixed := func(key, asc, ascq byte) []byte {
		b := make([]byte, 18)
		b[0], b[2], b[7], b[12], b[13] = 0x70, key, 10, asc, ascq
		return b
	}
	tests := []struct {
		name string
		b    []byte
		ok   bool
		want string
	}{
		{"fixed: invalid opcode", fixed(0x05, 0x20, 0x00), true, "ILLEGAL REQUEST: invalid command operation code (ASC 0x20, ASCQ 0x00)"},
		{"fixed, deferred, flags in the key byte", func() []byte { b := fixed(0x65, 0x24, 0); b[0] = 0xf1; return b }(), true, "ILLEGAL REQUEST: invalid field in CDB (ASC 0x24, ASCQ 0x00)"},
		{"fixed: reservations preempted", fixed(0x06, 0x2a, 0x03), true, "UNIT ATTENTION: reservations preempted (ASC 0x2a, ASCQ 0x03)"},
		{"fixed: ASC family only", fixed(0x02, 0x04, 0x7f), true, "NOT READY: logical unit not ready (ASC 0x04, ASCQ 0x7f)"},
		{"fixed: unknown ASC", fixed(0x03, 0x11, 0x00), true, "MEDIUM ERROR: additional sense code unknown to this kit (ASC 0x11, ASCQ 0x00)"},
		{"fixed: short, key only", []byte{0x70, 0, 0x06}, true, "UNIT ATTENTION: no additional sense information (ASC 0x00, ASCQ 0x00)"},
		{"descriptor", []byte{0x72, 0x05, 0x26, 0x00, 0, 0, 0, 0}, true, "ILLEGAL REQUEST: invalid field in parameter list (ASC 0x26, ASCQ 0x00)"},
		{"descriptor: power on", []byte{0x72, 0x06, 0x29, 0x02}, true, "UNIT ATTENTION: power on, reset, or bus device reset occurred (ASC 0x29, ASCQ 0x02)"},
		{"empty", nil, false, ""},
		{"unknown response code", []byte{0x7f, 5, 0x20, 0}, false, ""},
		{"descriptor too short", []byte{0x72, 5}, false, ""},
	}
	for _, tt := range tests {
		s, ok := decodeSense(tt.b)
		if ok != tt.ok {
			t.Errorf("%s: ok = %v, want %v", tt.name, ok, tt.ok)
			continue
		}
		if ok && s.String() != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, s.String(), tt.want)
		}
	}
}

func TestCheckResultAndUnsupported(t *testing.T) {
	illegal := []byte{0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x20, 0x00}
	tests := []struct {
		name        string
		h           sgIOHdr
		sb          []byte
		wantErr     string // "" = success
		unsupported bool
	}{
		{"good", sgIOHdr{}, nil, "", false},
		{"good with NO SENSE", sgIOHdr{SbLenWr: 14, DriverStatus: driverSense}, make([]byte, 14), "", false},
		{"illegal request", sgIOHdr{Status: statusCheckCondition, SbLenWr: 14, DriverStatus: driverSense}, illegal, "CHECK CONDITION, ILLEGAL REQUEST: invalid command operation code", true},
		{"reservation conflict", sgIOHdr{Status: statusReservationConflict}, nil, "RESERVATION CONFLICT", false},
		{"host adapter", sgIOHdr{HostStatus: 0x01}, nil, "host adapter status 0x01", false},
		{"driver error", sgIOHdr{DriverStatus: 0x04}, nil, "driver status 0x04", false},
	}
	for _, tt := range tests {
		sb := make([]byte, senseLen)
		copy(sb, tt.sb)
		err := checkResult("OP", &tt.h, sb)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v, want success", tt.name, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: %v, want an error containing %q", tt.name, err, tt.wantErr)
		case err != nil && unsupported(err) != tt.unsupported:
			t.Errorf("%s: unsupported = %v, want %v", tt.name, !tt.unsupported, tt.unsupported)
		}
	}
	for errno, want := range map[unix.Errno]bool{unix.ENOTTY: true, unix.EINVAL: true, unix.EOPNOTSUPP: true, unix.EIO: false, unix.EACCES: false} {
		if got := unsupported(fmt.Errorf("SG_IO: %w", errno)); got != want {
			t.Errorf("unsupported(%v) = %v, want %v", errno, got, want)
		}
	}
}

func TestKeys(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    uint64
		wantErr bool
	}{
		{"0123456789abcdef", 0x0123456789abcdef, false},
		{"0x0123456789ABCDEF", 0x0123456789abcdef, false},
		{"0000000000000000", 0, true},
		{"123", 0, true},
		{"0123456789abcdeg", 0, true},
		{"0123456789abcdef0", 0, true},
	} {
		got, err := parseKey(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseKey(%q) = %x, %v", tt.in, got, err)
		}
	}
	if nodeKey("node1") == nodeKey("node2") || nodeKey("node1") != nodeKey("node1") || nodeKey("") == 0 {
		t.Errorf("nodeKey must be stable, differ per node and never be 0")
	}
	// FNV-1a 64 of "a", so that admins can compute the key themselves.
	if got := nodeKey("a"); got != 0xaf63dc4c8601ec8c {
		t.Errorf("nodeKey(a) = %x, want FNV-1a 64 af63dc4c8601ec8c", got)
	}
	if fmtKey(0xab) != "0x00000000000000ab" {
		t.Errorf("fmtKey: %s", fmtKey(0xab))
	}
}
