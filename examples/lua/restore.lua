-- restore: start the echo service. If it already answers, succeed without
-- starting a second copy (lkstop -f / lkstart must not double-start it).
local addr = env.PARAM_ADDR or "127.0.0.1:7102"
local pidfile = env.PARAM_PIDFILE or ("/tmp/ark-echo-" .. env.TAG .. ".pid")

local function answers()
  return run("ark-echo", "probe", "-addr", addr) == 0
end

if answers() then
  log("LK_INFO", 100, env.TAG .. ": already running on " .. addr)
  exit(0)
end

-- The service outlives this script: sh starts it in the background and exits.
run("sh", "-c", 'nohup ark-echo serve -addr "$1" -pidfile "$2" >/dev/null 2>&1 &', "sh", addr, pidfile)

if retry(10, 0.2, answers) then
  log("LK_INFO", 101, env.TAG .. ": started on " .. addr .. " (event " .. (env.ARK_EVENT or "?") .. ")")
  exit(0)
end
log("LK_ERROR", 102, env.TAG .. ": no answer on " .. addr .. " after start")
exit(1)
