package systest

import (
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// InNetns runs f on an OS thread switched into network namespace ns, so
// that the sockets f creates (a listener, a dialled connection) live
// there; the sockets stay in ns after f returns and may be used from any
// goroutine. The thread is switched back afterwards, or thrown away if
// that fails.
func InNetns(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("get current netns: %w", err)
			return // the thread is unchanged, but is discarded with the goroutine
		}
		defer orig.Close()
		target, err := netns.GetFromName(ns)
		if err != nil {
			errc <- fmt.Errorf("open netns %q: %w", ns, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- fmt.Errorf("enter netns %q: %w", ns, err)
			return
		}
		ferr := f()
		if err := netns.Set(orig); err == nil {
			// Back where it started: the thread may serve other goroutines.
			runtime.UnlockOSThread()
		}
		// Otherwise the thread stays locked and ends with this goroutine.
		errc <- ferr
	}()
	return <-errc
}

// Listen opens a TCP listener on addr (e.g. ":7000") in network
// namespace ns; it is closed at cleanup.
func Listen(t testing.TB, ns, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	err := InNetns(ns, func() error {
		var err error
		l, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatalf("listen on %s in netns %q: %v", addr, ns, err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// Dial connects to TCP address addr from network namespace ns, giving
// up after timeout.
func Dial(ns, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := InNetns(ns, func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, timeout)
		return err
	})
	return c, err
}
