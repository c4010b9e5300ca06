// Package api is the contract between arkctl and arkd: JSON over HTTP on
// a unix socket that only root (or the daemon's own user) may use. It
// holds the request and reply types, the paths, the client arkctl uses
// and the listener that checks the peer's credentials. It holds no
// daemon logic: the daemon registers handlers for the paths.
package api
