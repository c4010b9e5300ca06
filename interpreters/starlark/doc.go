// Package starlark is the Starlark engine of GenericARK scripts
// (go.starlark.net), run in-process with one fresh thread per Run.
//
// Scripts are compiled with while loops, recursion, top-level control
// flow, global reassignment and set() allowed. They see the predeclared
// names of DESIGN §4: env (a frozen dict of the action's environment),
// argv (a frozen list: argv[0] is the script path, argv[1]... its
// arguments, so that argv[1] is bash's $1 and Lua's arg[1]), and the
// builtins:
//
//	log(level, code, msg)
//	logcmd(level, code, cmd, *args)  -> status
//	run(cmd, *args)                  -> (status, stdout, stderr)
//	sleep(seconds)
//	state(tag)                       -> "ISP", "OSU", ... (error if unknown)
//	retry(n, delay_seconds, fn)      -> True if fn returned a true value
//	exit(status=0)                   exit(True): 0; exit(False): 1
//	print(*args)                     a line of the script's output
//
// They are thin adapters over the methods of interpreters.Invocation, so
// they mean exactly what they mean in the other languages. env is frozen
// because changing it could not change what commands see; a script that
// wants its own variables copies it with dict(env). Starlark has no
// exception handling: any error, like exit, ends the script.
//
// Starlark has no file, process or network access of its own and this
// package adds none beyond the builtins; load statements are rejected.
//
// This package holds the engine only; language detection, Execute and
// process containment live in package interpreters and must stay there.
package starlark
