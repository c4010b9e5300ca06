local s = state("nope") -- ERROR-HERE
log("info", "STATE", s)
