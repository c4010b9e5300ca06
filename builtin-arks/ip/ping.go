package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	probing "github.com/prometheus-community/pro-bing"
)

// pingTries is how many echo requests go to each target within the ping
// timeout: one lost packet must not fail the check.
const pingTries = 3

// pingAny pings every target at once and returns the first that answers
// within timeout. When none does, ok is false and why says, per target,
// what happened.
func pingAny(ctx context.Context, targets []netip.Addr, timeout time.Duration) (answered netip.Addr, ok bool, why string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		target netip.Addr
		ok     bool
		err    error
	}
	results := make(chan result, len(targets))
	for _, t := range targets {
		go func() {
			ok, err := ping(ctx, t, timeout)
			results <- result{t, ok, err}
		}()
	}
	var fails []string
	for range targets {
		r := <-results
		if r.ok {
			cancel() // the others need not wait
			return r.target, true, ""
		}
		if r.err != nil {
			fails = append(fails, fmt.Sprintf("%s: %v", r.target, r.err))
		} else {
			fails = append(fails, fmt.Sprintf("%s: no reply", r.target))
		}
	}
	return netip.Addr{}, false, strings.Join(fails, "; ")
}

// ping sends up to pingTries ICMP echo requests to target within timeout
// and reports whether one was answered.
func ping(ctx context.Context, target netip.Addr, timeout time.Duration) (bool, error) {
	p := probing.New("")
	p.SetIPAddr(&net.IPAddr{IP: target.AsSlice()})
	p.SetPrivileged(true) // raw ICMP socket: the plugin runs as root
	p.SetLogger(probing.NoopLogger{})
	p.Count = pingTries
	p.Interval = timeout / pingTries
	p.Timeout = timeout
	p.OnRecv = func(*probing.Packet) { p.Stop() }
	err := p.RunWithContext(ctx)
	if p.Statistics().PacketsRecv > 0 {
		return true, nil
	}
	if err != nil && ctx.Err() == nil {
		return false, err
	}
	return false, nil
}
