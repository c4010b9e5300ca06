# A child and a grandchild that both ignore SIGTERM: the deadline must
# still kill them.
log info BEFORE starting
/bin/bash -c 'trap "" TERM; (exec -a "$MARKER-grandchild" sleep 1000) & exec -a "$MARKER-child" sleep 1000'
log info AFTER "not reached"
