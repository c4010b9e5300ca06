inner() {
  exit 7
  log info AFTER "exit in inner"
}

outer() {
  inner
  log info AFTER "inner returned"
}

log info BEFORE calling
outer
log info AFTER "outer returned"
