log info ARGC $#
for a in "$@"; do
  log info ARG "$a"
done
