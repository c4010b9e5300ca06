log("info", "STATE", state("web"))
log("info", "STATE", state("db"))
