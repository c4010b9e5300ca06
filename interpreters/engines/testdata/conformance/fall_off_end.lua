local ok = run("/bin/false")
log("info", "END", "last line")
