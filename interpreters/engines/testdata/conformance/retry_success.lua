local n = 0
local ok = retry(5, 0.01, function()
  n = n + 1
  log("info", "TRY", n)
  return n == 3
end)
if ok then
  log("info", "RESULT", "ok")
else
  log("info", "RESULT", "failed")
end
