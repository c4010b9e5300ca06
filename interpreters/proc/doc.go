// Package proc contains the processes an action starts, so that a timed-out
// action can be stopped together with everything it left behind:
// background children, grandchildren, processes that ignore SIGTERM and,
// where cgroup v2 is available, processes that escaped with setsid.
//
// A Group is one action's containment. With cgroup v2 (the normal case when
// running as root) every process is started directly inside a per-action
// cgroup (clone into cgroup, so nothing runs outside it even for a moment)
// and cgroup.kill empties it. Without cgroups each process gets its own
// process group, and the tree is found through /proc; a process that
// calls setsid and whose parent has exited can then escape, which
// Group.Contained reports.
//
// This package starts, signals and moves processes; it knows nothing of
// scripts, engines or resources.
package proc
