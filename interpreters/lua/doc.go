// Package lua is the Lua engine of GenericARK scripts: Lua 5.1 as
// implemented by github.com/yuin/gopher-lua, run in-process with one fresh
// interpreter state per Run.
//
// A script sees a global table env (a copy of the action's environment:
// changing it does not change what commands see), a table arg (arg[0] is
// the script path, arg[1]... its arguments) and the builtins of DESIGN §4
// as globals:
//
//	log(level, code, msg)
//	logcmd(level, code, cmd, args...)  -> status
//	run(cmd, args...)                  -> status, stdout, stderr
//	sleep(seconds)
//	state(tag)                         -> "ISP", "OSU", ... (error if unknown)
//	retry(n, delay_seconds, fn)        -> true if fn returned a true value
//	exit([status])                     exit(), exit(true): 0; exit(false): 1
//	print(...)                         a line of the script's output
//
// They are thin adapters over the methods of interpreters.Invocation, so
// they mean exactly what they mean in the other languages. Mind Lua's
// truth: 0 is true, so retry's fn must return a comparison such as
// run("check") == 0, not the status. Builtin failures (a bad log level,
// state of an unknown resource) are Lua errors, which pcall can catch;
// exit and the deadline cannot be caught.
//
// The interpreter is sandboxed: only the base library (without dofile,
// loadfile, load, loadstring, require, module, collectgarbage), table,
// string (without string.dump), math, coroutine and an os table holding
// time, clock, date and difftime are available. No io, package, debug or
// channel. The only way to touch files, processes or the network is
// through the builtins.
//
// This package holds the engine only; language detection, Execute and
// process containment live in package interpreters and must stay there.
package lua
