local function f()
  local t = nil
  return t.x -- ERROR-HERE
end

log("info", "BEFORE", "calling")
f()
log("info", "AFTER", "not reached")
