package replica

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkFailover prints how long the cluster takes to recover from the
// leader's Close (which hands leadership over first) and from its crash
// (no hand-over: the others notice the silence): from then until another
// node is the leader and an Apply there succeeds. Figures only, nothing
// asserted. Run with
//
//	go test -run '^$' -bench Failover -benchtime 5x ./host/replica/
func BenchmarkFailover(b *testing.B) {
	for _, tm := range []struct{ hb, el, lease time.Duration }{
		{500 * time.Millisecond, 500 * time.Millisecond, 250 * time.Millisecond},
		{300 * time.Millisecond, 300 * time.Millisecond, 150 * time.Millisecond},
	} {
		for _, how := range []string{"close", "crash"} {
			b.Run(fmt.Sprintf("%s-%v-%v-%v", how, tm.hb, tm.el, tm.lease), func(b *testing.B) {
				benchFailover(b, tm.hb, tm.el, tm.lease, how == "crash")
			})
		}
	}
}

func benchFailover(b *testing.B, hb, el, lease time.Duration, crash bool) {
	var total, worst time.Duration
	for i := range b.N {
		b.StopTimer()
		c := newCluster(b, "n1", "n2", "n3")
		for _, n := range c.nodes {
			cfg := c.config(n.Name)
			cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = hb, el, lease
			c.startWith(cfg)
		}
		old := c.waitLeader("n1", "n2", "n3")
		if err := c.running[old].r.Apply(ctx(b), define("a")); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if crash {
			// No leadership transfer: raft stops, its connections drop.
			n := c.running[old]
			delete(c.running, old)
			n.r.once.Do(func() {
				n.r.closing.Store(true)
				n.r.cleanup()
			})
		} else {
			c.stop(old)
		}
		var took time.Duration
		eventually(b, "failover", func() error {
			for _, n := range c.running {
				if n.r.IsLeader() {
					if err := n.r.Apply(ctx(b), define(fmt.Sprint("b", i))); err != nil {
						return err
					}
					took = time.Since(start)
					return nil
				}
			}
			return fmt.Errorf("no leader")
		})
		b.StopTimer()
		total += took
		worst = max(worst, took)
		for name := range c.running {
			c.stop(name)
		}
	}
	how := "close"
	if crash {
		how = "crash"
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/failover")
	b.ReportMetric(float64(worst.Milliseconds()), "worst-ms")
	b.Logf("%s, timings %v/%v/%v: mean failover %v, worst %v over %d", how, hb, el, lease,
		(total / time.Duration(b.N)).Round(time.Millisecond), worst.Round(time.Millisecond), b.N)
}
