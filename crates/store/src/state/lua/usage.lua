-- usage: the used amount of each counter, without writing.
-- ARGV: now, number of counters, then <counter> x n. Returns one integer per counter.
local now = num()
local n = num()
local out = {}
for i = 1, n do
  local c = counter()
  if c.kind == 'w' then
    local h = redis.call('HGETALL', c.key)
    local sum = 0
    for k = 1, #h, 2 do
      if tonumber(h[k]) > c.cur - c.nb then sum = sum + tonumber(h[k + 1]) end
    end
    out[i] = sum
  elseif c.kind == 'l' then
    out[i] = redis.call('ZCOUNT', c.key, '(' .. s(now), '+inf')
  else
    out[i] = tonumber(redis.call('GET', c.key) or '0')
  end
end
return out
