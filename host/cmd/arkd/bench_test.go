package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ark-ha/ark/host/api"
)

// Benchmarks of the daemon end to end: real arkd, real GenericARK
// plugin, real script engines. They measure; nothing is asserted about
// speed. Run them with `make bench`.

// scripts writes trivial GenericARK actions in lang into a directory.
func scripts(b *testing.B, lang string) string {
	dir := b.TempDir()
	for _, a := range []string{"restore", "remove", "quickCheck"} {
		switch lang {
		case "bash":
			writeFile(b, filepath.Join(dir, a), "#!/bin/bash\ntrue\n")
		case "lua":
			writeFile(b, filepath.Join(dir, a+".lua"), "local tag = env.TAG\n")
		}
	}
	return dir
}

// cpuTicks returns the user+system clock ticks pid has used.
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// quiet lowers arkd's log level to info: the debug line of every
// healthy quickCheck is not part of what a benchmark measures.
func (n *node) quiet() {
	b, err := os.ReadFile(n.conf)
	if err != nil {
		n.t.Fatal(err)
	}
	writeFile(n.t, n.conf, strings.Replace(string(b), "log_level: debug", "log_level: info", 1))
}

func (n *node) pluginPid() int {
	var ks []api.Kit
	_ = json.Unmarshal([]byte(n.must("kit", "list", "--json")), &ks)
	for _, k := range ks {
		if k.Name == "generic" {
			return k.Pid
		}
	}
	return 0
}

func (n *node) monitorStats() api.Monitor {
	var m api.Monitor
	if err := api.NewClient(n.socket).Call(context.Background(), api.PathMonitor, nil, nil, &m); err != nil {
		n.t.Fatal(err)
	}
	return m
}

// BenchmarkMonitor runs N resources whose quickCheck (bash or Lua) is
// due every second, for a fixed window, and reports the CPU arkd and the
// plugin use and how late checks start (p50/p99).
func BenchmarkMonitor(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root (the control socket is root only)")
	}
	window := 10 * time.Second
	for _, lang := range []string{"bash", "lua"} {
		for _, count := range []int{100, 1000, 10000} {
			b.Run(fmt.Sprintf("%s/%d", lang, count), func(b *testing.B) {
				n := newNode(b)
				n.quiet()
				dir := scripts(b, lang)
				var defs strings.Builder
				defs.WriteString("resources:\n  - tag: all\n    type: generic\n    params: {dir: " + dir + "}\n    depends_on:\n")
				for i := range count {
					fmt.Fprintf(&defs, "      - r%d\n", i)
				}
				for i := range count {
					fmt.Fprintf(&defs, "  - tag: r%d\n    type: generic\n    interval: 1s\n    timeouts: {quickCheck: 900ms}\n    params: {dir: %s}\n", i, dir)
				}
				file := filepath.Join(n.dir, "many.yaml")
				writeFile(b, file, defs.String())
				n.start()
				n.must("define", "-f", file)
				t0 := time.Now()
				n.must("start", "all")
				up := time.Since(t0)
				arkd, plugin := n.cmd.Process.Pid, n.pluginPid()
				time.Sleep(2 * time.Second) // let the first, jittered round pass
				m0, c0 := n.monitorStats(), cpuTicks(arkd)+cpuTicks(plugin)
				b.ResetTimer()
				time.Sleep(window)
				b.StopTimer()
				m1, c1 := n.monitorStats(), cpuTicks(arkd)+cpuTicks(plugin)
				cpu := float64(c1-c0) / 100 / window.Seconds() * 100 // USER_HZ is 100 on Linux
				checks := float64(m1.Runs-m0.Runs) / window.Seconds()
				b.ReportMetric(cpu, "cpu%")
				b.ReportMetric(checks, "checks/s")
				b.ReportMetric(float64(m1.Skipped-m0.Skipped), "skipped")
				b.ReportMetric(float64(m1.LatenessP50.Microseconds())/1000, "late-p50-ms")
				b.ReportMetric(float64(m1.LatenessP99.Microseconds())/1000, "late-p99-ms")
				b.ReportMetric(up.Seconds(), "start-all-s")
				n.must("shutdown")
				<-n.exited
			})
		}
	}
}

// BenchmarkBringUp10Deep measures `arkctl start` of a 10-deep chain of
// bash resources, end to end (client, daemon, ten restores in order).
func BenchmarkBringUp10Deep(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root (the control socket is root only)")
	}
	n := newNode(b)
	n.quiet()
	dir := scripts(b, "bash")
	var defs strings.Builder
	defs.WriteString("resources:\n")
	for i := range 10 {
		fmt.Fprintf(&defs, "  - tag: level%d\n    type: generic\n    params: {dir: %s}\n", i, dir)
		if i > 0 {
			fmt.Fprintf(&defs, "    depends_on: [level%d]\n", i-1)
		}
	}
	file := filepath.Join(n.dir, "deep.yaml")
	writeFile(b, file, defs.String())
	n.start()
	n.must("define", "-f", file)
	var total time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		n.must("start", "level9")
		total += time.Since(t0)
		b.StopTimer()
		n.must("stop", "level0")
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/bring-up")
	n.must("shutdown")
	<-n.exited
}
