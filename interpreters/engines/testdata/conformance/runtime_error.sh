# In bash a builtin called wrongly is the runtime error every engine
# reports with its line (the interpreter's own errors, like an unbound
# variable under set -u, carry no line).
f() {
  ark_state # ERROR-HERE
}

log info BEFORE calling
f
log info AFTER "not reached"
