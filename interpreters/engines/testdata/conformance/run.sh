errfile=$(mktemp)
out=$(/bin/sh -c 'echo out; echo err >&2; exit 5' 2>"$errfile")
log info STATUS $?
log info STDOUT "$out"
log info STDERR "$(cat "$errfile")"
rm -f "$errfile"
/bin/sh -c 'exit "$1"' sh 7
log info STATUS $?
