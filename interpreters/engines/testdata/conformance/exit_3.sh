log info BEFORE exiting
exit 3
log info AFTER "not reached"
