// Package interpreters runs the user's GenericARK actions. It holds the one
// Engine interface the three script engines implement (bash via
// mvdan.cc/sh, Lua via gopher-lua, Starlark), the language detection, the
// builtins every engine exposes with the same names and meaning (log,
// logcmd, run, sleep, state, retry, exit, env), and Execute, which applies
// the action's timeout: at the deadline the script is stopped and every
// process it started is killed, TERM then KILL after a grace period.
//
// Engines live in sub-packages (sh, lua, starlark) and import this one;
// this package must not import them, nor anything of the host or the
// plugin protocol. Process containment is in proc.
package interpreters
