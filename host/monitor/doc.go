// Package monitor holds the two mechanisms the daemon's resource monitor is
// built from:
//
//   - Process watch (CLUSTERPRO's armload): [ReadPidFile] reads a pid file
//     strictly, and [Watch] returns a [ProcessWatch] that reports the death of
//     a process within milliseconds, event-driven through a pidfd, without
//     being the process's parent and without being fooled by pid reuse
//     (polling kill(2) and /proc where the kernel has no pidfd_open).
//   - Check schedule (LifeKeeper's quickCheck interval): a [Scheduler] calls
//     a check function for many keys, each at its own interval, on an
//     anchored grid (no drift), with jittered first runs, never overlapping
//     two checks of the same key, with one timer for all keys.
//
// What must not live here: knowledge of plugins, resource types, the store or
// the cluster. A key is an opaque string (the daemon uses resource tags) and a
// check is a function the daemon supplies; what a failed check or a dead
// process means (recover, failover) is decided elsewhere. The daemon wires
// the halves together: it starts a [ProcessWatch] for a resource whose
// restore left a pid file, and a [Scheduler] entry for each resource in
// service.
//
// Time is injected ([Clock]; [RealClock] in production), and so is
// randomness, so the scheduler can be driven deterministically: the fake
// clock in host/monitor/internal/fakeclock moves only when a test advances
// it, and waits for the scheduler to take each tick in.
package monitor
