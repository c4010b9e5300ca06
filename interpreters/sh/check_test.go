package sh

import (
	"strings"
	"testing"

	"github.com/ark-ha/ark/interpreters"
)

// TestCheckFindings checks that each construct the in-process engine
// cannot run with bash's meaning is reported, at its line.
func TestCheckFindings(t *testing.T) {
	cases := []struct {
		src       string
		construct string
		line, col int
	}{
		{"ulimit -n 1024", "ulimit", 1, 1},
		{"echo x\numask 022", "umask", 2, 1},
		{"printf '%.2f\\n' 3.14", "printf %.2f", 1, 8},
		{"printf '%s %e\\n' a 1", "printf %e", 1, 8},
		{"printf '%#x' 255", "printf %#x", 1, 8},
		{"printf '%(%Y)T' -1", "printf %(%Y)T", 1, 8},
		{"printf -v var %s x", "printf -v", 1, 1},
		{"read -t 5 answer", "read -t", 1, 1},
		{"read -rn 1 key", "read -n", 1, 1},
		{"mapfile -u 3 lines", "mapfile -u", 1, 1},
		{"exec 3>/tmp/out", "fd 3", 1, 6},
		{"echo hi >&3", ">&3", 1, 9},
		{"exec {fd}>/tmp/out", "fd {fd}", 1, 6},
		{"read line <&4", "<&4", 1, 11},
		{"echo x >| /tmp/f", ">|", 1, 8},
		{"cat <> /tmp/f", "<>", 1, 5},
		{"echo x > /dev/tcp/10.0.0.1/80", "/dev/tcp/10.0.0.1/80", 1, 10},
		{"true | false\necho ${PIPESTATUS[0]}", "$PIPESTATUS", 2, 6},
		{"declare -A map", "declare -A", 1, 9},
		{"f() {\n  local -A m\n}", "local -A", 2, 9},
		{"declare -i n=1", "declare -i", 1, 9},
		{"coproc cat", "coproc", 1, 1},
		{"trap 'echo' DEBUG", "trap DEBUG", 1, 13},
		{"trap 'echo' RETURN", "trap RETURN", 1, 13},
		{"trap 'reap' INT CHLD", "trap SIGCHLD", 1, 17},
		{"sleep 1 & wait -p id", "wait -p", 1, 11},
		{"suspend", "suspend", 1, 1},
		{"enable -n echo", "enable", 1, 1},
		{"jobs -p", "jobs", 1, 1},
		{"f() { caller; }", "caller", 1, 7},
		{"ps $$", "$$", 1, 4},
		{"tmp=/tmp/app.$$", "$$", 1, 14},
		{"echo $BASHPID", "$BASHPID", 1, 6},
		{"echo $PPID", "$PPID", 1, 6},
		{"f() { echo $FUNCNAME; }", "$FUNCNAME", 1, 12},
		{"[ -n \"$BASH_VERSION\" ]", "$BASH_VERSION", 1, 7},
		{"echo \"${x@Q}\"", "${var@Q}", 1, 7},
		{"set -E", "set -E", 1, 1},
		{"set -o errtrace", "set -o errtrace", 1, 1},
		{"shopt -s nocasematch", "shopt -s nocasematch", 1, 1},
		{"let 'x = x + 1'", "let", 1, 5},
		{"exec -a name sleep 1", "exec -a", 1, 1},
		{"SECONDS=0", "SECONDS=", 1, 1},
		{"command ulimit -c 0", "ulimit", 1, 9},
	}
	for _, c := range cases {
		t.Run(c.src, func(t *testing.T) {
			fs, err := New().Check(&interpreters.Script{Path: "/etc/ark/x.sh", Source: []byte(c.src + "\n")})
			if err != nil {
				t.Fatal(err)
			}
			if len(fs) != 1 {
				t.Fatalf("findings %q, want one for %s", fs, c.construct)
			}
			f := fs[0]
			if f.Construct != c.construct || f.Line != c.line || f.Col != c.col || f.Path != "/etc/ark/x.sh" {
				t.Errorf("finding %s, want %s at %d:%d", f, c.construct, c.line, c.col)
			}
			if !strings.Contains(f.Message, "shell=system") {
				t.Errorf("message %q does not suggest shell=system", f.Message)
			}
		})
	}
}

// TestCheckClean checks constructs that run with their bash meaning are
// not reported.
func TestCheckClean(t *testing.T) {
	src := `#!/bin/bash
set -euo pipefail
shopt -s nullglob extglob
trap 'cleanup' EXIT ERR
trap 'on_term' INT TERM HUP USR1 0
trap - QUIT
trap '' PIPE 2>/dev/null || true
cleanup() { :; }
on_term() { exit 1; }
while getopts t:i: o; do :; done
svc --daemon & pid=$!
echo "$!" > /tmp/pidfile
kill -0 "$pid" && kill -TERM "$pid"
kill -INT $$
wait -n || wait "$pid" || true
sleep 1 & disown
declare -a list=(a b)
local_fn() { local x=1; declare -g y=2; declare -r z=3; echo "$x$y$z"; }
printf '%-10s|%05d|%x|%s\n' a 1 255 "${list[@]}"
read -r -a words <<< "a b"
mapfile -t lines < <(printf 'a\nb\n')
exec >/tmp/out 2>&1
exec 2>/dev/null
echo err >&2
cat <<EOF
here
EOF
[[ abc =~ a(b)c ]] && echo "${BASH_REMATCH[1]}"
x=$(</etc/hostname)
select s in a b; do break; done
echo $RANDOM $LINENO $SECONDS
logcmd LK_INFO 1 ls /
log LK_INFO 2 "done"
ins_list -t "$TAG" | cut -d $'\001' -f 7
`
	fs, err := New().Check(&interpreters.Script{Path: "x.sh", Source: []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		t.Errorf("unexpected finding %s", f)
	}
}

func TestCheckSyntaxError(t *testing.T) {
	src := "echo ok\nif true; then\n  echo x\n"
	for name, eng := range engines {
		t.Run(name, func(t *testing.T) {
			fs, err := eng.Check(&interpreters.Script{Path: "/etc/ark/restore.sh", Source: []byte(src)})
			if err == nil {
				t.Fatalf("no error for a syntax error (findings %q)", fs)
			}
			// bash names the line it gave up at: the end of the file.
			if !strings.HasPrefix(err.Error(), "/etc/ark/restore.sh:") {
				t.Errorf("error %q does not begin with the file", err)
			}
			t.Log(err)
		})
	}
	_, err := New().Check(&interpreters.Script{Path: "/etc/ark/restore.sh", Source: []byte("echo ok\necho )\n")})
	if err == nil || !strings.HasPrefix(err.Error(), "/etc/ark/restore.sh:2:6:") {
		t.Errorf("error %v, want /etc/ark/restore.sh:2:6: ...", err)
	}
	_, err = NewSystem().Check(&interpreters.Script{Path: "/etc/ark/restore.sh", Source: []byte("echo ok\necho )\n")})
	if err == nil || !strings.HasPrefix(err.Error(), "/etc/ark/restore.sh:2: ") {
		t.Errorf("error %v, want /etc/ark/restore.sh:2: ...", err)
	}
}
