log info BEFORE looping
n=0
while true; do
  n=$((n + 1))
done
