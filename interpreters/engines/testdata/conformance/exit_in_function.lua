local function inner()
  exit(7)
  log("info", "AFTER", "exit in inner")
end

local function outer()
  inner()
  log("info", "AFTER", "inner returned")
end

log("info", "BEFORE", "calling")
outer()
log("info", "AFTER", "outer returned")
