// Package lua is the Lua engine of GenericARK scripts: Lua 5.1 as
// implemented by github.com/yuin/gopher-lua, run in-process with one fresh
// interpreter state per Run.
//
// A script sees a global table env (the action's environment), a table arg
// (arg[0] is the script path, arg[1]... its arguments) and the builtins of
// DESIGN §4 as globals: log, logcmd, run, sleep, state, retry, exit and
// print. The builtins are thin adapters over the methods of
// interpreters.Invocation, so they mean exactly what they mean in the other
// languages.
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
