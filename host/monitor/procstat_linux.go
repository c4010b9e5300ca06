//go:build linux

package monitor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// errProcGone is returned by readProcStat when the process no longer
// exists.
var errProcGone = errors.New("process gone")

// procStat is what the polling fallback needs from /proc/pid/stat.
type procStat struct {
	state byte   // R, S, D, Z, X, ...
	start uint64 // start time, clock ticks after boot: with the pid, an identity
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
		return procStat{}, errProcGone
	}
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(string(b))
}

// parseProcStat parses the contents of /proc/pid/stat (proc(5)).
func parseProcStat(s string) (procStat, error) {
	// The command name is in parentheses and may hold spaces and parentheses.
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return procStat{}, fmt.Errorf("malformed /proc stat %q", s)
	}
	f := strings.Fields(s[i+2:])
	// f[0] is field 3 (state); field 22 (starttime) is f[19].
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("malformed /proc stat %q", s)
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("malformed /proc stat start time %q", f[19])
	}
	return procStat{state: f[0][0], start: start}, nil
}
