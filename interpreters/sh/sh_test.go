package sh

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ark-ha/ark/interpreters"
)

// TestScripts runs small scripts with both engines, under both
// containments, and compares their log lines, status and error.
func TestScripts(t *testing.T) {
	cases := []struct {
		name   string
		src    string
		args   []string
		env    map[string]string
		status int
		logs   []string // exactly these (Execute's own lines aside)
		errAt  int      // Err begins with path:errAt:
		errHas string
	}{
		{name: "exit 0", src: "exit 0\n"},
		{name: "exit 3", src: "log info BEFORE x\nexit 3\nlog info AFTER x\n", status: 3, logs: []string{"INFO BEFORE x"}},
		{name: "exit in function", src: "f() { exit 7; }\nf\nlog info AFTER x\n", status: 7},
		{name: "status of the last command", src: "false\n", status: 1},
		{name: "command not found", src: "ark-no-such-command 2>/dev/null\nlog info ST $?\n", logs: []string{"INFO ST 127"}},
		{name: "log levels and words", src: `log LK_DEBUG L1 debug message
log LK_INFO L2 "info  message"
log LK_WARN L3 warn
log LK_ERROR L4 error
log warning L5 plain warn
log ERROR L6
`, logs: []string{"DEBUG L1 debug message", "INFO L2 info  message", "WARN L3 warn", "ERROR L4 error", "WARN L5 plain warn", "ERROR L6 "}},
		{name: "log bad level", src: "log info BEFORE x\nlog LK_LOUD X y\nlog info AFTER x\n",
			status: 1, errAt: 2, errHas: "unknown log level", logs: []string{"INFO BEFORE x"}},
		{name: "log bad level in a command substitution", src: "x=$(log LK_LOUD X y)\nlog info AFTER x\n",
			status: 1, errAt: 1, errHas: "unknown log level"},
		{name: "log bad level in a nested subshell", src: "x=$( (log LK_LOUD X y); log info MORE x )\nlog info AFTER x\n",
			status: 1, errAt: 1, errHas: "unknown log level"},
		{name: "log usage", src: "log info\n", status: 1, errAt: 1, errHas: "usage: log LEVEL CODE"},
		{name: "logcmd", src: `logcmd LK_WARN CMD sh -c 'echo one; echo two >&2; exit 3'
log info STATUS $?
logcmd error OK echo fine
log info STATUS $?
logcmd info NF ark-no-such-command
log info STATUS $?
`, logs: []string{"WARN CMD one", "WARN CMD two", "INFO STATUS 3", "ERROR OK fine", "INFO STATUS 0",
			"INFO NF ark-no-such-command: command not found", "INFO STATUS 127"}},
		{name: "logcmd bad level", src: "logcmd loud X true\n", status: 1, errAt: 1, errHas: "unknown log level"},
		{name: "stdout", src: "echo hello world\nsh -c 'echo from child'\nprintf '%s-%d\\n' a 1\n",
			logs: []string{"INFO stdout hello world", "INFO stdout from child", "INFO stdout a-1"}},
		{name: "stderr", src: "echo oops >&2\nsh -c 'echo child >&2'\n",
			logs: []string{"INFO stderr oops", "INFO stderr child"}},
		{name: "dev stderr is the script's", src: "echo to-stderr > /dev/stderr\nsh -c 'echo child-stderr' > /dev/stderr\n",
			logs: []string{"INFO stderr to-stderr", "INFO stderr child-stderr"}},
		{name: "arguments", args: []string{"-t", "web", "-i", "web id"}, src: `log info ARGC $#
for a in "$@"; do log info ARG "$a"; done
while getopts t:i: o; do log info OPT "$o=$OPTARG"; done
`, logs: []string{"INFO ARGC 4", "INFO ARG -t", "INFO ARG web", "INFO ARG -i", "INFO ARG web id", "INFO OPT t=web", "INFO OPT i=web id"}},
		{name: "environment", env: map[string]string{"PARAM_X": "42"}, src: `log info ENV "$TAG $ID $ACTION $PARAM_X"
log info CMDENV "$(sh -c 'echo "$TAG $PARAM_X"')"
log info CMDHOME "$(sh -c 'echo "${HOME-unset}"')"
export NEW=new
log info EXPORTED "$(sh -c 'echo "$NEW"')"
LOCAL=local
log info UNEXPORTED "$(sh -c 'echo "${LOCAL-unset}"')"
`, logs: []string{"INFO ENV web web-id restore 42", "INFO CMDENV web 42", "INFO CMDHOME unset", "INFO EXPORTED new", "INFO UNEXPORTED unset"}},
		{name: "state", src: `log info STATE "$(ark_state web)"
log info STATE "$(ark_state db)"
log info FIELD7 "$(ins_list -t web | cut -d $'\001' -f 7)"
log info LINE "$(ins_list -t web -f :)"
log info OTHER "$(ins_list -t db -f :)"
`, logs: []string{"INFO STATE ISP", "INFO STATE OSU", "INFO FIELD7 ISP", "INFO LINE ark:generic:web:web-id:::ISP", "INFO OTHER ark::db::::OSU"}},
		{name: "state error", src: "s=$(ark_state nope)\nlog info STATE \"$s\"\n", status: 1, errAt: 1, errHas: `no resource "nope"`},
		{name: "ins_list without a tag", src: "ins_list\n", status: 1, errAt: 1, errHas: "ins_list: usage"},
		{name: "errexit", src: "set -e\nlog info BEFORE x\nfalse\nlog info AFTER x\n", status: 1, logs: []string{"INFO BEFORE x"}},
		{name: "exit trap", src: "trap 'log info EXIT \"$?\"' EXIT\nexit 4\n", status: 4, logs: []string{"INFO EXIT 4"}},
		{name: "kill -INT $$ without a trap", src: "trap 'log info EXIT x' EXIT\nlog info BEFORE x\nkill -INT $$\nlog info AFTER x\n",
			status: 130, logs: []string{"INFO BEFORE x", "INFO EXIT x"}},
		{name: "kill -INT $$ with a trap", src: "trap 'n=$((n+1)); log info TRAP \"$n\"' INT\nkill -INT $$\nlog info AFTER \"n=$n\"\nkill -INT $$ && log info AGAIN \"n=$n\"\n",
			logs: []string{"INFO TRAP 1", "INFO AFTER n=1", "INFO TRAP 2", "INFO AGAIN n=2"}},
		{name: "kill -KILL $$", src: "trap 'log info EXIT x' EXIT\nkill -KILL $$\nlog info AFTER x\n", status: 137},
		{name: "ignored signal", src: "trap '' TERM\nkill -TERM $$\nlog info AFTER x\n", logs: []string{"INFO AFTER x"}},
		{name: "signal from a job interrupts wait", src: `trap 'log info TRAP USR1' USR1
(sleep 0.1; kill -USR1 $$) &
sleep 1000 & p=$!
wait $p
log info WAIT $?
kill $p
wait $p
log info KILLED $?
`, logs: []string{"INFO TRAP USR1", "INFO WAIT 138", "INFO KILLED 143"}},
		{name: "kill -0 and kill of a job", src: `sleep 1000 & p=$!
kill -0 $p && log info ALIVE yes
kill $p
wait $p
log info STATUS $?
kill -0 $p 2>/dev/null || log info GONE yes
`, logs: []string{"INFO ALIVE yes", "INFO STATUS 143", "INFO GONE yes"}},
		{name: "wait for a job's status", src: "(sleep 0.05; exit 5) &\nwait $!\nlog info STATUS $?\nsh -c 'exit 6' &\nwait $!\nlog info STATUS $?\n",
			logs: []string{"INFO STATUS 5", "INFO STATUS 6"}},
		{name: "wait -n", src: "sleep 0.05 &\n(sleep 10; exit 3) & slow=$!\nwait -n\nlog info FIRST $?\nkill %2 $slow 2>/dev/null\nwait\nlog info ALL $?\n",
			logs: []string{"INFO FIRST 0", "INFO ALL 0"}},
		{name: "disown", src: "sleep 0.01 & disown\nlog info ST $?\n", logs: []string{"INFO ST 0"}},
		{name: "builtins under set -eu", src: `set -euo pipefail
log info A "$(ark_state web)"
logcmd info B true
echo x | logcmd info C cat
s=$(ins_list -t web -f :)
log info D "$s"
`, logs: []string{"INFO A ISP", "INFO C x", "INFO D ark:generic:web:web-id:::ISP"}},
		{name: "logcmd status under set -e", src: "set -e\nlogcmd info X false\nlog info AFTER x\n", status: 1},
		{name: "pipeline and working directory", src: "cd /tmp\npwd | sed s/tmp/TMP/\nsh -c pwd\n", logs: []string{"INFO stdout /TMP", "INFO stdout /tmp"}},
		{name: "LifeKeeper timeout pattern", src: `handlealarm() { log LK_ERROR 5 "Script was hung."; kill "$app"; exit 1; }
trap handlealarm INT
( sleep 0.1; kill -INT $$ ) >/dev/null 2>&1 &
sleep 1000 & app=$!
wait $app
log info AFTER x
`, status: 1, logs: []string{"ERROR 5 Script was hung."}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			forEach(t, func(t *testing.T, eng interpreters.Engine, cgParent string) {
				res, l := execute(t, eng, c.src, runOpts{args: c.args, env: c.env, cgParent: cgParent})
				if res.Status != c.status {
					t.Errorf("status = %d, want %d (err: %v)", res.Status, c.status, res.Err)
				}
				if got := l.script(); !slices.Equal(trimLocations(got), c.logs) {
					t.Errorf("log lines:\n got  %q\n want %q", got, c.logs)
				}
				switch {
				case c.errAt > 0 || c.errHas != "":
					if res.Err == nil {
						t.Fatalf("no error, want one containing %q", c.errHas)
					}
					if !strings.Contains(res.Err.Error(), c.errHas) {
						t.Errorf("error %q does not contain %q", res.Err, c.errHas)
					}
					if want := fmt.Sprintf("action.sh:%d:", c.errAt); c.errAt > 0 && !strings.Contains(res.Err.Error(), want) {
						t.Errorf("error %q is not at %s", res.Err, want)
					}
				case res.Err != nil:
					t.Errorf("unexpected error: %v", res.Err)
				}
				if res.TimedOut || res.Stuck {
					t.Errorf("timed out %v, stuck %v", res.TimedOut, res.Stuck)
				}
			})
		})
	}
}

// svc returns a program to run as a service: a symlink to sleep whose
// name carries a unique marker, so that /proc shows which processes are
// the test's.
func svc(t *testing.T) (path, mark string) {
	mark = marker(t)
	path = filepath.Join(t.TempDir(), mark)
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(sleep, path); err != nil {
		t.Fatal(err)
	}
	return path, mark
}

// TestBackgroundPid checks that $! is the pid of the service a script
// starts in the background, that the service outlives the script's
// normal end, and that Execute reports it as left running.
func TestBackgroundPid(t *testing.T) {
	forEach(t, func(t *testing.T, eng interpreters.Engine, cgParent string) {
		path, mark := svc(t)
		pidfile := filepath.Join(t.TempDir(), "svc.pid")
		src := `"$SVC" 1000 </dev/null >/dev/null 2>&1 &
echo $! > "$PIDFILE"
log info STARTED "$!"
`
		res, l := execute(t, eng, src, runOpts{cgParent: cgParent, env: map[string]string{"SVC": path, "PIDFILE": pidfile}})
		if res.Status != 0 || res.Err != nil {
			t.Fatalf("status %d, err %v", res.Status, res.Err)
		}
		b, err := os.ReadFile(pidfile)
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatalf("pidfile holds %q, not a pid", b)
		}
		if got := cmdline(pid); !strings.Contains(got, mark) {
			t.Errorf("pid %d from $! runs %q, want the service %s", pid, got, mark)
		}
		if !l.has("STARTED", strconv.Itoa(pid)) {
			t.Errorf("log lines %q lack STARTED %d", l.script(), pid)
		}
		if !slices.Contains(res.Left, pid) {
			t.Errorf("Result.Left = %v, want the service %d", res.Left, pid)
		}
		if pids := markedPids(mark); !slices.Equal(pids, []int{pid}) {
			t.Errorf("running services %v, want [%d] still running after the script ended", pids, pid)
		}
	})
}

// TestKillPolicy: a script may signal a process an earlier action started
// (remove scripts kill the pid in a pidfile), but never init, every
// process (-1) or the daemon; the plugin's own pid means the script.
func TestKillPolicy(t *testing.T) {
	for mode, parent := range modes() {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			path, mark := svc(t)
			foreign := exec.Command(path, "1000")
			if err := foreign.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = foreign.Process.Kill(); _ = foreign.Wait() })

			usr1 := make(chan os.Signal, 1)
			signal.Notify(usr1, syscall.SIGUSR1)
			defer signal.Stop(usr1)

			src := `kill -TERM "$FOREIGN"
log info FOREIGN $?
kill -0 1
log info INIT $?
kill -KILL -- -1
log info ALL $?
kill -0 "$DAEMON"
log info DAEMON $?
kill -USR1 "$HOST"
log info AFTER x
`
			env := map[string]string{"FOREIGN": strconv.Itoa(foreign.Process.Pid), "HOST": strconv.Itoa(os.Getpid()), "DAEMON": strconv.Itoa(os.Getppid())}
			res, l := execute(t, New(), src, runOpts{cgParent: parent, env: env})
			if res.Status != 128+int(syscall.SIGUSR1) {
				t.Errorf("status = %d, want %d: kill of the daemon's pid is kill $$, the script ends", res.Status, 128+int(syscall.SIGUSR1))
			}
			if msg, _ := l.message("FOREIGN"); msg != "0" {
				t.Errorf("kill FOREIGN: status %q, want 0", msg)
			}
			for _, code := range []string{"INIT", "ALL", "DAEMON"} {
				if msg, _ := l.message(code); msg != "1" {
					t.Errorf("kill %s: status %q, want 1", code, msg)
				}
			}
			if l.has("AFTER", "x") {
				t.Errorf("the script went on after kill -USR1 of its own pid")
			}
			refusals := 0
			for _, s := range l.script() {
				if strings.Contains(s, "stderr") && strings.Contains(s, "refused") {
					refusals++
				}
			}
			if refusals != 3 {
				t.Errorf("want 3 refusals on stderr, got lines %q", l.script())
			}
			select {
			case <-usr1:
				t.Errorf("the test process received SIGUSR1")
			case <-time.After(50 * time.Millisecond):
			}
			_ = foreign.Wait()
			if pids := markedPids(mark); len(pids) != 0 {
				t.Errorf("kill -TERM of a process an earlier action started did not stop it: running %v", pids)
			}
		})
	}
}

// TestDeadline stops a script at a 1 s timeout while it waits for a
// foreground process and has a background child, a grandchild, a
// process that ignores SIGTERM and (with a cgroup) one that escaped with
// setsid: all must be gone, and the script's TERM and EXIT traps must
// have run.
func TestDeadline(t *testing.T) {
	forEach(t, func(t *testing.T, eng interpreters.Engine, cgParent string) {
		path, mark := svc(t)
		dir := t.TempDir()
		src := `trap 'echo "term $?" > "$DIR/term"; exit 3' TERM
trap 'echo exit > "$DIR/exit"' EXIT
"$SVC" 1000 &
sh -c '"$SVC" 1000 & wait' &
sh -c 'trap "" TERM; exec "$SVC" 1000' &
if [ -n "$SETSID" ]; then setsid "$SVC" 1000 & fi
log info STARTED x
"$SVC" 1000
log info AFTER x
`
		env := map[string]string{"SVC": path, "DIR": dir}
		if cgParent != "" {
			env["SETSID"] = "1" // without a cgroup, a setsid escape is not caught (proc.Group.Contained)
		}
		res, l := execute(t, eng, src, runOpts{cgParent: cgParent, env: env, timeout: time.Second, grace: time.Second})
		if !res.TimedOut || res.Status != interpreters.StatusTimedOut || res.Err == nil {
			t.Errorf("timed out %v, status %d, err %v; want a timeout", res.TimedOut, res.Status, res.Err)
		}
		if res.Stuck {
			t.Errorf("the engine did not return within the grace period")
		}
		// (bash reports the foreground process killed: "Terminated".)
		if got, want := slices.DeleteFunc(l.script(), func(s string) bool { return s == "INFO stderr Terminated" }), []string{"INFO STARTED x"}; !slices.Equal(got, want) {
			t.Errorf("log lines %q, want %q", got, want)
		}
		// ($? in bash's TERM trap is 143 or, when bash takes the signal
		// before it has the foreground process's status, the one before.)
		for file, want := range map[string]string{"term": "term ", "exit": "exit\n"} {
			b, err := os.ReadFile(filepath.Join(dir, file))
			if err != nil || !strings.HasPrefix(string(b), want) {
				t.Errorf("%s trap: wrote %q (%v), want %q...", file, b, err, want)
			}
		}
		if len(res.Killed) == 0 {
			t.Errorf("Result.Killed is empty: the TERM-ignoring process needed SIGKILL")
		}
		eventually(t, "every process of the script to be gone", func() bool { return len(markedPids(mark)) == 0 })
		if len(res.Survivors) > 0 {
			t.Errorf("survivors %v", res.Survivors)
		}
	})
}

// TestServicesSurviveNormalEnd starts daemons with nohup and setsid: the
// script's normal end leaves them running.
func TestServicesSurviveNormalEnd(t *testing.T) {
	forEach(t, func(t *testing.T, eng interpreters.Engine, cgParent string) {
		path, mark := svc(t)
		src := `nohup "$SVC" 1000 </dev/null >/dev/null 2>&1 &
setsid "$SVC" 1001 </dev/null >/dev/null 2>&1 &
sh -c '"$SVC" 1002 </dev/null >/dev/null 2>&1 &'
sleep 0.2
`
		res, _ := execute(t, eng, src, runOpts{cgParent: cgParent, env: map[string]string{"SVC": path}})
		if res.Status != 0 || res.Err != nil {
			t.Fatalf("status %d, err %v", res.Status, res.Err)
		}
		eventually(t, "three services", func() bool { return len(markedPids(mark)) == 3 })
		time.Sleep(100 * time.Millisecond)
		pids := markedPids(mark)
		if len(pids) != 3 {
			t.Fatalf("services %v, want 3 still running", pids)
		}
		if cgParent != "" {
			for _, p := range pids {
				if !slices.Contains(res.Left, p) {
					t.Errorf("service %d (%s) not in Result.Left %v", p, cmdline(p), res.Left)
				}
			}
		}
	})
}

// trimLocations drops the "file: line N: " that shells put before their
// messages, which name temporary files here.
func trimLocations(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		if j := strings.Index(l, ": line "); j >= 0 {
			if k := strings.Index(l[j+7:], ": "); k >= 0 {
				head := l[:j]
				if sp := strings.LastIndexByte(head, ' '); sp >= 0 {
					l = head[:sp+1] + l[j+7+k+2:]
				}
			}
		}
		out[i] = l
	}
	return out
}
