// Package kits is the daemon's plugin manager: it runs the plugin process
// of every kit (ARK) enabled on this node and hands the rest of the daemon
// an ark.ResourceType per kit that stays valid across plugin crashes.
//
// What lives here:
//
//   - Enabling a kit: the binary is checked against its pinned sha256
//     before every launch (the first and every relaunch), its Info is read
//     and checked, and it must provide the resource type the kit is named
//     after. PinKit makes the pin for `arkctl kit enable`.
//   - Keeping it running: a plugin that exits unexpectedly is relaunched in
//     the background with backoff (Config.Backoff), so that the next action
//     finds a live process; a relaunch whose Info differs from the first is
//     refused. Crashes, relaunches and failures are logged and reported
//     through Config.OnEvent.
//   - Orphans: each running plugin's pid, process start time and
//     executable are recorded under StateDir/plugins; New kills the plugins
//     a previous daemon left behind (SIGKILLed arkd), and only those.
//   - Stopping: Disable stops one kit, Stop all of them.
//
// The lifecycle of a kit:
//
//  1. Enable launches and checks the first process; the kit is enabled only
//     if all of that succeeds.
//  2. While enabled, a process that dies is relaunched at once after its
//     first crash, then after Backoff(n) for the n-th consecutive failure;
//     calls made while the kit backs off fail fast with a *BackoffError.
//  3. Disable or Stop stops the process (gracefully, then killed) and
//     forgets the kit.
//
// What must not live here: anything about resources, their states,
// actions' meaning or timeouts, or scheduling. This package runs the
// process behind an ark.ResourceType and passes calls through unchanged;
// it never retries an action and never interprets a result. The plugin
// protocol itself (launching, the handshake, calls over gRPC, relaunching
// on the next call) is package plugins; this package builds on its
// Supervisor.
//
// Orphan detection reads /proc and is implemented on Linux only; on other
// systems records are written but never acted on. The records directory is
// locked (flock) for the life of a Manager, so that two daemons sharing a
// state directory cannot take each other's plugins for orphans.
package kits
