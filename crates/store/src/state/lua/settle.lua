-- settle: apply signed corrections once per settlement id.
-- KEYS[1] is the settlement marker; counter keys follow.
-- ARGV: now, marker ttl ms, number of adjustments, then per adjustment
--   A delta <counter>                                      add delta
--   R <lease counter>                                      release a lease
--   S actual ntiers { limit reserved <counter> } x ntiers  respill a cascade
-- Returns {1, amounts} the first time, {0, amounts} after; amounts is the text
-- "a,b;c;..." (one group per adjustment) stored in the marker.
ki = 1
local now = num()
local marker_ttl = num()
local existing = redis.call('GET', KEYS[1])
if existing then return { 0, existing } end
local n = num()
local groups = {}
for i = 1, n do
  local kind = arg()
  if kind == 'A' then
    local delta = num()
    local c = counter()
    groups[i] = s(add(c, delta, now))
  elseif kind == 'R' then
    local c = counter()
    redis.call('ZREM', c.key, c.id)
    groups[i] = ''
  else
    local rem = num()
    local ntiers = num()
    local takes = {}
    for j = 1, ntiers do
      local limit = num()
      local reserved = num()
      local c = counter()
      local used = math.max(used_of(c, now) - reserved, 0)
      local take = rem
      if j < ntiers then take = math.min(math.max(limit - used, 0), rem) end
      rem = rem - take
      add(c, take - reserved, now)
      takes[j] = s(take)
    end
    groups[i] = table.concat(takes, ',')
  end
end
local result = table.concat(groups, ';')
redis.call('SET', KEYS[1], result, 'PX', s(marker_ttl))
return { 1, result }
