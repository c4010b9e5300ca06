-- quickCheck: healthy when the service echoes a line back. Read-only.
local addr = env.PARAM_ADDR or "127.0.0.1:7102"

if run("ark-echo", "probe", "-addr", addr, "-timeout", "2s") == 0 then
  exit(0)
end
log("LK_WARN", 300, env.TAG .. ": no echo on " .. addr)
exit(1)
