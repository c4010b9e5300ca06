// Package sh runs GenericARK actions written in bash, two ways:
//
//   - New: in-process, on mvdan.cc/sh/v3 (the default, LangBash). No shell
//     process is started; every external command is started through the
//     Invocation, inside the action's containment.
//   - NewSystem: with the system's /bin/bash (LangSystemBash), the opt-out
//     (shell=system) for scripts that need full bash. The bash process
//     itself is started inside the containment.
//
// Both give the script its arguments (GenericARK passes -t TAG -i ID), the
// environment of the Invocation (exported), its working directory, and
// the builtins every engine shares:
//
//	log LEVEL CODE MESSAGE...          a line in the daemon's log
//	logcmd LEVEL CODE COMMAND [ARG...] run COMMAND, log each output line
//	ark_state TAG                      print the state of resource TAG
//	ins_list -t TAG [-f SEP]           LifeKeeper's ins_list, one line
//
// ins_list prints a single line of seven fields separated by SEP (default
// ^A, \x01): "ark", the resource type and id (known only for the script's
// own TAG, else empty), the tag, two empty fields, and the state as field
// 7, which is what LifeKeeper scripts cut out of it:
//
//	ark^A<type>^A<tag>^A<id>^A^A^A<state>
//
// Misusing a builtin (an unknown log level, a state that cannot be had,
// a missing argument) is a script error, as in Lua and Starlark: the
// script ends with status 1 and Outcome.Err begins with file:line.
//
// # Bash semantics of the in-process engine
//
// mvdan.cc/sh interprets bash faithfully for most scripts, but it runs
// inside the daemon: the script has no process of its own. The engine
// closes the gaps that matter to cluster scripts:
//
//   - $! is the pid of the first process the background job started (for
//     "svc &" that is svc itself, exactly as in bash; for a compound job,
//     "( a; b ) &", it is a's pid where bash would give the subshell's).
//     Expanding $! waits until that process has started, or the job ended
//     without one (then $! is the job spec %N). kill and wait accept these
//     pids and %N.
//   - kill [-s SIG | -SIG | -N] TARGET... signals a pid, -PGID (only a
//     group the action started), %N or $$. It refuses init, every process
//     (0, -1) and the daemon (the plugin's parent) with a message and
//     status 1; any other process may be signalled, since a remove script
//     stops the service an earlier restore started (kill $(cat pidfile)).
//   - $$ is the daemon's pid (there is no script process). "kill -SIG $$"
//     means "signal this script": the script's trap for SIG runs before
//     its next command (while the script waits in the wait builtin, wait
//     returns 128+N first, as in bash); without a trap the script ends
//     with status 128+N, after its EXIT trap (KILL: without it). Any other
//     use of $$ is reported by Check.
//   - trap accepts HUP INT QUIT USR1 USR2 ALRM TERM (and any other real
//     signal) besides EXIT and ERR. At the action's deadline the script
//     is stopped and its TERM trap, then its EXIT trap, run within the
//     grace period (Invocation.Grace), as bash does when it receives
//     SIGTERM; trap "" TERM makes the script end without either, as a
//     SIGKILLed bash would.
//   - wait [-n] [PID|%N...] waits for background jobs, interruptibly;
//     disown is accepted (a script's jobs are never sent SIGHUP).
//   - /dev/stdout, /dev/stderr and /dev/stdin (and /dev/fd/0-2) are the
//     script's streams, not the daemon's.
//   - SECONDS, EPOCHSECONDS, EPOCHREALTIME, HOSTNAME, OSTYPE, HOSTTYPE,
//     MACHTYPE and, when the environment has none, PATH are set as bash
//     sets them (not exported). In background jobs the dynamic ones keep
//     the value they had when the job started.
//   - A builtin's script error in a subshell, command substitution or job
//     ends the whole script, as it does in the system-bash engine.
//
// Approximations: $! of a compound job is its first process, not a
// subshell's; a trap that becomes pending while the main shell runs a
// command from a job's kill runs before the main shell's next command,
// after that command's words have been expanded (a kill of $$ by the
// main shell itself runs the trap at once, as bash does); signal traps
// set in subshells are accepted and never run.
//
// What still cannot run with bash's meaning is reported by Check as
// findings (ulimit, umask, file descriptors above 2, read -t, printf %f,
// associative arrays, PIPESTATUS, coproc, ...), each suggesting
// shell=system.
//
// The engine implements these by rewriting the parsed script before it
// runs (background statements, $!, subshell markers); the rewrite adds
// statements that use variables named __ark_*, which set -x shows.
package sh
