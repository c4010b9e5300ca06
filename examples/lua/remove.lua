-- remove: stop the echo service. Succeed if it already is stopped.
local addr = env.PARAM_ADDR or "127.0.0.1:7102"
local pidfile = env.PARAM_PIDFILE or ("/tmp/ark-echo-" .. env.TAG .. ".pid")

local status, pid = run("cat", pidfile)
if status ~= 0 then
  if run("ark-echo", "probe", "-addr", addr) == 0 then
    log("LK_ERROR", 201, env.TAG .. ": answers on " .. addr .. " but " .. pidfile .. " is missing")
    exit(1)
  end
  log("LK_INFO", 200, env.TAG .. ": already stopped")
  exit(0)
end
pid = pid:gsub("%s+", "")

run("kill", "-TERM", pid)
local gone = retry(10, 0.2, function() return run("kill", "-0", pid) ~= 0 end)
if not gone then
  log("LK_WARN", 203, env.TAG .. ": pid " .. pid .. " ignored SIGTERM; killing it")
  run("kill", "-KILL", pid)
end
run("rm", "-f", pidfile)
log("LK_INFO", 202, env.TAG .. ": stopped (factor " .. (env.ARK_FACTOR or "?") .. ")")
