// Command ark-generic is the GenericARK resource type: it protects any
// application with the user's own restore, remove, quickCheck and recover
// scripts, written in bash (run in-process by mvdan.cc/sh, or by the
// system's /bin/bash with shell=system), Lua or Starlark.
//
// It is a plugin binary built only on sdk/ and interpreters/, exactly as a
// vendor would build one; it must never import host/.
package main
