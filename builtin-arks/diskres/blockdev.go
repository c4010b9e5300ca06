package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// directAlign is the memory alignment of O_DIRECT buffers: 4096 satisfies
// every logical block size a device may have (512 to 4096).
const directAlign = 4096

// blockDev is a shared block device opened for direct, synchronous I/O:
// every read reaches the device (no page cache may hide another node's
// write) and every write is on the device when it returns.
type blockDev struct {
	path string
	f    *os.File
	bs   int   // logical block size (BLKSSZGET)
	size int64 // bytes (BLKGETSIZE64)
}

// errNotBlock marks a path that exists but is not a block device.
var errNotBlock = errors.New("not a block device")

// openBlock opens path, which must be a block device, for O_DIRECT
// read-write I/O.
func openBlock(path string) (*blockDev, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_DIRECT|unix.O_DSYNC|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	bs, size, err := geometry(fd, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &blockDev{path: path, f: f, bs: bs, size: size}, nil
}

// geometry returns the logical block size and size of the block device
// open as fd.
func geometry(fd int, path string) (bs int, size int64, err error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, 0, fmt.Errorf("stat %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return 0, 0, fmt.Errorf("%s: %w", path, errNotBlock)
	}
	bs, err = unix.IoctlGetInt(fd, unix.BLKSSZGET)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: logical block size (BLKSSZGET): %w", path, err)
	}
	var sz uint64
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&sz))); e != 0 {
		return 0, 0, fmt.Errorf("%s: size (BLKGETSIZE64): %w", path, e)
	}
	return bs, int64(sz), nil
}

// blockSize returns the logical block size of the block device at path
// without opening it for writing (Validate uses it). errNotBlock when it
// is something else.
func blockSize(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	bs, _, err := geometry(fd, path)
	return bs, err
}

// Close closes the device. An I/O still in flight (abandoned when its
// context ended) keeps the descriptor open until it returns.
func (d *blockDev) Close() error { return d.f.Close() }

// checkOffset verifies that one logical block at off lies on the device
// and is aligned, as O_DIRECT requires.
func (d *blockDev) checkOffset(off int64) error {
	if off < 0 || off%int64(d.bs) != 0 {
		return fmt.Errorf("offset %d is not a multiple of the logical block size %d of %s", off, d.bs, d.path)
	}
	if off+int64(d.bs) > d.size {
		return fmt.Errorf("offset %d is beyond the end of %s (%d bytes)", off, d.path, d.size)
	}
	return nil
}

// alignedBlock returns a zeroed buffer of one logical block whose address
// is aligned for O_DIRECT. A fresh buffer per I/O: an I/O abandoned at
// its context's end may still be using the previous one.
func (d *blockDev) alignedBlock() []byte {
	raw := make([]byte, d.bs+directAlign)
	skip := 0
	if r := int(uintptr(unsafe.Pointer(&raw[0])) & (directAlign - 1)); r != 0 {
		skip = directAlign - r
	}
	return raw[skip : skip+d.bs : skip+d.bs]
}

// readBlock reads the logical block at off.
func (d *blockDev) readBlock(ctx context.Context, off int64) ([]byte, error) {
	buf := d.alignedBlock()
	err := withCtx(ctx, func() error {
		n, err := d.f.ReadAt(buf, off)
		if err == nil && n != len(buf) {
			err = fmt.Errorf("short read: %d of %d bytes", n, len(buf))
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read %s at offset %d: %w", d.path, off, err)
	}
	return buf, nil
}

// writeBlock writes b (one logical block, from alignedBlock) at off.
func (d *blockDev) writeBlock(ctx context.Context, off int64, b []byte) error {
	err := withCtx(ctx, func() error {
		n, err := d.f.WriteAt(b, off)
		if err == nil && n != len(b) {
			err = fmt.Errorf("short write: %d of %d bytes", n, len(b))
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("write %s at offset %d: %w", d.path, off, err)
	}
	return nil
}

// readRecord reads and decodes the lease record at off. A decoding error
// (bad magic, checksum, ...) comes with the raw record; an I/O error with
// a zero one.
func (d *blockDev) readRecord(ctx context.Context, off int64) (record, error) {
	b, err := d.readBlock(ctx, off)
	if err != nil {
		return record{}, err
	}
	r, err := decode(b)
	if err != nil {
		return r, &recordError{dev: d.path, off: off, err: err}
	}
	return r, nil
}

// writeRecord encodes r into a block and writes it at off.
func (d *blockDev) writeRecord(ctx context.Context, off int64, r record) error {
	b := d.alignedBlock()
	if err := r.encode(b); err != nil {
		return err
	}
	return d.writeBlock(ctx, off, b)
}

// recordError is a lease block that does not decode: the data is there,
// but it is not a valid record.
type recordError struct {
	dev string
	off int64
	err error
}

func (e *recordError) Error() string {
	return fmt.Sprintf("device %s offset %d: %v", e.dev, e.off, e.err)
}

func (e *recordError) Unwrap() error { return e.err }

// withCtx runs f, a blocking system call, and returns its error, or ctx's
// error as soon as ctx ends: a device stuck in I/O (a SAN path down,
// queue_if_no_path) must not keep an action past its deadline. The call
// itself is abandoned, not cancelled; its goroutine ends when the kernel
// returns.
func withCtx(ctx context.Context, f func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
