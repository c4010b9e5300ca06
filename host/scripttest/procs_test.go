package scripttest

import (
	"reflect"
	"testing"
)

func TestNewProcs(t *testing.T) {
	const plugin = 100
	p := func(pid, ppid int) process { return process{PID: pid, PPID: ppid, Start: uint64(pid)} }
	before := snapshot{}
	for _, x := range []process{p(1, 0), p(50, 1), p(plugin, 50), p(60, 1), p(70, 1)} {
		before[x.key()] = x
	}
	after := snapshot{}
	for k, v := range before {
		if v.PID != 70 { // 70 exits during the step
			after[k] = v
		}
	}
	for _, x := range []process{
		p(200, plugin), // started by the plugin
		p(201, 200),    // its child
		p(300, 1),      // a daemon that detached (reparented to init)
		p(400, 60),     // forked by an unrelated program that ran before
		p(401, 400),    // and its child
	} {
		after[x.key()] = x
	}
	zombie := p(500, plugin)
	zombie.zombie = true
	after[zombie.key()] = zombie
	// A reused pid is a new process: same pid, later start time.
	reused := process{PID: 70, PPID: plugin, Start: 999}
	after[reused.key()] = reused

	got := newProcs(before, after, plugin, map[int]bool{201: true}, "")
	var pids []int
	for _, x := range got {
		pids = append(pids, x.PID)
	}
	if want := []int{70, 200, 300}; !reflect.DeepEqual(pids, want) {
		t.Fatalf("newProcs = %v, want %v (plugin's children, detached daemons and reused pids; not excluded, unrelated or zombie ones)", pids, want)
	}
}
