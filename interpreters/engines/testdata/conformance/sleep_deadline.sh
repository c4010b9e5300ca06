log info BEFORE sleeping
sleep 1000
log info AFTER "not reached"
