// Package engines is the registry of the script engines: it maps each
// interpreters.Lang to its Engine (bash and system bash from package sh,
// Lua, Starlark). Callers that run GenericARK scripts pick the engine here
// after interpreters.Load has detected the language.
//
// It also holds what must hold for every engine alike: the conformance
// suite (the same scenarios, one script per language, one table of
// expectations), the sandbox-escape tests and the per-action overhead
// benchmarks.
//
// Only wiring lives here; the engines live in their own packages, and
// Execute, the builtins and containment in package interpreters.
package engines
