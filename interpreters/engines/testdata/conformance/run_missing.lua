local st = run("ark-no-such-command")
log("info", "STATUS", st)
st = run("/nonexistent/ark-no-such-command")
log("info", "STATUS", st)
