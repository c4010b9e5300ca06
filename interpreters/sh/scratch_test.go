package sh

import (
	"os"
	"testing"
	"time"
)

func TestScratch(t *testing.T) {
	src := os.Getenv("SRC")
	for name, eng := range engines {
		res, l := execute(t, eng, src, runOpts{timeout: 3 * time.Second, grace: time.Second})
		t.Logf("%s: status=%d err=%v timedout=%v killed=%v left=%v dur=%v", name, res.Status, res.Err, res.TimedOut, res.Killed, res.Left, res.Duration)
		for _, s := range l.script() {
			t.Logf("   %s", s)
		}
	}
}
