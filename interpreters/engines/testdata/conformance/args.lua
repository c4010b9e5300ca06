log("info", "ARGC", #arg)
for i = 1, #arg do
  log("info", "ARG", arg[i])
end
