# bash has no retry builtin: a loop does the same.
n=0
result=failed
while [ "$n" -lt 3 ]; do
  n=$((n + 1))
  log info TRY "$n"
  if false; then
    result=ok
    break
  fi
  sleep 0.01
done
log info RESULT "$result"
