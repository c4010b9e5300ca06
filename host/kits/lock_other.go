//go:build !unix

package kits

import "os"

// lockDir does not lock without flock(2).
func lockDir(string) (*os.File, error) { return nil, nil }
