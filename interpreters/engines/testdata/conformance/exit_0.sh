exit 0
log info AFTER "not reached"
