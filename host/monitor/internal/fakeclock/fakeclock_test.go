package fakeclock

import (
	"testing"
	"time"
)

var epoch = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

// owner plays a timer's owner: it receives ticks, records them and re-arms
// the timer by the next step, or stops it when there is none.
func owner(tm interface {
	C() <-chan time.Time
	Reset(time.Duration)
	Stop()
}, steps []time.Duration, got chan<- time.Time) {
	for {
		at := <-tm.C()
		got <- at
		if len(steps) == 0 {
			tm.Stop()
			return
		}
		tm.Reset(steps[0])
		steps = steps[1:]
	}
}

func TestAdvanceStepsThroughDeadlines(t *testing.T) {
	c := New(t, epoch)
	tm := c.NewTimer(time.Second)
	if d := c.Deadlines(); len(d) != 1 || !d[0].Equal(epoch.Add(time.Second)) {
		t.Fatalf("deadlines %v, want one at +1s", d)
	}
	got := make(chan time.Time, 10)
	go owner(tm, []time.Duration{2 * time.Second, 3 * time.Second}, got)
	c.Advance(10 * time.Second)
	close(got)
	var offs []time.Duration
	for at := range got {
		offs = append(offs, at.Sub(epoch))
	}
	want := []time.Duration{time.Second, 3 * time.Second, 6 * time.Second}
	if len(offs) != len(want) {
		t.Fatalf("ticks at %v, want %v", offs, want)
	}
	for i := range want {
		if offs[i] != want[i] {
			t.Fatalf("ticks at %v, want %v", offs, want)
		}
	}
	if !c.Now().Equal(epoch.Add(10 * time.Second)) {
		t.Errorf("now %v, want +10s", c.Now().Sub(epoch))
	}
	if d := c.Deadlines(); len(d) != 0 {
		t.Errorf("deadlines %v after the owner stopped", d)
	}
}

func TestJumpFiresOnceLate(t *testing.T) {
	c := New(t, epoch)
	tm := c.NewTimer(time.Second)
	got := make(chan time.Time, 10)
	go owner(tm, nil, got)
	c.Jump(time.Minute)
	if at := <-got; !at.Equal(epoch.Add(time.Minute)) {
		t.Errorf("tick at %v, want +1m (the time after the jump)", at.Sub(epoch))
	}
}

func TestResetDropsStaleTick(t *testing.T) {
	c := New(t, epoch)
	tm := c.NewTimer(0) // fires at once
	tm.Reset(time.Second)
	select {
	case at := <-tm.C():
		t.Fatalf("stale tick %v received after Reset", at)
	default:
	}
	tm.Stop()
	c.Advance(time.Hour)
	select {
	case at := <-tm.C():
		t.Fatalf("tick %v from a stopped timer", at)
	default:
	}
}
