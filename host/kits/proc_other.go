//go:build !linux

package kits

import (
	"errors"
	"time"
)

// procIdentity is what tells one process from another that later got the
// same pid.
type procIdentity struct {
	StartTime uint64
	Exe       string
	Zombie    bool
}

var errNoProcess = errors.New("no such process")

// identify is not implemented without /proc: records carry the pid only.
func identify(int) (procIdentity, error) {
	return procIdentity{}, errors.New("process identity needs /proc (Linux)")
}

func bootID() string { return "" }

// killOrphan never kills without /proc: it cannot tell the recorded
// plugin from a process that reused its pid.
func killOrphan(rec record, _ time.Duration) (bool, error) {
	return false, errors.New("orphan detection needs /proc (Linux): left alone")
}
