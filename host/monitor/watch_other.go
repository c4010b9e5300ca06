//go:build !linux

package monitor

import (
	"context"
	"errors"
	"fmt"
)

// ProcessWatch reports the death of one process; only Linux has it.
type ProcessWatch struct{ pid int }

// Watch is only implemented on Linux; elsewhere it returns an error
// wrapping errors.ErrUnsupported.
func Watch(ctx context.Context, pid int) (*ProcessWatch, error) {
	return nil, fmt.Errorf("watch pid %d: %w", pid, errors.ErrUnsupported)
}

// Pid returns the pid the watch was started for.
func (w *ProcessWatch) Pid() int { return w.pid }

// Done returns a channel that is closed when the process has died.
func (w *ProcessWatch) Done() <-chan struct{} { return nil }

// Stop ends the watch.
func (w *ProcessWatch) Stop() {}
