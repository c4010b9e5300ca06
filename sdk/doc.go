// Package sdk is what a vendor imports to ship an ARK (Application
// Recovery Kit): a resource type that runs as a plugin process of the ark
// host. The contract types live in sdk/ark; the conformance kit vendors run
// from their own `go test` lives in sdk/arktest.
//
// A vendor's plugin is a Go program whose main is one line:
//
//	func main() { sdk.Serve(flagFile{}) }
//
// where flagFile implements ark.ResourceType. The contract, from the host's
// side (DESIGN §3–4):
//
//   - Info is cheap and constant for the life of the process: the type name,
//     its parameters (ark.ParamSpec) and the actions it implements.
//   - Validate runs at definition time; it rejects bad parameters with
//     ark.Misconfigured errors that name the parameter (ark.Info's
//     ValidateParams does the generic part).
//   - Restore must succeed without side effects when the resource already
//     runs here; Remove must succeed when it is already stopped; QuickCheck
//     is read-only; Recover repairs in place. A failed action returns a
//     Result with a non-zero Status; an error means it could not run at
//     all, classed with ark.Transient, ark.NotInstalled or ark.Misconfigured
//     so the host knows where trying again can help. Types without
//     QuickCheck or Recover embed ark.QuickCheckNotSupported or
//     ark.RecoverNotSupported.
//   - Every method honours ctx; an action also enforces its own
//     Request.Timeout, stopping what it started, and reports TimedOut. The
//     host's ctx deadline is a last resort a little after Timeout.
//   - Actions log through Request.Log (see Logf); lines reach the host's
//     log as they are produced. Request.Host answers questions about other
//     resources while an action runs.
//   - The process may run many actions at once (never two on one
//     resource). It must keep no state that a restart would lose: the host
//     restarts a plugin that crashed or froze, and kills it when it stops.
//
// Serve makes the process immune to SIGINT (a Ctrl-C on the host's
// terminal must not kill a plugin mid-action) and to SIGPIPE, and sends the
// default slog logger and anything written to stderr to the host's log.
//
// This package must stay small and must not import host/ or
// interpreters/: what a builtin ARK needs, a vendor needs too.
package sdk
