package engines

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ark-ha/ark/interpreters"
	"github.com/ark-ha/ark/interpreters/proc"
	"github.com/ark-ha/ark/sdk/ark"
)

// trivial is a script that only exits 0, per language.
var trivial = map[interpreters.Lang]string{
	interpreters.LangBash:       "exit 0\n",
	interpreters.LangSystemBash: "exit 0\n",
	interpreters.LangLua:        "exit(0)\n",
	interpreters.LangStarlark:   "exit(0)\n",
}

// BenchmarkAction measures the per-action overhead of each engine: a
// script that only exits, run through Execute (pipes, containment,
// goroutines) and through Engine.Run alone; and, for scale, a fork/exec
// of /bin/bash -c 'exit 0'.
func BenchmarkAction(b *testing.B) {
	for _, lang := range Langs() {
		eng, _ := For(lang)
		path := filepath.Join(b.TempDir(), "trivial"+exts[lang])
		if err := os.WriteFile(path, []byte(trivial[lang]), 0o644); err != nil {
			b.Fatal(err)
		}
		s, err := interpreters.Load(path)
		if err != nil {
			b.Fatal(err)
		}
		newInv := func() *interpreters.Invocation {
			return &interpreters.Invocation{
				Args: defaultArgs, Env: defaultEnv("bench"), Log: func(ark.LogLine) {},
			}
		}
		b.Run(fmt.Sprintf("%s/Execute", lang), func(b *testing.B) {
			for b.Loop() {
				res := interpreters.Execute(context.Background(), eng, s, newInv(), interpreters.Options{})
				if res.Status != 0 || res.Err != nil {
					b.Fatal(res.Status, res.Err)
				}
			}
		})
		if parent := cgroupParent(); parent != "" {
			b.Run(fmt.Sprintf("%s/Execute-cgroup", lang), func(b *testing.B) {
				i := 0
				for b.Loop() {
					i++
					opts := interpreters.Options{Containment: proc.Options{
						CgroupParent: parent, Name: fmt.Sprintf("bench-%d-%d", os.Getpid(), i)}}
					res := interpreters.Execute(context.Background(), eng, s, newInv(), opts)
					if res.Status != 0 || res.Err != nil {
						b.Fatal(res.Status, res.Err)
					}
				}
			})
		}
		b.Run(fmt.Sprintf("%s/Run", lang), func(b *testing.B) {
			for b.Loop() {
				if out := eng.Run(context.Background(), s, newInv()); out.Status != 0 || out.Err != nil {
					b.Fatal(out.Status, out.Err)
				}
			}
		})
	}
	b.Run("fork-exec-bash", func(b *testing.B) {
		for b.Loop() {
			if err := exec.Command("/bin/bash", "-c", "exit 0").Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
