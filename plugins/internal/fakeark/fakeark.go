package fakeark

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/ark-ha/ark/sdk"
	"github.com/ark-ha/ark/sdk/ark"
)

// Type is the fake resource type. Parameters, all optional:
//
//	logs=N          log N lines "line 1".."line N" (code "FAKE") first
//	sleep=D         then log "sleeping D" and sleep D (until ctx ends)
//	ask_state=TAG   then put req.Host.State(TAG) in the result message
//	fail=CLASS      then fail with an error of CLASS (transient,
//	                not-installed, misconfigured, none)
//	status=N        else return status N
//	crash=true      exit the process with status 3 instead
//	panic=true      panic instead
//	stderr=TEXT     write TEXT to stderr first
//	slog=TEXT       log TEXT at warn through the default slog logger first
type Type struct {
	ark.RecoverNotSupported
}

var _ ark.ResourceType = Type{}

// Info implements ark.ResourceType.
func (Type) Info(context.Context) (ark.Info, error) {
	return ark.Info{
		Type:    "fake",
		Version: "1.0",
		Doc:     "a fake resource type driven by its parameters",
		Params: []ark.ParamSpec{
			{Name: "logs", Type: ark.TypeInt},
			{Name: "sleep", Type: ark.TypeDuration},
			{Name: "ask_state", Type: ark.TypeString},
			{Name: "fail", Type: ark.TypeString},
			{Name: "status", Type: ark.TypeInt, Default: "0"},
			{Name: "crash", Type: ark.TypeBool},
			{Name: "panic", Type: ark.TypeBool},
			{Name: "stderr", Type: ark.TypeString},
			{Name: "slog", Type: ark.TypeString},
		},
		Actions:         []ark.Action{ark.Restore, ark.Remove, ark.QuickCheck},
		DefaultTimeouts: map[ark.Action]time.Duration{ark.QuickCheck: 22 * time.Second},
		// Open, so that the round trip proves OpenParams crosses the wire.
		OpenParams: true,
	}, nil
}

// Validate implements ark.ResourceType.
func (t Type) Validate(ctx context.Context, params map[string]string) error {
	info, _ := t.Info(ctx)
	return info.ValidateParams(params)
}

// Restore implements ark.ResourceType.
func (t Type) Restore(ctx context.Context, req *ark.Request) (ark.Result, error) {
	return t.act(ctx, ark.Restore, req)
}

// Remove implements ark.ResourceType.
func (t Type) Remove(ctx context.Context, req *ark.Request) (ark.Result, error) {
	return t.act(ctx, ark.Remove, req)
}

// QuickCheck implements ark.ResourceType.
func (t Type) QuickCheck(ctx context.Context, req *ark.Request) (ark.Result, error) {
	return t.act(ctx, ark.QuickCheck, req)
}

func (Type) act(ctx context.Context, a ark.Action, req *ark.Request) (ark.Result, error) {
	start := time.Now()
	p := req.Params
	if s := p["stderr"]; s != "" {
		fmt.Fprintln(os.Stderr, s)
	}
	if s := p["slog"]; s != "" {
		slog.Warn(s, "action", string(a), "tag", req.Tag)
	}
	n, _ := strconv.Atoi(p["logs"])
	for i := 1; i <= n; i++ {
		req.Log(ark.LogLine{Time: time.Now(), Level: slog.LevelInfo, Code: "FAKE", Message: fmt.Sprintf("line %d", i)})
	}
	if d, _ := time.ParseDuration(p["sleep"]); d > 0 {
		sdk.Logf(req, slog.LevelInfo, "sleeping %s", d)
		select {
		case <-ctx.Done():
			return ark.Result{}, fmt.Errorf("%s %s: interrupted while sleeping: %w", a, req.Tag, ctx.Err())
		case <-time.After(d):
		}
	}
	if p["crash"] == "true" {
		os.Exit(3)
	}
	if p["panic"] == "true" {
		panic("fake panic")
	}
	msg := fmt.Sprintf("%s %s done", a, req.Tag)
	if tag := p["ask_state"]; tag != "" {
		if req.Host == nil {
			return ark.Result{}, errors.New("no host services")
		}
		st, err := req.Host.State(ctx, tag)
		if err != nil {
			return ark.Result{}, fmt.Errorf("ask state of %s: %w", tag, err)
		}
		msg = fmt.Sprintf("state of %s is %s", tag, st)
	}
	if c := p["fail"]; c != "" {
		err := fmt.Errorf("%s %s failed on purpose (%s)", a, req.Tag, c)
		switch c {
		case "transient":
			err = ark.Transient(err)
		case "not-installed":
			err = ark.NotInstalled(err)
		case "misconfigured":
			err = ark.Misconfigured(err)
		}
		return ark.Result{Status: 1, Message: "partial"}, err
	}
	status, _ := strconv.Atoi(p["status"])
	return ark.Result{
		Status:   status,
		Message:  msg,
		Duration: time.Since(start),
		Warnings: []string{"fake warning"},
	}, nil
}
