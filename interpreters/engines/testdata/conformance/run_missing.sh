ark-no-such-command 2>/dev/null
log info STATUS $?
/nonexistent/ark-no-such-command 2>/dev/null
log info STATUS $?
