local n = 0
local ok = retry(3, 0.01, function()
  n = n + 1
  log("info", "TRY", n)
  return false
end)
if ok then
  log("info", "RESULT", "ok")
else
  log("info", "RESULT", "failed")
end
