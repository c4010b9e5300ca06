package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SG_IO (scsi/sg.h): golang.org/x/sys/unix has neither the request number
// nor struct sg_io_hdr, so they are defined here.
const (
	sgIO          = 0x2285
	sgInterfaceID = 'S'
	sgDxferNone   = -1
	sgDxferToDev  = -2
	sgDxferFrom   = -3
	senseLen      = 64
	driverSense   = 0x08 // driver_status bit: sense data was returned
)

// sgIOHdr is struct sg_io_hdr. Go lays it out as C does (88 bytes on
// 64-bit platforms, 64 on 32-bit), which a unit test checks.
type sgIOHdr struct {
	InterfaceID    int32
	DxferDirection int32
	CmdLen         uint8
	MxSbLen        uint8
	IovecCount     uint16
	DxferLen       uint32
	Dxferp         unsafe.Pointer
	Cmdp           unsafe.Pointer
	Sbp            unsafe.Pointer
	Timeout        uint32 // ms
	Flags          uint32
	PackID         int32
	UsrPtr         unsafe.Pointer
	Status         uint8
	MaskedStatus   uint8
	MsgStatus      uint8
	SbLenWr        uint8
	HostStatus     uint16
	DriverStatus   uint16
	Resid          int32
	Duration       uint32
	Info           uint32
}

// SCSI status codes (SAM).
const (
	statusGood                = 0x00
	statusCheckCondition      = 0x02
	statusBusy                = 0x08
	statusReservationConflict = 0x18
	statusTaskSetFull         = 0x28
)

var statusNames = map[uint8]string{
	statusGood:                "GOOD",
	statusCheckCondition:      "CHECK CONDITION",
	0x04:                      "CONDITION MET",
	statusBusy:                "BUSY",
	statusReservationConflict: "RESERVATION CONFLICT",
	statusTaskSetFull:         "TASK SET FULL",
	0x30:                      "ACA ACTIVE",
	0x40:                      "TASK ABORTED",
}

// Sense keys (SPC).
const (
	keyNoSense        = 0x0
	keyNotReady       = 0x2
	keyIllegalRequest = 0x5
	keyUnitAttention  = 0x6
)

var senseKeyNames = [16]string{
	"NO SENSE", "RECOVERED ERROR", "NOT READY", "MEDIUM ERROR", "HARDWARE ERROR",
	"ILLEGAL REQUEST", "UNIT ATTENTION", "DATA PROTECT", "BLANK CHECK", "VENDOR SPECIFIC",
	"COPY ABORTED", "ABORTED COMMAND", "RESERVED (0xC)", "VOLUME OVERFLOW", "MISCOMPARE", "COMPLETED",
}

// ascNames are the additional sense codes a reservation kit meets, by
// ASC<<8|ASCQ; ascFamilies are those named by ASC alone.
var ascNames = map[uint16]string{
	0x0000: "no additional sense information",
	0x0401: "logical unit is in process of becoming ready",
	0x0402: "logical unit not ready, initializing command required",
	0x0403: "logical unit not ready, manual intervention required",
	0x040a: "logical unit not accessible, asymmetric access state transition",
	0x040b: "logical unit not accessible, target port in standby state",
	0x040c: "logical unit not accessible, target port in unavailable state",
	0x2000: "invalid command operation code",
	0x2400: "invalid field in CDB",
	0x2500: "logical unit not supported",
	0x2600: "invalid field in parameter list",
	0x2700: "write protected",
	0x2900: "power on, reset, or bus device reset occurred",
	0x2a01: "mode parameters changed",
	0x2a03: "reservations preempted",
	0x2a04: "reservations released",
	0x2a05: "registrations preempted",
	0x3a00: "medium not present",
	0x3f0e: "reported LUNs data has changed",
	0x5503: "insufficient resources",
	0x5504: "insufficient registration resources",
}

var ascFamilies = map[uint8]string{
	0x04: "logical unit not ready",
	0x29: "power on, reset, or bus device reset occurred",
	0x2a: "parameters changed",
	0x3a: "medium not present",
}

// sense is decoded sense data.
type sense struct {
	Key       uint8
	ASC, ASCQ uint8
}

// decodeSense decodes fixed (0x70/0x71) or descriptor (0x72/0x73) format
// sense data; ok is false when b is none of them.
func decodeSense(b []byte) (s sense, ok bool) {
	if len(b) == 0 {
		return s, false
	}
	switch b[0] & 0x7f {
	case 0x70, 0x71:
		if len(b) < 3 {
			return s, false
		}
		s.Key = b[2] & 0x0f
		if len(b) >= 14 {
			s.ASC, s.ASCQ = b[12], b[13]
		}
		return s, true
	case 0x72, 0x73:
		if len(b) < 4 {
			return s, false
		}
		return sense{Key: b[1] & 0x0f, ASC: b[2], ASCQ: b[3]}, true
	}
	return s, false
}

// String says it as sg_decode_sense does, e.g. "ILLEGAL REQUEST: invalid
// command operation code (ASC 0x20, ASCQ 0x00)".
func (s sense) String() string {
	what, ok := ascNames[uint16(s.ASC)<<8|uint16(s.ASCQ)]
	if !ok {
		what, ok = ascFamilies[s.ASC]
	}
	if !ok {
		what = "additional sense code unknown to this kit"
	}
	return fmt.Sprintf("%s: %s (ASC 0x%02x, ASCQ 0x%02x)", senseKeyNames[s.Key&0x0f], what, s.ASC, s.ASCQ)
}

// scsiError is a command that reached the device (or its HBA) and did
// not complete with GOOD status.
type scsiError struct {
	Op       string // e.g. "PERSISTENT RESERVE OUT/RESERVE"
	Status   uint8
	Host     uint16 // host_status, 0 when the HBA delivered the command
	Driver   uint16 // driver_status
	Sense    sense
	HasSense bool
}

func (e *scsiError) Error() string {
	if e.Host != 0 {
		return fmt.Sprintf("%s: host adapter status 0x%02x (the command did not reach the device)", e.Op, e.Host)
	}
	st, ok := statusNames[e.Status]
	if !ok {
		st = fmt.Sprintf("status 0x%02x", e.Status)
	}
	if e.HasSense {
		return fmt.Sprintf("%s: %s, %s", e.Op, st, e.Sense)
	}
	if e.Status == statusGood {
		return fmt.Sprintf("%s: driver status 0x%02x", e.Op, e.Driver)
	}
	return fmt.Sprintf("%s: %s", e.Op, st)
}

// checkResult classifies the outcome of an SG_IO call: nil when GOOD.
func checkResult(op string, h *sgIOHdr, sb []byte) error {
	e := &scsiError{Op: op, Status: h.Status, Host: h.HostStatus, Driver: h.DriverStatus}
	if n := int(h.SbLenWr); n > 0 {
		e.Sense, e.HasSense = decodeSense(sb[:min(n, len(sb))])
	}
	if e.Host == 0 && e.Status == statusGood && e.Driver&^driverSense == 0 &&
		(!e.HasSense || e.Sense.Key == keyNoSense) {
		return nil
	}
	return e
}

// errNoPR matches, under errors.Is, a device that cannot do persistent
// reservations at all: no SG_IO (a loop device, a partition on some
// kernels, a virtio-blk disk) or a device that rejects the PR commands.
var errNoPR = errors.New("device does not support SCSI-3 persistent reservations")

// noPRError wraps the cause of errNoPR with the device's name.
type noPRError struct {
	dev   string
	cause error
}

func (e *noPRError) Error() string {
	return fmt.Sprintf("device %s does not support SCSI-3 persistent reservations (%v): use method: lease", e.dev, e.cause)
}

func (e *noPRError) Is(target error) bool { return target == errNoPR }
func (e *noPRError) Unwrap() error        { return e.cause }

// unsupported reports whether err says the device cannot do PR at all:
// the ioctl is unknown to its driver, or the device refuses the command
// as an ILLEGAL REQUEST (invalid operation code, or invalid field: an
// unsupported service action).
func unsupported(err error) bool {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno == unix.ENOTTY || errno == unix.EINVAL || errno == unix.EOPNOTSUPP || errno == unix.ENOSYS
	}
	var se *scsiError
	return errors.As(err, &se) && se.HasSense && se.Sense.Key == keyIllegalRequest &&
		(se.Sense.ASC == 0x20 || se.Sense.ASC == 0x24)
}

// sgDev is a device open for SG_IO.
type sgDev struct {
	path string
	fd   int
}

// openSG opens path read-write (PERSISTENT RESERVE OUT needs write
// access); O_NONBLOCK so that a device without medium still opens.
func openSG(path string) (*sgDev, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &sgDev{path: path, fd: fd}, nil
}

func (d *sgDev) Close() error { return unix.Close(d.fd) }

// maxCmdTimeout bounds one SCSI command; ctx bounds it further.
const maxCmdTimeout = 30 * time.Second

// exec sends one command; dir is sgDxferNone, sgDxferToDev (data is
// sent) or sgDxferFrom (data is filled). It returns how many bytes of data
// the device transferred.
func (d *sgDev) exec(ctx context.Context, op string, cdb []byte, dir int32, data []byte) (int, error) {
	timeout := maxCmdTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, max(time.Until(dl), time.Millisecond))
	}
	sb := make([]byte, senseLen)
	h := &sgIOHdr{
		InterfaceID:    sgInterfaceID,
		DxferDirection: dir,
		CmdLen:         uint8(len(cdb)),
		MxSbLen:        uint8(len(sb)),
		Cmdp:           unsafe.Pointer(&cdb[0]),
		Sbp:            unsafe.Pointer(&sb[0]),
		Timeout:        uint32(timeout / time.Millisecond),
	}
	if len(data) > 0 {
		h.DxferLen = uint32(len(data))
		h.Dxferp = unsafe.Pointer(&data[0])
	}
	err := withCtx(ctx, func() error {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(d.fd), sgIO, uintptr(unsafe.Pointer(h)))
		runtime.KeepAlive(cdb)
		runtime.KeepAlive(sb)
		runtime.KeepAlive(data)
		if e != 0 {
			return e
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("%s: SG_IO: %w", op, err)
	}
	if err := checkResult(op, h, sb); err != nil {
		return 0, err
	}
	return len(data) - int(h.Resid), nil
}

// execRetry is exec that repeats a command answered with UNIT ATTENTION
// (a reset, or the reservations changed: the device reports it once to
// each initiator) or BUSY, a few times.
func (d *sgDev) execRetry(ctx context.Context, op string, cdb []byte, dir int32, data []byte) (int, error) {
	var err error
	for range 4 {
		var n int
		if n, err = d.exec(ctx, op, cdb, dir, data); err == nil {
			return n, nil
		}
		var se *scsiError
		if !errors.As(err, &se) || !(se.HasSense && se.Sense.Key == keyUnitAttention || se.Status == statusBusy) {
			return 0, err
		}
		if se.Status == statusBusy {
			if err := sleep(ctx, 100*time.Millisecond); err != nil {
				return 0, fmt.Errorf("%s: %w", op, err)
			}
		}
	}
	return 0, err
}
