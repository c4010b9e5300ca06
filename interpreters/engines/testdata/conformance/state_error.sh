s=$(ark_state nope) # ERROR-HERE
log info STATE "$s"
