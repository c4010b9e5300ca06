package sh

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/ark-ha/ark/interpreters"
	"github.com/ark-ha/ark/interpreters/proc"
	"github.com/ark-ha/ark/sdk/ark"
)

// BenchmarkExecute runs a trivial script (exit 0) through Execute with
// each engine and containment: the fixed cost of an action.
func BenchmarkExecute(b *testing.B) {
	path := filepath.Join(b.TempDir(), "trivial.sh")
	src := []byte("exit 0\n")
	if err := os.WriteFile(path, src, 0o644); err != nil {
		b.Fatal(err)
	}
	for name, eng := range engines {
		for mode, parent := range modes() {
			b.Run(name+"/"+mode, func(b *testing.B) {
				s := &interpreters.Script{Path: path, Source: src, Lang: eng.Lang()}
				n := 0
				for b.Loop() {
					inv := &interpreters.Invocation{
						Args: []string{"-t", "web", "-i", "web-id"},
						Env:  map[string]string{"TAG": "web", "PATH": interpreters.DefaultPath},
						Log:  func(ark.LogLine) {},
					}
					opts := interpreters.Options{}
					if parent != "" {
						n++
						opts.Containment = proc.Options{CgroupParent: parent, Name: "sh-bench-" + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(n)}
					}
					if res := interpreters.Execute(context.Background(), eng, s, inv, opts); res.Status != 0 || res.Err != nil {
						b.Fatalf("status %d, err %v", res.Status, res.Err)
					}
				}
			})
		}
	}
}
