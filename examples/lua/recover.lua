-- recover: restart the service in place after a failed quickCheck.
local addr = env.PARAM_ADDR or "127.0.0.1:7102"
local pidfile = env.PARAM_PIDFILE or ("/tmp/ark-echo-" .. env.TAG .. ".pid")

log("LK_WARN", 400, env.TAG .. ": restarting the echo service in place")
local status, pid = run("cat", pidfile)
if status == 0 then
  run("kill", "-KILL", (pid:gsub("%s+", "")))
  run("rm", "-f", pidfile)
end
run("sh", "-c", 'nohup ark-echo serve -addr "$1" -pidfile "$2" >/dev/null 2>&1 &', "sh", addr, pidfile)
if retry(10, 0.2, function() return run("ark-echo", "probe", "-addr", addr) == 0 end) then
  log("LK_INFO", 401, env.TAG .. ": recovered")
  exit(0)
end
log("LK_ERROR", 402, env.TAG .. ": still no answer after restart")
exit(1)
