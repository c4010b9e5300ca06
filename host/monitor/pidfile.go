package monitor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// ErrBadPidFile is wrapped by the errors of [ReadPidFile] when the file
// could be read but does not hold a pid.
var ErrBadPidFile = errors.New("malformed pid file")

// maxPidFile bounds how much of a pid file is read: a pid file is a number
// and a newline, so anything longer is not one.
const maxPidFile = 64

// maxPid is the largest pid Linux can hand out (PID_MAX_LIMIT, 2^22).
const maxPid = 1 << 22

// ReadPidFile reads the pid in the file at path. The file must hold exactly
// a positive decimal integer, without sign or leading zeros, optionally
// followed by whitespace (typically one newline); anything else is an error
// wrapping [ErrBadPidFile] that names the file and what is wrong with it. An
// error opening or reading the file is returned wrapped, so
// errors.Is(err, fs.ErrNotExist) holds for a missing file.
//
// ReadPidFile does not check that the process exists: [Watch] does.
func ReadPidFile(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("pid file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPidFile+1))
	if err != nil {
		return 0, fmt.Errorf("pid file %s: %w", path, err)
	}
	if len(b) > maxPidFile {
		return 0, fmt.Errorf("pid file %s: longer than %d bytes: %w", path, maxPidFile, ErrBadPidFile)
	}
	pid, err := parsePid(string(b))
	if err != nil {
		return 0, fmt.Errorf("pid file %s: %w: %w", path, err, ErrBadPidFile)
	}
	return pid, nil
}

// parsePid parses the contents of a pid file; its errors say what is wrong.
func parsePid(s string) (int, error) {
	t := strings.TrimRight(s, " \t\r\n")
	switch {
	case t == "" && s == "":
		return 0, errors.New("empty")
	case t == "":
		return 0, errors.New("only whitespace")
	}
	if i := strings.IndexFunc(t, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		return 0, fmt.Errorf("%q is not a positive decimal integer (unexpected %q at byte %d)", t, t[i], i)
	}
	if t[0] == '0' {
		if len(t) == 1 {
			return 0, errors.New("pid 0 is not a process")
		}
		return 0, fmt.Errorf("%q has leading zeros", t)
	}
	pid, err := strconv.Atoi(t)
	if err != nil || pid > maxPid {
		return 0, fmt.Errorf("%s is larger than any pid (%d)", t, maxPid)
	}
	return pid, nil
}
