/bin/false
log info END "last line"
