-- A different filtered, sorted page per request over 100,000 spools, so no reply is reused.
local sorts = {"remaining_weight:desc", "last_used:desc", "filament.name:asc,id:desc", "used_weight:asc"}
math.randomseed(42)
request = function()
  local path = string.format("/api/v1/spool?filament.material=%s&location=Rack%%20%d&sort=%s&limit=50&offset=%d",
    math.random(2) == 1 and "PLA" or "PETG", math.random(0, 99), sorts[math.random(#sorts)], math.random(0, 10) * 50)
  return wrk.format("GET", path)
end
