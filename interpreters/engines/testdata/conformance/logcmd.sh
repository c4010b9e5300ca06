logcmd LK_WARN CMD /bin/sh -c 'echo one; echo two >&2; exit 3'
log info STATUS $?
logcmd error OK echo fine
log info STATUS $?
