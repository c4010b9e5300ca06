exit 1
log info AFTER "not reached"
