package monitor_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ark-ha/ark/host/monitor"
)

// BenchmarkSchedule10k schedules 10,000 keys at 1 s with a trivial check on
// the real clock and watches it for a fixed 3 s (after 1 s for the first
// runs): how late checks start (due time to the start of the check, p50
// and p99 in µs), the process's CPU time per second of wall time (from
// getrusage, in ms/s: 10 means 1% of a CPU), checks per second and skipped
// slots; dispatch-p50/p99 are the scheduler's own lateness (due time to
// handing the check to its goroutine, Stats over the last 8192 checks). Each iteration takes about 4 s, so the default -benchtime runs one.
func BenchmarkSchedule10k(b *testing.B) {
	for b.Loop() {
		schedule10k(b, 10000, time.Second, 3*time.Second)
	}
}

func schedule10k(b *testing.B, keys int, interval, window time.Duration) {
	lat := make([]time.Duration, keys*int(window/interval+2))
	var n atomic.Int64
	var measuring atomic.Bool
	check := func(_ context.Context, _ string, due time.Time) {
		late := time.Since(due)
		if measuring.Load() {
			if i := n.Add(1) - 1; int(i) < len(lat) {
				lat[i] = late
			}
		}
	}
	s := monitor.New(monitor.Config{Check: check, Rand: rand.New(rand.NewPCG(1, 2))})
	for i := range keys {
		s.Set(fmt.Sprintf("res-%05d", i), interval)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	time.Sleep(interval) // every key has had its first run

	st0 := s.Stats()
	cpu0 := cpuTime(b)
	t0 := time.Now()
	measuring.Store(true)
	time.Sleep(window)
	measuring.Store(false)
	wall := time.Since(t0)
	cpu := cpuTime(b) - cpu0
	st1 := s.Stats()
	cancel()
	<-done

	got := lat[:min(int(n.Load()), len(lat))]
	if len(got) == 0 {
		b.Fatal("no check ran")
	}
	slices.Sort(got)
	pct := func(p int) float64 {
		return float64(got[(len(got)*p+99)/100-1]) / float64(time.Microsecond)
	}
	b.ReportMetric(pct(50), "late-p50-µs")
	b.ReportMetric(pct(99), "late-p99-µs")
	b.ReportMetric(float64(cpu)/float64(time.Millisecond)/wall.Seconds(), "cpu-ms/s")
	b.ReportMetric(float64(len(got))/wall.Seconds(), "checks/s")
	b.ReportMetric(float64(st1.Skipped-st0.Skipped), "skipped")
	// The scheduler's own view: due time to handing the check over.
	b.ReportMetric(float64(st1.LatenessP50)/float64(time.Microsecond), "dispatch-p50-µs")
	b.ReportMetric(float64(st1.LatenessP99)/float64(time.Microsecond), "dispatch-p99-µs")
}

// cpuTime returns the user and system CPU time this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
