log info BEFORE "bad level next"
log LK_LOUD X "no such level" # ERROR-HERE
log info AFTER "not reached"
