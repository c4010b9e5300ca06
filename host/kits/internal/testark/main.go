// Command testark is a plugin for the kits tests: resource type "testark",
// whose parameters are read, at every Info call, from the file
// BINARY.params beside its binary (comma-separated names, all strings).
// Changing that file between two launches changes the plugin's schema
// while its binary, and so its pin, stays the same. Its actions succeed
// and do nothing.
package main

import (
	"context"
	"os"
	"strings"

	"github.com/ark-ha/ark/sdk"
	"github.com/ark-ha/ark/sdk/ark"
)

func main() { sdk.Serve(testark{}) }

type testark struct {
	ark.RecoverNotSupported
}

var _ ark.ResourceType = testark{}

func (testark) Info(context.Context) (ark.Info, error) {
	info := ark.Info{
		Type:    "testark",
		Version: "1",
		Actions: []ark.Action{ark.Restore, ark.Remove, ark.QuickCheck},
	}
	exe, err := os.Executable()
	if err != nil {
		return info, err
	}
	b, err := os.ReadFile(exe + ".params")
	if err != nil && !os.IsNotExist(err) {
		return info, err
	}
	for _, n := range strings.Split(strings.TrimSpace(string(b)), ",") {
		if n != "" {
			info.Params = append(info.Params, ark.ParamSpec{Name: n, Type: ark.TypeString})
		}
	}
	return info, nil
}

func (t testark) Validate(ctx context.Context, params map[string]string) error {
	info, err := t.Info(ctx)
	if err != nil {
		return err
	}
	return info.ValidateParams(params)
}

func (testark) Restore(context.Context, *ark.Request) (ark.Result, error) {
	return ark.Result{Message: "restored"}, nil
}

func (testark) Remove(context.Context, *ark.Request) (ark.Result, error) {
	return ark.Result{Message: "removed"}, nil
}

func (testark) QuickCheck(context.Context, *ark.Request) (ark.Result, error) {
	return ark.Result{Message: "healthy"}, nil
}
