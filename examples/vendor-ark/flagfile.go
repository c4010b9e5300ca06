package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/ark-ha/ark/sdk"
	"github.com/ark-ha/ark/sdk/ark"
)

// flagFile is a resource type whose resource is a marker file: in service
// while the file at param "path" exists. It has no in-place repair.
type flagFile struct {
	ark.RecoverNotSupported
}

var _ ark.ResourceType = flagFile{}

// Info implements ark.ResourceType.
func (flagFile) Info(context.Context) (ark.Info, error) {
	return ark.Info{
		Type:    "flagfile",
		Version: "1.0.0",
		Doc:     "Keeps a marker file in existence while the resource is in service.",
		Params: []ark.ParamSpec{
			{Name: "path", Type: ark.TypePath, Required: true, Doc: "absolute path of the marker file; its directory must exist"},
		},
		Actions:         []ark.Action{ark.Restore, ark.Remove, ark.QuickCheck},
		DefaultTimeouts: map[ark.Action]time.Duration{ark.QuickCheck: 22 * time.Second},
	}, nil
}

// Validate implements ark.ResourceType.
func (t flagFile) Validate(ctx context.Context, params map[string]string) error {
	info, _ := t.Info(ctx)
	if err := info.ValidateParams(params); err != nil {
		return err
	}
	if p := params["path"]; !filepath.IsAbs(p) {
		return ark.Misconfigured(fmt.Errorf("parameter %q: %q is not an absolute path", "path", p))
	}
	return nil
}

// Restore creates the file; an existing file means already in service.
func (flagFile) Restore(ctx context.Context, req *ark.Request) (ark.Result, error) {
	if err := ctx.Err(); err != nil {
		return ark.Result{}, fmt.Errorf("restore %s: %w", req.Tag, err)
	}
	start := time.Now()
	path := req.Params["path"]
	if _, err := os.Stat(path); err == nil {
		sdk.Logf(req, slog.LevelInfo, "flag file %s already present: in service", path)
		return ark.Result{Message: "already in service", Duration: time.Since(start)}, nil
	}
	// Write a temporary file and rename it: the flag appears whole or not.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(req.Tag+"\n"), 0o644); err != nil {
		return ark.Result{Status: 1, Message: err.Error(), Duration: time.Since(start)}, nil
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return ark.Result{Status: 1, Message: err.Error(), Duration: time.Since(start)}, nil
	}
	sdk.Logf(req, slog.LevelInfo, "created flag file %s", path)
	return ark.Result{Message: "created " + path, Duration: time.Since(start)}, nil
}

// Remove deletes the file; a missing file means already out of service.
func (flagFile) Remove(ctx context.Context, req *ark.Request) (ark.Result, error) {
	if err := ctx.Err(); err != nil {
		return ark.Result{}, fmt.Errorf("remove %s: %w", req.Tag, err)
	}
	start := time.Now()
	path := req.Params["path"]
	switch err := os.Remove(path); {
	case errors.Is(err, fs.ErrNotExist):
		sdk.Logf(req, slog.LevelInfo, "flag file %s already absent: out of service", path)
		return ark.Result{Message: "already out of service", Duration: time.Since(start)}, nil
	case err != nil:
		return ark.Result{Status: 1, Message: err.Error(), Duration: time.Since(start)}, nil
	}
	sdk.Logf(req, slog.LevelInfo, "removed flag file %s", path)
	return ark.Result{Message: "removed " + path, Duration: time.Since(start)}, nil
}

// QuickCheck reports whether the file exists. Read-only.
func (flagFile) QuickCheck(ctx context.Context, req *ark.Request) (ark.Result, error) {
	if err := ctx.Err(); err != nil {
		return ark.Result{}, fmt.Errorf("quickCheck %s: %w", req.Tag, err)
	}
	path := req.Params["path"]
	if _, err := os.Stat(path); err != nil {
		sdk.Logf(req, slog.LevelWarn, "flag file %s is missing", path)
		return ark.Result{Status: 1, Message: "flag file missing: " + path}, nil
	}
	return ark.Result{Message: "flag file present"}, nil
}
