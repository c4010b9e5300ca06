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
		for _, crash := range []bool{false, true} {
			how := "close"
			if crash {
				how = "crash"
			}
			b.Run(fmt.Sprintf("%s-%v-%v-%v", how, tm.hb, tm.el, tm.lease), func(b *testing.B) {
				benchFailover(b, tm.hb, tm.el, tm.lease, crash)
			})
		}
	}
}

func benchFailover(b *testing.B, hb, el, lease time.Duration, crash bool) {
	tm := struct{ hb, el, lease time.Duration }{hb, el, lease}
	{
		{
			var total, worst time.Duration
			for i := range b.N {
				b.StopTimer()
				c := newCluster(b, "n1", "n2", "n3")
				for _, n := range c.nodes {
					cfg := c.config(n.Name)
					cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = tm.hb, tm.el, tm.lease
					c.startWith(cfg)
				}
				old := c.waitLeader("n1", "n2", "n3")
				if err := c.running[old].r.Apply(ctx(b), define("a")); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				if crash {
					// No leadership transfer: raft stops, connections drop.
					n := c.running[old]
					delete(c.running, old)
					n.r.once.Do(func() { n.r.closing.Store(true); n.r.cleanup() })
				} else {
					c.stop(old)
				}
				var took time.Duration
				eventually(b, "failover", func() error {
					for name, n := range c.running {
						if n.r.IsLeader() {
							if err := n.r.Apply(ctx(b), define(fmt.Sprint("b", i))); err != nil {
								return err
							}
							took = time.Since(start)
							_ = name
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
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/failover")
			b.ReportMetric(float64(worst.Milliseconds()), "worst-ms")
			b.Logf("%v, timings %v/%v/%v: mean failover %v, worst %v over %d", map[bool]string{false: "close", true: "crash"}[crash], tm.hb, tm.el, tm.lease,
				(total / time.Duration(b.N)).Round(time.Millisecond), worst.Round(time.Millisecond), b.N)
		})
	}
}
