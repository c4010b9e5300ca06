package monitor

import "errors"

// ErrNoProcess is wrapped by the error of [Watch] when the pid names no
// process.
var ErrNoProcess = errors.New("no such process")
