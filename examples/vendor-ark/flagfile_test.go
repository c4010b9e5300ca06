package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ark-ha/ark/sdk/ark"
	"github.com/ark-ha/ark/sdk/arktest"
)

// TestConformance runs the SDK's conformance kit on the type.
func TestConformance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flag")
	arktest.Run(t, flagFile{}, arktest.Config{
		Params: map[string]string{"path": path},
		Running: func() bool {
			_, err := os.Stat(path)
			return err == nil
		},
		Break: func() { _ = os.Remove(path) },
	})
}

// TestValidateRelativePath checks the type's own rule beyond the schema.
func TestValidateRelativePath(t *testing.T) {
	err := flagFile{}.Validate(context.Background(), map[string]string{"path": "flag"})
	if !errors.Is(err, ark.ErrMisconfigured) {
		t.Fatalf("relative path: %v, want a misconfigured error", err)
	}
}
