-- GET /spool/group or GET /search over 100,000 spools, a different query per request so that no
-- reply comes from the list cache (which keeps a reply until the next write):
--   wrk -t1 -c1 -d10s --latency -s bench/group.lua URL -- location|filament|search
local mode
init = function(args) mode = args[1] end
math.randomseed(42)
local words = {"rack", "polyterra", "petg", "black", "polymaker", "l12", "pla"}
request = function()
  if mode == "search" then
    return wrk.format("GET", string.format("/api/v1/search?q=%s%%20%d&limit=%d&spools_per_filament=%d",
      words[math.random(#words)], math.random(0, 99), math.random(10, 100), math.random(0, 3)))
  end
  -- the limit only pages the groups: every request aggregates all 100,000 spools again
  return wrk.format("GET", string.format("/api/v1/spool/group?group_by=%s&limit=%d&sort=%s", mode,
    math.random(10, 200), math.random(2) == 1 and "group.spool_count:desc" or "group.title:asc"))
end
